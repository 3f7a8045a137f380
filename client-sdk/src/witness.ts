// The tlog-witness add-checkpoint request and response formats.
//
//   https://c2sp.org/tlog-witness   (the main text: same size with a different root is 422)
//
//   POST /add-checkpoint
//
//   old 15\n                                          previous size, canonical decimal
//   PlRNmcRoRk0dVA7HGTd6jlGcBF+TqqY/HbxCzpEsXSw=\n    0..63 consistency proof hashes,
//   ...                                                 canonical base64 of 32 bytes each
//   \n                                                  blank line
//   example.com/behind-the-sofa\n                      the signed checkpoint note
//   20852163\n
//   CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n
//   \n
//   — example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n
//
//   200 OK         one or more note signature lines (the witness's cosignatures):
//                  — witness.example/w1 base64(keyID ‖ u64be(time) ‖ sig)\n
//   409 Conflict   Content-Type: text/x.tlog.size, body "<the witness's latest size>\n"
//   400 / 403 / 404 / 422   see the server (verifier/src/witness); bodies are free text.
//
// A 64-hash proof is never needed for sizes below 2^63, hence the spec's cap of 63
// lines. Parsers are strict and canonical so each request has one encoding; the
// checkpoint note is checked for structure only (signed-note and tlog-checkpoint
// syntax) — its signatures are the server's business.

import { EncodingError, concatBytes, fromBase64, fromUtf8, isUint, parseDecimal, toBase64, utf8 } from './bytes.js';
import { ConcordError } from './errors.js';
import { CheckpointError, parseCheckpoint } from './checkpoint.js';
import type { Checkpoint } from './checkpoint.js';
import { MAX_NOTE_SIZE, NoteError, formatNote, noteSignature, parseNote } from './note.js';
import type { NoteSignature } from './note.js';

export type WitnessErrorCode = 'malformed-request' | 'malformed-response' | 'too-large' | 'too-many-proof-lines';

/**
 * An add-checkpoint request or response is unusable.
 * - malformed-request: the body is not `old N`, proof lines, blank line, a signed
 *   checkpoint note (non-canonical numbers or base64, wrong hash length, bad UTF-8 …);
 * - malformed-response: a 200 body is not 1..MAX_SIGNATURES signature lines, or a
 *   409 body is not one canonical decimal and a newline;
 * - too-large: a body exceeds its byte cap;
 * - too-many-proof-lines: more than MAX_PROOF_LINES proof hashes.
 */
export class WitnessError extends ConcordError<WitnessErrorCode> {
  override readonly name = 'WitnessError';
}

export const ADD_CHECKPOINT_PATH = '/add-checkpoint';
/** The media type of a 409 body. */
export const TREE_SIZE_CONTENT_TYPE = 'text/x.tlog.size';
/** The spec's cap: a consistency proof for sizes < 2^63 has at most 63 hashes. */
export const MAX_PROOF_LINES = 63;
/** `old ` + 16 digits, 63 proof lines of 45 bytes, the blank line, a maximal note. */
export const MAX_REQUEST_SIZE = 32 + MAX_PROOF_LINES * 45 + 1 + MAX_NOTE_SIZE;
/** A cosignature response: a few signature lines; 64 KiB is far above any honest answer. */
export const MAX_RESPONSE_SIZE = 64 * 1024;
/** A 409 body: at most 16 digits and a newline. */
export const MAX_SIZE_BODY = 17;

const HASH_SIZE = 32;

export interface AddCheckpointRequest {
  /** The size of the checkpoint the client believes the witness last saw (0: none). */
  oldSize: number;
  /** The RFC 9162 consistency proof from oldSize to the checkpoint's size. */
  proof: Uint8Array[];
  /** The signed checkpoint note, bytes as sent. */
  checkpoint: Uint8Array;
}

/** A parsed request, with the checkpoint's text and body parsed (not verified). */
export interface ParsedAddCheckpointRequest extends AddCheckpointRequest {
  /** The parsed checkpoint body (origin, size, root). */
  parsed: Checkpoint;
  /** The checkpoint note text (signed by the log), ending in a newline. */
  text: string;
}

