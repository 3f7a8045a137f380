// Signed notes, Ed25519 note keys and their text encodings.
//
//   https://c2sp.org/signed-note          (design model: golang.org/x/mod/sumdb/note)
//
//   note     = text "\n" 1*100(sigline)     the text is everything up to and including the
//                                           newline before the LAST blank line; it is
//                                           non-empty, ends in "\n" and may hold blank lines
//   sigline  = "— " name " " base64(keyID ‖ signature) "\n"      ("—" is U+2014 EM DASH)
//   keyID    = SHA-256(name ‖ 0x0A ‖ type ‖ publicKey)[:4], a big-endian uint32
//   vkey     = name "+" hex8(keyID) "+" base64(type ‖ publicKey)
//   skey     = "PRIVATE+KEY+" name "+" hex8(keyID) "+" base64(type ‖ seed)
//
//   If you think cryptography is the answer to your problem,
//   then you don't know what your problem is.
//
//   — PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=
//
// A whole note is valid UTF-8 with no ASCII control character but newline.
// Type 0x01 is Ed25519 over the text (RFC 8032); type 0x04 (c2sp.org/tlog-cosignature)
// uses the same key material and is verified in cosignature.ts.
//
// Strictness, beyond what Go's sumdb/note checks:
// - base64 must be canonical, hex lowercase: every key and note has one encoding;
// - every signature line of a known key is verified (Go verifies only the first line of
//   each key and skips later ones); any that fails rejects the note;
// - Ed25519 verification is RFC 8032 strict, not ZIP-215: canonical A and R, S < L, and
//   (noble's strict mode) small-order public keys refused; verifier keys whose public key
//   is not a canonical point of large order are refused when parsed, so an injected
//   verifier (e.g. node:crypto on the server) is never handed such a key;
// - key names are at most MAX_KEY_NAME_BYTES bytes and contain no ASCII control character.

import { ed25519 } from '@noble/curves/ed25519.js';
import { EncodingError, concatBytes, fromBase64, fromUtf8, toBase64, utf8 } from './bytes.js';
import { ConcordError } from './errors.js';
import { sha256 } from './sha256.js';

export type NoteErrorCode =
  | 'malformed-note'
  | 'too-large'
  | 'too-many-signatures'
  | 'bad-key'
  | 'unverified'
  | 'invalid-signature'
  | 'duplicate-key';

/**
 * A note, key or signer is unusable.
 * - malformed-note: not UTF-8, a control character, no blank line before the signatures,
 *   a bad signature line, non-canonical base64, or (when formatting) an invalid text;
 * - too-large: the note exceeds MAX_NOTE_SIZE bytes;
 * - too-many-signatures: more than MAX_SIGNATURES signature lines;
 * - bad-key: a vkey/skey string, key name, key type, seed or public key is invalid;
 * - unverified: no signature of a known key is present;
 * - invalid-signature: a signature line of a known key does not verify;
 * - duplicate-key: the same (name, key ID) appears twice among verifiers or signers.
 */
export class NoteError extends ConcordError<NoteErrorCode> {
  override readonly name = 'NoteError';
}

/**
 * Largest note accepted, in bytes: 1 MiB. Entries are at most 65,535 bytes and a
 * checkpoint with 100 Ed25519 cosignatures is about 40 KB, but the spec asks verifiers
 * to tolerate unknown signatures, which may be post-quantum (an ML-DSA-87 signature is
 * 4,627 bytes, about 6.2 KB of base64): 100 of those plus a 64 KiB text fit in 1 MiB.
 * The cap bounds the work of parsing untrusted input, not any legitimate note.
 */
export const MAX_NOTE_SIZE = 1 << 20;

/** Most signature lines in a note (Go's sumdb/note limit; the spec asks for ≥ 16). */
export const MAX_SIGNATURES = 100;

/**
 * Longest key name, in UTF-8 bytes. tlog-cosignature's ML-DSA-44 message carries
 * the cosigner name and log origin as `opaque<1..2^8-1>`, so 255 keeps every name
 * (and every origin, which Concord uses as the log key's name) usable there.
 */
