// Offline inclusion proofs: an entry's index, its RFC 6962 inclusion proof and
// the (cosigned) checkpoint it is proven against, in one text.
//
//   https://c2sp.org/tlog-proof   (c2sp.org/tlog-proof@v1)
//
//   c2sp.org/tlog-proof@v1
//   [extra <base64 opaque data>]          optional, unauthenticated
//   index <decimal, no leading zeros>
//   <base64 hash>                         zero or more: inclusion proof, leaf's sibling first
//   …
//                                         (empty line)
//   example.com/fancylog                  the checkpoint note, verbatim (signatures and
//   109482                                witness cosignatures included)
//   sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=
//
//   — example.com/fancylog hI2DJw…
//   — witness1.example mJirIk…
//
// Strict: every line is canonical (decimal index ≤ 2^53 − 1, standard padded
// base64 that re-encodes to itself, exactly 32-byte hashes, at most 63 of
// them), the extra line, when present, carries at least one byte (an absent
// extra is an omitted line, so each proof has one encoding), and the checkpoint
// must parse as a signed note. formatProof(parseProof(b)) equals b.
//
// parseProof checks structure only. verifyProof opens the checkpoint with the
// log key and checks the inclusion of a leaf hash; witness cosignatures are
// the caller's business (cosignature.ts), because which witnesses count is a
// policy decision (DESIGN.md "Device acceptance").

import { EncodingError, fromBase64, fromUtf8, parseDecimal, toBase64, utf8, isUint, concatBytes } from './bytes.js';
import { CheckpointError, openCheckpoint } from './checkpoint.js';
import type { SignedCheckpoint } from './checkpoint.js';
import { ConcordError } from './errors.js';
import { HASH_SIZE, MerkleError, verifyInclusion } from './merkle.js';
import type { Hash } from './merkle.js';
import { MAX_NOTE_SIZE, NoteError, parseNote } from './note.js';
import type { Verifier } from './note.js';

export const PROOF_HEADER = 'c2sp.org/tlog-proof@v1';

/** Most inclusion-proof hashes: a tree below 2^53 leaves needs at most 53; 63 as in tlog-witness. */
export const MAX_PROOF_HASHES = 63;

/** Largest extra data, in bytes (opaque, unauthenticated context). */
export const MAX_EXTRA_SIZE = 4096;

/** Largest proof text, in bytes: header, extra, index, hashes, blank line and a maximal note. */
export const MAX_PROOF_SIZE = 64 + 8 + Math.ceil(MAX_EXTRA_SIZE / 3) * 4 + 32 + MAX_PROOF_HASHES * 45 + 1 + MAX_NOTE_SIZE;

export type ProofErrorCode = 'malformed-proof' | 'too-large' | 'bad-checkpoint' | 'not-included';

/**
 * - malformed-proof: not UTF-8, a wrong header, a non-canonical index, extra or hash line,
 *   too many hashes, no blank line, or a checkpoint that is not a signed note;
 * - too-large: the proof exceeds MAX_PROOF_SIZE bytes or its extra MAX_EXTRA_SIZE;
 * - bad-checkpoint: the checkpoint is not signed by the log key, or is not a checkpoint of the origin;
 * - not-included: the inclusion proof does not lead from the leaf to the checkpoint's root.
 */
export class ProofError extends ConcordError<ProofErrorCode> {
  override readonly name = 'ProofError';
}

export interface TlogProof {
  /** Opaque, unauthenticated extra data (absent when the line is omitted; never empty). */
  extra?: Uint8Array;
  index: number;
  /** RFC 6962 inclusion proof, leaf's sibling first. */
  proof: Hash[];
  /** The checkpoint note, verbatim (with its cosignatures). */
  checkpoint: Uint8Array;
}

function malformed(message: string, cause?: unknown): never {
  throw new ProofError('malformed-proof', message, cause === undefined ? undefined : { cause });
}

/** Encodes a proof. Throws ProofError for values that have no canonical encoding. */
export function formatProof(p: TlogProof): Uint8Array {
  if (!isUint(p.index)) malformed('index must be an integer in [0, 2^53 − 1]');
  if (!Array.isArray(p.proof) || p.proof.length > MAX_PROOF_HASHES) malformed(`a proof has at most ${MAX_PROOF_HASHES} hashes`);
  let head = PROOF_HEADER + '\n';
  if (p.extra !== undefined) {
    if (!(p.extra instanceof Uint8Array) || p.extra.length === 0) malformed('extra data, when present, is at least one byte');
    if (p.extra.length > MAX_EXTRA_SIZE) throw new ProofError('too-large', `extra data above ${MAX_EXTRA_SIZE} bytes`);
    head += `extra ${toBase64(p.extra)}\n`;
  }
  head += `index ${p.index}\n`;
  for (const h of p.proof) {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) malformed('proof hashes are 32 bytes');
    head += toBase64(h) + '\n';
  }
  head += '\n';
  if (!(p.checkpoint instanceof Uint8Array)) malformed('checkpoint must be the note bytes');
  try {
    parseNote(p.checkpoint);
  } catch (e) {
    if (e instanceof NoteError) malformed(`checkpoint: ${e.message}`, e);
    throw e;
  }
  return concatBytes(utf8(head), p.checkpoint);
}

