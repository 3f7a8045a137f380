// Transparency log checkpoints: the text of a log's signed tree head.
//
//   https://c2sp.org/tlog-checkpoint
//
//   <origin>\n                 the log's identity; non-empty (Concord: the log key's name)
//   <tree size>\n              ASCII decimal, no leading zeros ("0" for the empty tree)
//   <root hash>\n              standard padded base64 of the 32-byte RFC 6962 root
//   [<extension line>\n]…      optional, non-empty, opaque (Concord writes none)
//
//   example.com/behind-the-sofa
//   20852163
//   CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
//
//   — example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
//
// A checkpoint is the text of a signed note (c2sp.org/signed-note, see note.ts)
// signed by the log key, whose name equals the origin; other signature lines
// (witness cosignatures, see cosignature.ts) are ignored here.
//
// Strict: sizes are canonical decimals ≤ 2^53 − 1 (every size is exact in a JS
// number), the root is canonical base64 of exactly 32 bytes, no line is empty, the
// text holds no control character but newline, and the text ends in a newline, so
// formatCheckpoint(parseCheckpoint(t)) === t. The origin is otherwise opaque, as the
// spec says clients must not assume its form; openCheckpoint pins it to the log key's
// name, which is a valid signed-note key name.

import { fromBase64, isUint, parseDecimal, toBase64 } from './bytes.js';
import { ConcordError } from './errors.js';
import { MAX_NOTE_SIZE, isWellFormedText, openNote } from './note.js';
import type { OpenedNote, Verifier } from './note.js';

export type CheckpointErrorCode = 'malformed-checkpoint' | 'bad-origin' | 'bad-size' | 'bad-root';

/**
 * A checkpoint text or value is invalid.
 * - malformed-checkpoint: not newline-terminated, fewer than three lines, an empty
 *   extension line, a control character, or too long;
 * - bad-origin: empty origin, or not the expected origin / log key name;
 * - bad-size: tree size not a canonical decimal in [0, 2^53 − 1];
 * - bad-root: root not canonical base64 of exactly 32 bytes.
 */
export class CheckpointError extends ConcordError<CheckpointErrorCode> {
  override readonly name = 'CheckpointError';
}

export interface Checkpoint {
  origin: string;
  size: number;
  /** The RFC 6962 root hash, 32 bytes. */
  root: Uint8Array;
  /** Extension lines, without newlines; Concord writes none. */
  extensions: string[];
}

/** A checkpoint whose note carries a valid signature by the log key. */
export interface SignedCheckpoint {
  checkpoint: Checkpoint;
  /** The whole signed note, as received (a copy). */
  note: Uint8Array;
  /** The opened note: `verified` holds the log's line(s), `unverified` every other line (e.g. cosignatures). */
  opened: OpenedNote;
}

const ROOT_SIZE = 32;
const CONTROL_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f]/;

/** Is line usable as one checkpoint line: a well-formed string, non-empty, no control characters? */
function isLine(line: unknown): line is string {
  return isWellFormedText(line) && line.length > 0 && !line.includes('\n') && !CONTROL_BUT_NEWLINE.test(line);
}

/** Parses a checkpoint note text (the body, without signatures). Throws CheckpointError. */
export function parseCheckpoint(text: string): Checkpoint {
  if (!isWellFormedText(text)) throw new CheckpointError('malformed-checkpoint', 'checkpoint text is not a well-formed string');
  if (text.length > MAX_NOTE_SIZE) throw new CheckpointError('malformed-checkpoint', 'checkpoint text is too long');
  if (!text.endsWith('\n')) throw new CheckpointError('malformed-checkpoint', 'checkpoint text must end in a newline');
  if (CONTROL_BUT_NEWLINE.test(text)) throw new CheckpointError('malformed-checkpoint', 'checkpoint holds a control character');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw new CheckpointError('malformed-checkpoint', 'checkpoint needs origin, size and root lines');
  const [origin, sizeLine, rootLine] = lines as [string, string, string];
  if (origin.length === 0) throw new CheckpointError('bad-origin', 'empty origin');
  let size: number;
  try {
    size = parseDecimal(sizeLine);
  } catch (cause) {
    throw new CheckpointError('bad-size', 'tree size is not a canonical decimal ≤ 2^53 − 1', { cause });
  }
  let root: Uint8Array;
  try {
    root = fromBase64(rootLine, ROOT_SIZE);
  } catch (cause) {
    throw new CheckpointError('bad-root', 'root hash is not canonical base64 of 32 bytes', { cause });
  }
  const extensions = lines.slice(3);
  if (extensions.some((e) => e.length === 0)) throw new CheckpointError('malformed-checkpoint', 'empty extension line');
  return { origin, size, root, extensions };
}

/** Encodes a checkpoint text; the inverse of parseCheckpoint. Throws CheckpointError. */
export function formatCheckpoint(c: Checkpoint): string {
  if (!isLine(c.origin)) throw new CheckpointError('bad-origin', 'origin must be a non-empty line');
  if (!isUint(c.size)) throw new CheckpointError('bad-size', 'tree size must be an integer in [0, 2^53 − 1]');
  if (!(c.root instanceof Uint8Array) || c.root.length !== ROOT_SIZE) throw new CheckpointError('bad-root', 'root must be 32 bytes');
  if (!Array.isArray(c.extensions) || !c.extensions.every(isLine)) {
    throw new CheckpointError('malformed-checkpoint', 'extension lines must be non-empty lines');
  }
  const text = [c.origin, String(c.size), toBase64(c.root), ...c.extensions].join('\n') + '\n';
  if (text.length > MAX_NOTE_SIZE) throw new CheckpointError('malformed-checkpoint', 'checkpoint text is too long');
  return text;
}

/**
 * Opens a signed checkpoint of the log `origin`: the log key must be named `origin`
 * and must have signed the note; the text must be a checkpoint with that origin.
 * Throws NoteError (the note: malformed, unsigned by the log key, bad signature)
 * or CheckpointError (the text, or an origin mismatch).
 */
export function openCheckpoint(msg: Uint8Array, logVerifier: Verifier, origin: string): SignedCheckpoint {
  if (logVerifier.name !== origin) {
    throw new CheckpointError('bad-origin', `log key name ${JSON.stringify(logVerifier.name)} is not the origin ${JSON.stringify(origin)}`);
  }
  const opened = openNote(msg, [logVerifier]);
  const checkpoint = parseCheckpoint(opened.text);
  if (checkpoint.origin !== origin) {
    throw new CheckpointError('bad-origin', `checkpoint origin ${JSON.stringify(checkpoint.origin)} is not ${JSON.stringify(origin)}`);
  }
  return { checkpoint, note: msg.slice(), opened };
}