function bad(code: WitnessErrorCode, message: string, cause?: unknown): WitnessError {
  return new WitnessError(code, message, cause === undefined ? undefined : { cause });
}

/** Structure of a checkpoint note: parseNote + parseCheckpoint, errors as WitnessError. */
function checkNote(note: Uint8Array): { text: string; parsed: Checkpoint } {
  try {
    const n = parseNote(note);
    return { text: n.text, parsed: parseCheckpoint(n.text) };
  } catch (cause) {
    if (cause instanceof NoteError || cause instanceof CheckpointError) {
      throw bad('malformed-request', `checkpoint: ${cause.message}`, cause);
    }
    throw cause;
  }
}

/** Encodes an add-checkpoint body. Throws WitnessError. */
export function formatAddCheckpointRequest(req: AddCheckpointRequest): Uint8Array {
  if (!isUint(req.oldSize)) throw bad('malformed-request', 'old size must be an integer in [0, 2^53 − 1]');
  if (!Array.isArray(req.proof)) throw bad('malformed-request', 'proof must be an array');
  if (req.proof.length > MAX_PROOF_LINES) throw bad('too-many-proof-lines', `${req.proof.length} proof hashes, limit ${MAX_PROOF_LINES}`);
  const lines = [`old ${req.oldSize}`];
  for (const h of req.proof) {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) throw bad('malformed-request', 'proof hashes must be 32 bytes');
    lines.push(toBase64(h));
  }
  if (!(req.checkpoint instanceof Uint8Array)) throw bad('malformed-request', 'checkpoint must be bytes');
  checkNote(req.checkpoint);
  const out = concatBytes(utf8(lines.join('\n') + '\n\n'), req.checkpoint);
  if (out.length > MAX_REQUEST_SIZE) throw bad('too-large', `request is ${out.length} bytes, limit ${MAX_REQUEST_SIZE}`);
  return out;
}

/**
 * Parses an add-checkpoint body strictly: `old N` with N a canonical decimal, 0..63
 * proof lines of canonical base64 32-byte hashes, one blank line, then a note that
 * parses as a signed checkpoint. Throws WitnessError only.
 */
export function parseAddCheckpointRequest(body: Uint8Array): ParsedAddCheckpointRequest {
  if (!(body instanceof Uint8Array)) throw bad('malformed-request', 'body must be bytes');
  if (body.length > MAX_REQUEST_SIZE) throw bad('too-large', `request is ${body.length} bytes, limit ${MAX_REQUEST_SIZE}`);
  // The header (before the blank line) is ASCII, so byte offsets equal string offsets.
  let pos = 0;
  const nextLine = (): string => {
    const nl = body.indexOf(0x0a, pos);
    if (nl < 0 || nl - pos > 64) throw bad('malformed-request', 'header line missing, unterminated or too long');
    let line: string;
    try {
      line = fromUtf8(body.subarray(pos, nl));
    } catch (cause) {
      if (cause instanceof EncodingError) throw bad('malformed-request', 'header line is not UTF-8', cause);
      throw cause;
    }
    if (!/^[\x20-\x7e]*$/.test(line)) throw bad('malformed-request', 'header line is not printable ASCII');
    pos = nl + 1;
    return line;
  };
  const first = nextLine();
  if (!first.startsWith('old ')) throw bad('malformed-request', 'first line must be "old <size>"');
  let oldSize: number;
  try {
    oldSize = parseDecimal(first.slice(4));
  } catch (cause) {
    throw bad('malformed-request', 'old size is not a canonical decimal ≤ 2^53 − 1', cause);
  }
  const proof: Uint8Array[] = [];
  for (;;) {
    const line = nextLine();
    if (line === '') break;
    if (proof.length === MAX_PROOF_LINES) throw bad('too-many-proof-lines', `more than ${MAX_PROOF_LINES} proof hashes`);
    try {
      proof.push(fromBase64(line, HASH_SIZE));
    } catch (cause) {
      throw bad('malformed-request', 'proof line is not canonical base64 of 32 bytes', cause);
    }
  }
  const checkpoint = body.slice(pos);
  if (checkpoint.length === 0) throw bad('malformed-request', 'no checkpoint after the blank line');
  const { text, parsed } = checkNote(checkpoint);
  return { oldSize, proof, checkpoint, text, parsed };
}