export const MAX_KEY_NAME_BYTES = 255;

/** Signature type byte: Ed25519 over the note text. */
export const KEY_TYPE_ED25519 = 0x01;
/** Signature type byte: timestamped Ed25519 witness cosignature (c2sp.org/tlog-cosignature). */
export const KEY_TYPE_COSIGNATURE_V1 = 0x04;

const ED25519_KEY_SIZE = 32;
const ED25519_SIG_SIZE = 64;
/** Longest vkey/skey string considered: "PRIVATE+KEY+" + 255-byte name + hash + base64. */
const MAX_KEY_STRING = 512;

/** Verifies an Ed25519 signature; injectable so the server can use node:crypto. Never throws. */
export type Ed25519Verify = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;

/** RFC 8032 strict Ed25519 (noble, zip215: false): canonical encodings, S < L, no small-order keys. */
export const nobleEd25519Verify: Ed25519Verify = (publicKey, message, signature) => {
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
};

/**
 * Checks signatures by one key. `verify` receives the note text bytes and the
 * signature without its 4-byte key ID, and returns a boolean; it never throws.
 */
export interface Verifier {
  readonly name: string;
  /** The uint32 key ID. */
  readonly keyHash: number;
  verify(msg: Uint8Array, sig: Uint8Array): boolean;
}

/** Signs note texts with one key; `sign` returns the signature without the key ID. */
export interface Signer {
  readonly name: string;
  readonly keyHash: number;
  sign(msg: Uint8Array): Uint8Array;
}

/** One signature line. `signature` excludes the 4-byte key ID; `line` is the line without its newline. */
export interface NoteSignature {
  name: string;
  keyHash: number;
  signature: Uint8Array;
  line: string;
}

export interface ParsedNote {
  text: string;
  signatures: NoteSignature[];
}

/** A note with every signature of a known key verified (`verified` is never empty). */
export interface OpenedNote {
  text: string;
  verified: NoteSignature[];
  unverified: NoteSignature[];
}

// ---------------------------------------------------------------------------
// Names and key IDs

/** Unicode White_Space, the set Go's unicode.IsSpace reports. */
const WHITE_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
/** ASCII control characters; a note may hold none but newline. */
const CONTROL = /[\u0000-\u001f]/;
const CONTROL_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f]/;
/** A UTF-16 surrogate without its partner: such a string has no UTF-8 encoding. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Is s a string that encodes to UTF-8 (no lone surrogates)? */
export function isWellFormedText(s: unknown): s is string {
  return typeof s === 'string' && !LONE_SURROGATE.test(s);
}

/**
 * A key name per c2sp.org/signed-note: non-empty, no Unicode space, no '+'; and here
 * also well-formed, free of ASCII control characters and at most MAX_KEY_NAME_BYTES bytes.
 */
export function isValidKeyName(name: string): boolean {
  return (
    isWellFormedText(name) &&
    name.length > 0 &&
    name.length <= MAX_KEY_NAME_BYTES &&
    !name.includes('+') &&
    !WHITE_SPACE.test(name) &&
    !CONTROL.test(name) &&
    utf8(name).length <= MAX_KEY_NAME_BYTES
  );
}

/** Key ID: SHA-256(name ‖ "\n" ‖ type ‖ publicKey)[:4] as a big-endian uint32. */
export function keyHash(name: string, typeAndKey: Uint8Array): number {
  const h = sha256(concatBytes(utf8(name), Uint8Array.of(0x0a), typeAndKey));
  return ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0;
}

/** The 8-character lowercase hex form of a key ID, as in vkeys. */
export function formatKeyHash(hash: number): string {
  return hash.toString(16).padStart(8, '0');
}