/** Parses a proof (structure only; see verifyProof). Throws ProofError only. */
export function parseProof(input: Uint8Array | string): TlogProof {
  let s: string;
  if (typeof input === 'string') {
    s = input;
    if (s.length > MAX_PROOF_SIZE) throw new ProofError('too-large', `proof above ${MAX_PROOF_SIZE} bytes`);
  } else {
    if (!(input instanceof Uint8Array)) malformed('proof must be bytes or a string');
    if (input.length > MAX_PROOF_SIZE) throw new ProofError('too-large', `proof is ${input.length} bytes, above ${MAX_PROOF_SIZE}`);
    try {
      s = fromUtf8(input);
    } catch (e) {
      if (e instanceof EncodingError) malformed('proof is not UTF-8', e);
      throw e;
    }
  }
  const bytes = utf8(s);
  if (bytes.length > MAX_PROOF_SIZE) throw new ProofError('too-large', `proof above ${MAX_PROOF_SIZE} bytes`);
  const blank = s.indexOf('\n\n');
  if (blank < 0) malformed('no blank line before the checkpoint');
  const lines = s.slice(0, blank).split('\n');
  const noteText = s.slice(blank + 2);
  let i = 0;
  if (lines[i++] !== PROOF_HEADER) malformed(`first line must be ${PROOF_HEADER}`);
  let extra: Uint8Array | undefined;
  if (lines[i]?.startsWith('extra ')) {
    try {
      extra = fromBase64(lines[i]!.slice(6));
    } catch (e) {
      malformed('extra is not canonical base64', e);
    }
    if (extra.length === 0) malformed('an empty extra is written by omitting the line');
    if (extra.length > MAX_EXTRA_SIZE) throw new ProofError('too-large', `extra data above ${MAX_EXTRA_SIZE} bytes`);
    i++;
  }
  const indexLine = lines[i++];
  if (indexLine === undefined || !indexLine.startsWith('index ')) malformed('missing index line');
  let index: number;
  try {
    index = parseDecimal(indexLine.slice(6));
  } catch (e) {
    malformed('index is not a canonical decimal ≤ 2^53 − 1', e);
  }
  const hashes: Hash[] = [];
  for (; i < lines.length; i++) {
    if (hashes.length >= MAX_PROOF_HASHES) malformed(`more than ${MAX_PROOF_HASHES} proof hashes`);
    try {
      hashes.push(fromBase64(lines[i]!, HASH_SIZE));
    } catch (e) {
      malformed(`proof line ${hashes.length + 1} is not canonical base64 of 32 bytes`, e);
    }
  }
  const checkpoint = utf8(noteText);
  try {
    parseNote(checkpoint);
  } catch (e) {
    if (e instanceof NoteError) malformed(`checkpoint: ${e.message}`, e);
    throw e;
  }
  const out: TlogProof = { index, proof: hashes, checkpoint };
  if (extra !== undefined) out.extra = extra;
  return out;
}

/**
 * Verifies that `leaf` (an RFC 6962 leaf hash) is entry `p.index` of the tree
 * of p's checkpoint, and that the checkpoint is signed by `log` for `origin`.
 * Returns the opened checkpoint (its cosignatures unchecked). Throws ProofError:
 * bad-checkpoint or not-included.
 */
export function verifyProof(p: TlogProof, leaf: Hash, log: Verifier, origin: string): SignedCheckpoint {
  let cp: SignedCheckpoint;
  try {
    cp = openCheckpoint(p.checkpoint, log, origin);
  } catch (e) {
    if (e instanceof NoteError || e instanceof CheckpointError) throw new ProofError('bad-checkpoint', `checkpoint: ${e.message}`, { cause: e });
    throw e;
  }
  verifyProofAgainst(p, leaf, cp.checkpoint);
  return cp;
}

/**
 * Checks only the inclusion of `leaf` at p.index in the tree (size, root), e.g.
 * a checkpoint the caller has already opened. Throws ProofError('not-included').
 */
export function verifyProofAgainst(p: TlogProof, leaf: Hash, tree: { size: number; root: Hash }): void {
  try {
    verifyInclusion(leaf, p.index, tree.size, p.proof, tree.root);
  } catch (e) {
    if (e instanceof MerkleError) throw new ProofError('not-included', `entry ${p.index}: ${e.message}`, { cause: e });
    throw e;
  }
}