/** Encodes a 200 body: the signature lines, each ending in a newline. Throws WitnessError. */
export function formatCosignatureResponse(sigs: readonly NoteSignature[]): Uint8Array {
  if (!Array.isArray(sigs) || sigs.length === 0) throw bad('malformed-response', 'a response needs at least one signature');
  let note: Uint8Array;
  try {
    // formatNote checks every line against its fields; drop its placeholder text.
    note = formatNote({ text: 'x\n', signatures: [...sigs] });
  } catch (cause) {
    if (cause instanceof NoteError) throw bad('malformed-response', `signature: ${cause.message}`, cause);
    throw cause;
  }
  const out = note.slice(3);
  if (out.length > MAX_RESPONSE_SIZE) throw bad('too-large', `response is ${out.length} bytes, limit ${MAX_RESPONSE_SIZE}`);
  return out;
}

/**
 * Parses a 200 body: 1..MAX_SIGNATURES signature lines (`— name base64`), each ending
 * in a newline, no blank line. The signatures are not verified (that takes the
 * checkpoint: append them to it and use verifyCosignatures). Throws WitnessError only.
 */
export function parseCosignatureResponse(body: Uint8Array): NoteSignature[] {
  if (!(body instanceof Uint8Array)) throw bad('malformed-response', 'body must be bytes');
  if (body.length > MAX_RESPONSE_SIZE) throw bad('too-large', `response is ${body.length} bytes, limit ${MAX_RESPONSE_SIZE}`);
  if (body.length === 0 || body[0] === 0x0a || body[body.length - 1] !== 0x0a) {
    throw bad('malformed-response', 'response must be non-empty signature lines ending in a newline');
  }
  for (let i = 1; i < body.length; i++) {
    if (body[i] === 0x0a && body[i - 1] === 0x0a) throw bad('malformed-response', 'blank line in response');
  }
  try {
    // Parse as the signature block of a placeholder note: the body has no blank line,
    // so the note splits exactly before it.
    return parseNote(concatBytes(utf8('x\n\n'), body)).signatures.map((s) => noteSignature(s.name, s.keyHash, s.signature));
  } catch (cause) {
    if (cause instanceof NoteError) throw bad('malformed-response', `signature line: ${cause.message}`, cause);
    throw cause;
  }
}

/** Encodes a 409 body (`text/x.tlog.size`): the size and a newline. Throws WitnessError. */
export function formatTreeSizeBody(size: number): Uint8Array {
  if (!isUint(size)) throw bad('malformed-response', 'size must be an integer in [0, 2^53 − 1]');
  return utf8(`${size}\n`);
}

/** Parses a 409 body: one canonical decimal ≤ 2^53 − 1 and a newline. Throws WitnessError only. */
export function parseTreeSizeBody(body: Uint8Array): number {
  if (!(body instanceof Uint8Array)) throw bad('malformed-response', 'body must be bytes');
  if (body.length > MAX_SIZE_BODY) throw bad('too-large', `size body is ${body.length} bytes, limit ${MAX_SIZE_BODY}`);
  if (body.length < 2 || body[body.length - 1] !== 0x0a) throw bad('malformed-response', 'size body must be a decimal and a newline');
  for (let i = 0; i < body.length - 1; i++) {
    const c = body[i]!;
    if (c < 0x30 || c > 0x39) throw bad('malformed-response', 'size body must be decimal digits');
  }
  try {
    return parseDecimal(String.fromCharCode(...body.subarray(0, -1)));
  } catch (cause) {
    throw bad('malformed-response', 'size is not a canonical decimal ≤ 2^53 − 1', cause);
  }
}