function isUint32(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

function u32be(n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

// ---------------------------------------------------------------------------
// Keys

function badKey(message: string, cause?: unknown): NoteError {
  return new NoteError('bad-key', message, cause === undefined ? undefined : { cause });
}

/** Is typ a type whose key is a 32-byte Ed25519 public key? */
function isEd25519Type(typ: number): boolean {
  return typ === KEY_TYPE_ED25519 || typ === KEY_TYPE_COSIGNATURE_V1;
}

/**
 * Is pk the canonical encoding of an Ed25519 point that is not of small order?
 * (RFC 8032 §5.1.3 decoding with y < p and no "negative zero"; small-order keys
 * would let one signature verify for many messages.)
 */
export function isStrictEd25519PublicKey(pk: Uint8Array): boolean {
  if (!(pk instanceof Uint8Array) || pk.length !== ED25519_KEY_SIZE) return false;
  try {
    return !ed25519.Point.fromBytes(pk, false).isSmallOrder();
  } catch {
    return false;
  }
}

interface KeyParts {
  name: string;
  keyHash: number;
  type: number;
  key: Uint8Array;
}

/** Splits `name+hex8+base64(type ‖ key)` (base64 may itself hold '+'; names never do). */
function parseKeyParts(s: string, what: string): KeyParts {
  const i = s.indexOf('+');
  const j = i < 0 ? -1 : s.indexOf('+', i + 1);
  if (j < 0) throw badKey(`${what}: want name+hash+key`);
  const name = s.slice(0, i);
  const hex = s.slice(i + 1, j);
  const b64 = s.slice(j + 1);
  if (!isValidKeyName(name)) throw badKey(`${what}: invalid key name`);
  if (!/^[0-9a-f]{8}$/.test(hex)) throw badKey(`${what}: key ID must be 8 lowercase hex digits`);
  let raw: Uint8Array;
  try {
    raw = fromBase64(b64);
  } catch (cause) {
    throw badKey(`${what}: key is not canonical base64`, cause);
  }
  if (raw.length < 1) throw badKey(`${what}: empty key`);
  const type = raw[0]!;
  const key = raw.slice(1);
  if (!isEd25519Type(type)) throw badKey(`${what}: unsupported key type 0x${type.toString(16).padStart(2, '0')}`);
  if (key.length !== ED25519_KEY_SIZE) throw badKey(`${what}: Ed25519 key must be ${ED25519_KEY_SIZE} bytes`);
  return { name, keyHash: parseInt(hex, 16), type, key };
}

/**
 * Parses a verifier key `name+hex8+base64(type ‖ publicKey)`. Accepts the Ed25519
 * types 0x01 and 0x04 only; checks the key ID against the key and that the public
 * key is a canonical Ed25519 point of large order. Throws NoteError('bad-key').
 */
export function parseVerifierKey(vkey: string): { name: string; keyHash: number; type: number; publicKey: Uint8Array } {
  if (typeof vkey !== 'string' || vkey.length > MAX_KEY_STRING) throw badKey('vkey: not a string of reasonable length');
  if (vkey.startsWith('PRIVATE+KEY+')) throw badKey('vkey: this is a private signer key');
  const p = parseKeyParts(vkey, 'vkey');
  if (keyHash(p.name, Uint8Array.of(p.type, ...p.key)) !== p.keyHash) throw badKey('vkey: key ID does not match the key');
  if (!isStrictEd25519PublicKey(p.key)) throw badKey('vkey: public key is not a canonical Ed25519 point of large order');
  return { name: p.name, keyHash: p.keyHash, type: p.type, publicKey: p.key };
}

/** Encodes a verifier key; the inverse of parseVerifierKey. */
export function formatVerifierKey(name: string, type: number, publicKey: Uint8Array): string {
  if (!isValidKeyName(name)) throw badKey('invalid key name');
  if (!isEd25519Type(type)) throw badKey('unsupported key type');
  if (!isStrictEd25519PublicKey(publicKey)) throw badKey('public key is not a canonical Ed25519 point of large order');
  const typeAndKey = concatBytes(Uint8Array.of(type), publicKey);
  return `${name}+${formatKeyHash(keyHash(name, typeAndKey))}+${toBase64(typeAndKey)}`;
}

/**
 * Parses a signer key `PRIVATE+KEY+name+hex8+base64(type ‖ seed)` of type 0x01 or 0x04,
 * derives the public key and checks the key ID against it. Throws NoteError('bad-key').
 */
export function parseSignerKey(skey: string): {
  name: string;
  keyHash: number;
  type: number;
  seed: Uint8Array;
  publicKey: Uint8Array;
} {
  if (typeof skey !== 'string' || skey.length > MAX_KEY_STRING) throw badKey('skey: not a string of reasonable length');
  const prefix = 'PRIVATE+KEY+';
  if (!skey.startsWith(prefix)) throw badKey('skey: must start with PRIVATE+KEY+');
  const p = parseKeyParts(skey.slice(prefix.length), 'skey');
  const publicKey = ed25519.getPublicKey(p.key);
  if (keyHash(p.name, concatBytes(Uint8Array.of(p.type), publicKey)) !== p.keyHash) {
    throw badKey('skey: key ID does not match the key');
  }
  return { name: p.name, keyHash: p.keyHash, type: p.type, seed: p.key, publicKey };
}

/**
 * Makes a key pair of the given Ed25519 type (0x01 note keys, 0x04 cosigner keys)
 * from a 32-byte seed (default: crypto.getRandomValues).
 */
export function generateTypedKey(name: string, type: number, seed?: Uint8Array): { skey: string; vkey: string } {
  if (!isValidKeyName(name)) throw badKey('invalid key name');
  if (!isEd25519Type(type)) throw badKey('unsupported key type');
  let s: Uint8Array;
  if (seed === undefined) {
    const r = new Uint8Array(ED25519_KEY_SIZE);
    globalThis.crypto.getRandomValues(r);
    s = r;
  } else {
    if (!(seed instanceof Uint8Array) || seed.length !== ED25519_KEY_SIZE) throw badKey('seed must be 32 bytes');
    s = seed.slice();
  }
  const typeAndKey = concatBytes(Uint8Array.of(type), ed25519.getPublicKey(s));
  const hash = formatKeyHash(keyHash(name, typeAndKey));
  return {
    skey: `PRIVATE+KEY+${name}+${hash}+${toBase64(concatBytes(Uint8Array.of(type), s))}`,
    vkey: `${name}+${hash}+${toBase64(typeAndKey)}`,
  };
}

/** Makes an Ed25519 (type 0x01) note key pair. */
export function generateKey(name: string, seed?: Uint8Array): { skey: string; vkey: string } {
  return generateTypedKey(name, KEY_TYPE_ED25519, seed);
}

/**
 * A Verifier for an Ed25519 public key under the given name and key ID. `verify`
 * refuses signatures that are not 64 bytes and turns any exception of the injected
 * function into false.
 */
export function ed25519Verifier(name: string, hash: number, publicKey: Uint8Array, verify: Ed25519Verify): Verifier {
  const pk = publicKey.slice();
  return Object.freeze({
    name,
    keyHash: hash,
    verify(msg: Uint8Array, sig: Uint8Array): boolean {
      if (!(msg instanceof Uint8Array) || !(sig instanceof Uint8Array) || sig.length !== ED25519_SIG_SIZE) return false;
      try {
        return verify(pk, msg, sig) === true;
      } catch {
        return false;
      }
    },
  });
}

/** A Verifier for an Ed25519 (type 0x01) vkey. Throws NoteError('bad-key'). */
export function newVerifier(vkey: string, opts?: { ed25519Verify?: Ed25519Verify }): Verifier {
  const k = parseVerifierKey(vkey);
  if (k.type !== KEY_TYPE_ED25519) throw badKey('vkey: not an Ed25519 (type 0x01) note key');
  return ed25519Verifier(k.name, k.keyHash, k.publicKey, opts?.ed25519Verify ?? nobleEd25519Verify);
}

/** A Signer for an Ed25519 (type 0x01) skey. Throws NoteError('bad-key'). */
export function newSigner(skey: string): Signer {
  const k = parseSignerKey(skey);
  if (k.type !== KEY_TYPE_ED25519) throw badKey('skey: not an Ed25519 (type 0x01) note key');
  const seed = k.seed;
  return Object.freeze({
    name: k.name,
    keyHash: k.keyHash,
    sign: (msg: Uint8Array): Uint8Array => ed25519.sign(msg, seed),
  });
}

// ---------------------------------------------------------------------------
// Notes

const SIG_PREFIX = '\u2014 ';

function malformed(message: string, cause?: unknown): NoteError {
  return new NoteError('malformed-note', message, cause === undefined ? undefined : { cause });
}

/** Checks a note text: non-empty, ends in "\n", encodable, no control character but newline. */
function checkText(text: string): void {
  if (!isWellFormedText(text)) throw malformed('note text is not a well-formed string');
  if (!text.endsWith('\n')) throw malformed('note text must end in a newline');
  if (CONTROL_BUT_NEWLINE.test(text)) throw malformed('note text holds a control character');
}

/** The signature line (without newline) for a key and signature. */
export function formatSignatureLine(name: string, hash: number, signature: Uint8Array): string {
  return `${SIG_PREFIX}${name} ${toBase64(concatBytes(u32be(hash), signature))}`;
}

/** Builds a NoteSignature (with its line) after checking its parts. Throws NoteError. */
export function noteSignature(name: string, hash: number, signature: Uint8Array): NoteSignature {
  if (!isValidKeyName(name)) throw badKey('invalid key name in signature');
  if (!isUint32(hash)) throw badKey('key ID must be a uint32');
  if (!(signature instanceof Uint8Array) || signature.length < 1) throw malformed('empty signature');
  const sig = signature.slice();
  return { name, keyHash: hash, signature: sig, line: formatSignatureLine(name, hash, sig) };
}

function parseSignatureLine(line: string): NoteSignature {
  if (!line.startsWith(SIG_PREFIX)) throw malformed('signature line must start with an em dash and a space');
  const rest = line.slice(SIG_PREFIX.length);
  const sp = rest.indexOf(' ');
  if (sp < 0) throw malformed('signature line needs a name and a signature');
  const name = rest.slice(0, sp);
  if (!isValidKeyName(name)) throw malformed('invalid key name in signature line');
  let raw: Uint8Array;
  try {
    raw = fromBase64(rest.slice(sp + 1));
  } catch (cause) {
    throw malformed('signature is not canonical base64', cause);
  }
  if (raw.length < 5) throw malformed('signature shorter than key ID plus one byte');
  const hash = ((raw[0]! << 24) | (raw[1]! << 16) | (raw[2]! << 8) | raw[3]!) >>> 0;
  return { name, keyHash: hash, signature: raw.slice(4), line };
}

/**
 * Parses a signed note's structure (no cryptography). Strict: MAX_NOTE_SIZE,
 * valid UTF-8, no control characters but newline, text split at the last blank
 * line, 1..MAX_SIGNATURES well-formed signature lines with canonical base64.
 */
export function parseNote(msg: Uint8Array): ParsedNote {
  if (!(msg instanceof Uint8Array)) throw malformed('note must be bytes');
  if (msg.length > MAX_NOTE_SIZE) throw new NoteError('too-large', `note is ${msg.length} bytes, limit ${MAX_NOTE_SIZE}`);
  let s: string;
  try {
    s = fromUtf8(msg);
  } catch (cause) {
    if (cause instanceof EncodingError) throw malformed('note is not valid UTF-8', cause);
    throw cause;
  }
  if (CONTROL_BUT_NEWLINE.test(s)) throw malformed('note holds a control character');
  const split = s.lastIndexOf('\n\n');
  if (split < 0) throw malformed('no blank line before the signatures');
  const text = s.slice(0, split + 1);
  const block = s.slice(split + 2);
  if (block.length === 0 || !block.endsWith('\n')) throw malformed('signature block must be non-empty lines ending in newline');
  // The split is at the last "\n\n", so no line of the block is empty.
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) {
    throw new NoteError('too-many-signatures', `note has ${lines.length} signatures, limit ${MAX_SIGNATURES}`);
  }
  return { text, signatures: lines.map(parseSignatureLine) };
}

/**
 * Encodes a note: text, blank line, one line per signature. Each signature's `line`
 * must match its fields. The inverse of parseNote. Throws NoteError.
 */
export function formatNote(note: ParsedNote): Uint8Array {
  checkText(note.text);
  const sigs = note.signatures;
  if (!Array.isArray(sigs) || sigs.length === 0) throw malformed('a note needs at least one signature');
  if (sigs.length > MAX_SIGNATURES) throw new NoteError('too-many-signatures', `${sigs.length} signatures, limit ${MAX_SIGNATURES}`);
  const lines: string[] = [];
  for (const sig of sigs) {
    const built = noteSignature(sig.name, sig.keyHash, sig.signature);
    if (built.line !== sig.line) throw malformed('signature line does not match its name, key ID and signature');
    lines.push(built.line);
  }
  const out = utf8(`${note.text}\n${lines.join('\n')}\n`);
  if (out.length > MAX_NOTE_SIZE) throw new NoteError('too-large', `note would be ${out.length} bytes, limit ${MAX_NOTE_SIZE}`);
  return out;
}

function idOf(name: string, hash: number): string {
  // Names hold no newline, so this is injective.
  return `${name}\n${hash}`;
}

/**
 * Parses msg and verifies it against the known verifiers (c2sp.org/signed-note §Signatures):
 * - a line whose (name, key ID) matches no verifier is kept, unchecked, in `unverified`;
 * - every line matching a verifier is verified; one that fails → 'invalid-signature';
 * - no verified line → 'unverified';
 * - the same (name, key ID) twice among verifiers → 'duplicate-key'.
 * Identical repeated lines are listed once. Throws NoteError only (assuming the
 * verifiers keep their contract and do not throw).
 */
export function openNote(msg: Uint8Array, verifiers: readonly Verifier[]): OpenedNote {
  const known = new Map<string, Verifier>();
  for (const v of verifiers) {
    const id = idOf(v.name, v.keyHash);
    if (known.has(id)) throw new NoteError('duplicate-key', `verifier ${v.name}+${formatKeyHash(v.keyHash)} given twice`);
    known.set(id, v);
  }
  const parsed = parseNote(msg);
  const text = utf8(parsed.text);
  const seen = new Set<string>();
  const verified: NoteSignature[] = [];
  const unverified: NoteSignature[] = [];
  for (const sig of parsed.signatures) {
    if (seen.has(sig.line)) continue;
    seen.add(sig.line);
    const v = known.get(idOf(sig.name, sig.keyHash));
    if (v === undefined) {
      unverified.push(sig);
      continue;
    }
    if (!v.verify(text, sig.signature)) {
      throw new NoteError('invalid-signature', `invalid signature by ${sig.name}+${formatKeyHash(sig.keyHash)}`);
    }
    verified.push(sig);
  }
  if (verified.length === 0) throw new NoteError('unverified', 'no signature by a known key');
  return { text: parsed.text, verified, unverified };
}

/**
 * Signs text with each signer and encodes the note: the new signature lines first,
 * in signer order, then the `extra` signatures (e.g. cosignatures already collected),
 * minus any by a key that just signed. Throws NoteError.
 */
export function signNote(text: string, signers: readonly Signer[], extra: readonly NoteSignature[] = []): Uint8Array {
  checkText(text);
  const msg = utf8(text);
  const mine = new Set<string>();
  const sigs: NoteSignature[] = [];
  for (const s of signers) {
    if (!isValidKeyName(s.name) || !isUint32(s.keyHash)) throw badKey('signer has an invalid name or key ID');
    const id = idOf(s.name, s.keyHash);
    if (mine.has(id)) throw new NoteError('duplicate-key', `signer ${s.name}+${formatKeyHash(s.keyHash)} given twice`);
    mine.add(id);
    sigs.push(noteSignature(s.name, s.keyHash, s.sign(msg)));
  }
  for (const sig of extra) {
    if (!mine.has(idOf(sig.name, sig.keyHash))) sigs.push(sig);
  }
  return formatNote({ text, signatures: sigs });
}

