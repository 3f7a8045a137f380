// RFC 9497 OPRF and VOPRF, suite ristretto255-SHA512: Concord's blinding.
//
//   https://www.rfc-editor.org/rfc/rfc9497.html   (§2.2 DLEQ proofs, §3 protocol, §4.1 the suite)
//   https://www.rfc-editor.org/rfc/rfc9496.html   (ristretto255 encode/decode)
//   ../../shared/DESIGN.md "Blinding" and "Requests that need authority"
//
//   input      <hash-algorithm id> ‖ 0x00 ‖ raw hash bytes            blindingInput()
//   org        r ← random scalar;  B = r·H(input)                       blind()
//   operator   Z_i = k·B_i for the batch, ONE proof (c, s) that          blindEvaluateBatch()
//              log_G(pkS) = log_{B_i}(Z_i) for every i (§2.2.1)
//   org        verify the proof against the policy's blinding-key,       verifyAndUnblind()
//              N_i = r_i⁻¹·Z_i = k·H(input_i)
//   element    the 32-byte ristretto255 encoding of N — the value BEFORE §3.3.2's
//              Finalize hash H(len‖input‖len‖N‖"Finalize") (finalizeOutput()).
//
//   POST /oprf/evaluate  {"blinded":["<b64 32 bytes>",…]}                1 … 1,000 elements
//                     →  {"evaluated":["<b64 32 bytes>",…],"proof":"<b64 64 bytes>"}
//   proof      c ‖ s, each a 32-byte little-endian scalar below the group order
//
// Built on @noble/curves' ristretto255 group, its RFC 9380 hash_to_ristretto255,
// its expand_message_xmd HashToScalar and its vartime multi-scalar
// multiplication — the primitives its own `ristretto255_oprf` uses. We do not
// call `ristretto255_oprf` itself because (a) its finalize returns only the
// hashed Output, never the element k·H(x) Concord publishes, and (b) it
// re-encodes every point for the proof transcripts, where we reuse the wire
// bytes (a canonical encoding is unique, so the bytes are the encoding). The
// tests run both on the RFC 9497 vectors and against each other.
//
// Secret scalars (k, blinds, their inverses, the proof nonce) are only ever
// multiplied with noble's constant-time `multiply`; public data (transcript
// weights, proof scalars, wire points) goes through the vartime MSM. Scalar
// arithmetic uses BigInt, like noble's own OPRF.
//
// Every function throws OprfError for bad input; a broken internal invariant
// is badMath.

import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js';
import { mulAddUnsafe } from '@noble/curves/abstract/curve.js';
import { FpInvertBatch } from '@noble/curves/abstract/modular.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { concatBytes, equalBytes, fromBase64, fromUtf8, toBase64, utf8 } from './bytes.js';
import { HASH_ALGORITHMS, isHashAlgorithmId } from './entries.js';
import { ConcordError, badMath } from './errors.js';

/** RFC 9497 §4.1 identifier of the suite. */
export const SUITE_ID = 'ristretto255-SHA512';
/** Ne: bytes of a serialized element. */
export const ELEMENT_SIZE = 32;
/** Ns: bytes of a serialized scalar. */
export const SCALAR_SIZE = 32;
/** A proof is two scalars, c ‖ s. */
export const PROOF_SIZE = 64;
/** Nh: bytes of an RFC 9497 Output (SHA-512). */
export const OUTPUT_SIZE = 64;
/** Elements per POST /oprf/evaluate request (DESIGN.md), and so per proof. */
export const MAX_BATCH = 1000;
/** RFC 9497 §1.2: inputs are length-prefixed with two bytes. */
export const MAX_INPUT_SIZE = 65_535;
/**
 * Cap on a request or response body: 1,000 base64 elements are 47,000 bytes of
 * JSON; the rest is slack for whitespace from other encoders.
 */
export const MAX_BODY_SIZE = 65_536;

/** RFC 9497 §3.1 modes: modeOPRF = 0x00, modeVOPRF = 0x01. Concord uses VOPRF. */
export type Mode = 0 | 1;
export const MODE_OPRF: Mode = 0;
export const MODE_VOPRF: Mode = 1;

export type OprfErrorCode =
  | 'bad-element'
  | 'bad-scalar'
  | 'bad-key'
  | 'bad-proof'
  | 'bad-batch'
  | 'bad-input'
  | 'bad-json'
  | 'bad-base64';

/**
 * - bad-element: not 32 bytes, not a canonical ristretto255 encoding, or the identity;
 * - bad-scalar: a blind or proof-nonce scalar that is not 32 bytes, not below the order, or zero;
 * - bad-key: a secret key that is not a valid non-zero scalar, a public key that is not a
 *   valid non-identity element, a key pair that does not match, or a bad derivation seed;
 * - bad-proof: a proof of the wrong length, with a non-canonical scalar, or that does not verify;
 * - bad-batch: an empty batch, more than MAX_BATCH elements, or lists whose lengths differ;
 * - bad-input: an input longer than 65,535 bytes, a hash-algorithm id or raw-hash length
 *   that does not match, or (never in practice) an input that hashes to the identity;
 * - bad-json: a wire body that is too large, not UTF-8 JSON, or not exactly the documented shape;
 * - bad-base64: a wire value that is not canonical padded base64.
 */
export class OprfError extends ConcordError<OprfErrorCode> {
  override readonly name = 'OprfError';
}

// ---------------------------------------------------------------------------
// Group and suite constants

const Point = ristretto255.Point;
type Point = InstanceType<typeof Point>;
const Fn = Point.Fn;
const ORDER = Fn.ORDER;
const G = Point.BASE;

const ascii = (s: string): Uint8Array => utf8(s);

/** §3.1: contextString = "OPRFV1-" ‖ I2OSP(mode, 1) ‖ "-" ‖ identifier. */
function contextString(mode: Mode): Uint8Array {
  return concatBytes(ascii('OPRFV1-'), Uint8Array.of(mode), ascii('-' + SUITE_ID));
}

interface Ctx {
  ctx: Uint8Array;
  hashToGroupDST: Uint8Array;
  hashToScalarDST: Uint8Array;
  deriveKeyPairDST: Uint8Array;
  seedDST: Uint8Array;
}

function makeCtx(mode: Mode): Ctx {
  const ctx = contextString(mode);
  return {
    ctx,
    // §4.1: HashToGroup uses hash_to_ristretto255 with DST "HashToGroup-" ‖ contextString;
    // HashToScalar is expand_message_xmd(SHA-512) to 64 bytes, little-endian, mod the order,
    // with DST "HashToScalar-" ‖ contextString unless a DST is given.
    hashToGroupDST: concatBytes(ascii('HashToGroup-'), ctx),
    hashToScalarDST: concatBytes(ascii('HashToScalar-'), ctx),
    // §3.2.1 DeriveKeyPair.
    deriveKeyPairDST: concatBytes(ascii('DeriveKeyPair'), ctx),
    // §2.2.1 ComputeComposites: seedDST = "Seed-" ‖ contextString.
    seedDST: concatBytes(ascii('Seed-'), ctx),
  };
}

const CTX: readonly [Ctx, Ctx] = [makeCtx(0), makeCtx(1)];

function ctxOf(mode: unknown): Ctx {
  if (mode !== 0 && mode !== 1) throw new OprfError('bad-input', `mode must be 0 (OPRF) or 1 (VOPRF), got ${String(mode)}`);
  return CTX[mode];
}

/** I2OSP(n, 2). */
function u16(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) badMath('u16 out of range');
  return Uint8Array.of(n >>> 8, n & 0xff);
}

/** I2OSP(len(b), 2) ‖ b: the RFC's length-prefixed framing. */
function framed(b: Uint8Array): Uint8Array {
  return concatBytes(u16(b.length), b);
}

// ---------------------------------------------------------------------------
// Scalars (SerializeScalar/DeserializeScalar, §4.1: 32 bytes little-endian, < order)

function scalarToBytes(n: bigint): Uint8Array {
  if (n < 0n || n >= ORDER) badMath('scalar out of range');
  const out = new Uint8Array(SCALAR_SIZE);
  let x = n;
  for (let i = 0; i < SCALAR_SIZE; i++) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

/** Little-endian bytes → bigint, or null when not exactly 32 bytes or not below the order. */
function scalarFromBytes(b: unknown): bigint | null {
  if (!(b instanceof Uint8Array) || b.length !== SCALAR_SIZE) return null;
  let n = 0n;
  for (let i = SCALAR_SIZE - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n < ORDER ? n : null;
}

function nonZeroScalar(b: unknown, code: 'bad-scalar' | 'bad-key', what: string): bigint {
  const n = scalarFromBytes(b);
  if (n === null) throw new OprfError(code, `${what}: not a 32-byte little-endian scalar below the group order`);
  if (n === 0n) throw new OprfError(code, `${what}: zero`);
  return n;
}

/** §2.1 RandomScalar: uniform in [1, order − 1] (64 random bytes reduced: bias < 2^-250). */
function randomScalar(): bigint {
  for (;;) {
    const b = randomBytes(64);
    let n = 0n;
    for (let i = 63; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
    n %= ORDER;
    if (n !== 0n) return n;
  }
}

function hashToScalar(msg: Uint8Array, dst: Uint8Array): bigint {
  return ristretto255_hasher.hashToScalar(msg, { DST: dst });
}

// ---------------------------------------------------------------------------
// Elements (SerializeElement/DeserializeElement, RFC 9496 §4.3)

// Points decoded from (or encoded to) a byte array, keyed by that array, so an
// element parsed from a request is not decoded again when it is evaluated,
// and a client's own blinded elements are never decoded. A copy of the bytes
// is kept and compared on every hit: an array mutated after decoding misses.
const decoded = new WeakMap<Uint8Array, { copy: Uint8Array; point: Point }>();

function remember(bytes: Uint8Array, point: Point): void {
  decoded.set(bytes, { copy: bytes.slice(), point });
}

/**
 * DeserializeElement plus §3.3's rule that an identity element received over
 * the wire MUST be rejected. noble's decoder accepts only the canonical
 * encoding, so a decoded element's bytes are its SerializeElement.
 */
function decodeElement(b: unknown, what: string, code: 'bad-element' | 'bad-key' = 'bad-element'): Point {
  if (!(b instanceof Uint8Array) || b.length !== ELEMENT_SIZE) {
    const got = b instanceof Uint8Array ? `${b.length} bytes` : typeof b;
    throw new OprfError(code, `${what}: want ${ELEMENT_SIZE} bytes, got ${got}`);
  }
  const hit = decoded.get(b);
  if (hit !== undefined && equalBytes(hit.copy, b)) return hit.point;
  let p: Point;
  try {
    p = Point.fromBytes(b);
  } catch (cause) {
    throw new OprfError(code, `${what}: not a canonical ristretto255 encoding`, { cause });
  }
  if (p.is0()) throw new OprfError(code, `${what}: the identity element`);
  remember(b, p);
  return p;
}

function encodeElement(p: Point): Uint8Array {
  const b = p.toBytes();
  remember(b, p);
  return b;
}

function checkBatch(n: number, what: string): void {
  if (n < 1 || n > MAX_BATCH) throw new OprfError('bad-batch', `${what}: want 1 to ${MAX_BATCH} elements, got ${n}`);
}

function checkArray(a: unknown, what: string): asserts a is readonly unknown[] {
  if (!Array.isArray(a)) throw new OprfError('bad-batch', `${what} must be an array`);
}

// ---------------------------------------------------------------------------
// Inputs

/**
 * DESIGN.md "Blinding": the PRF input for a raw perceptual hash is the
 * hash-algorithm id, a zero byte, and the raw hash bytes. The raw length must
 * be the algorithm's (entries.ts HASH_ALGORITHMS), so one image hash has one
 * input.
 */
export function blindingInput(alg: string, rawHash: Uint8Array): Uint8Array {
  if (typeof alg !== 'string' || !isHashAlgorithmId(alg)) {
    throw new OprfError('bad-input', `unknown hash algorithm ${JSON.stringify(String(alg)).slice(0, 60)}`);
  }
  const want = HASH_ALGORITHMS[alg];
  if (!(rawHash instanceof Uint8Array) || rawHash.length !== want) {
    const got = rawHash instanceof Uint8Array ? `${rawHash.length} bytes` : typeof rawHash;
    throw new OprfError('bad-input', `${alg} hashes are ${want} bytes, got ${got}`);
  }
  return concatBytes(ascii(alg), Uint8Array.of(0), rawHash);
}

function checkInput(input: unknown): asserts input is Uint8Array {
  if (!(input instanceof Uint8Array)) throw new OprfError('bad-input', 'input must be a Uint8Array');
  if (input.length > MAX_INPUT_SIZE) throw new OprfError('bad-input', `input of ${input.length} bytes exceeds ${MAX_INPUT_SIZE}`);
}

/** H(input): hash_to_ristretto255 with DST "HashToGroup-" ‖ contextString; never the identity. */
function hashToGroup(input: Uint8Array, c: Ctx): Point {
  const p = ristretto255_hasher.hashToCurve(input, { DST: c.hashToGroupDST });
  // §3.3.1: "If inputElement is the identity element, raise InvalidInputError".
  if (p.is0()) throw new OprfError('bad-input', 'input hashes to the identity element');
  return p;
}

// ---------------------------------------------------------------------------
// Keys (§3.2)

export interface KeyPair {
  /** skS: a non-zero scalar, 32 bytes little-endian. The operator's crown jewel. */
  secretKey: Uint8Array;
  /** pkS = skS·G, 32 bytes: the policy's `blinding-key`. */
  publicKey: Uint8Array;
}

/** §3.2 GenerateKeyPair: a random key pair. */
export function generateKeyPair(): KeyPair {
  const sk = randomScalar();
  return { secretKey: scalarToBytes(sk), publicKey: encodeElement(G.multiply(sk)) };
}

/**
 * §3.2.1 DeriveKeyPair(seed, info): deterministic key pair from a 32-byte
 * seed. The mode is part of the derivation (RFC 9497 test vectors use both).
 */
export function deriveKeyPair(seed: Uint8Array, info: Uint8Array, mode: Mode = MODE_VOPRF): KeyPair {
  const c = ctxOf(mode);
  if (!(seed instanceof Uint8Array) || seed.length !== 32) throw new OprfError('bad-key', 'seed must be 32 bytes');
  if (!(info instanceof Uint8Array) || info.length > MAX_INPUT_SIZE) throw new OprfError('bad-key', 'info must be at most 65,535 bytes');
  // deriveInput = seed ‖ I2OSP(len(info), 2) ‖ info; skS = HashToScalar(deriveInput ‖ I2OSP(counter, 1), DST).
  const msg = concatBytes(seed, framed(info), Uint8Array.of(0));
  for (let counter = 0; counter <= 255; counter++) {
    msg[msg.length - 1] = counter;
    const sk = hashToScalar(msg, c.deriveKeyPairDST);
    if (sk !== 0n) return { secretKey: scalarToBytes(sk), publicKey: encodeElement(G.multiply(sk)) };
  }
  // §3.2.1: DeriveKeyPairError; probability ~2^-2000.
  throw new OprfError('bad-key', 'DeriveKeyPair found no non-zero scalar');
}

/** pkS = skS·G for a secret key. */
export function publicKeyFromSecretKey(secretKey: Uint8Array): Uint8Array {
  return encodeElement(G.multiply(nonZeroScalar(secretKey, 'bad-key', 'secret key')));
}

/** Checks a public key: 32 bytes, canonical, not the identity. Returns it. */
export function checkPublicKey(publicKey: Uint8Array): Uint8Array {
  decodeElement(publicKey, 'public key', 'bad-key');
  return publicKey;
}

/** The policy line's value: standard padded base64 of the 32-byte public key. */
export function encodePublicKey(publicKey: Uint8Array): string {
  return toBase64(checkPublicKey(publicKey));
}

/** Parses a `blinding-key` value: canonical base64 of a valid non-identity element. */
export function parsePublicKey(s: string): Uint8Array {
  const b = base64(s, 'public key', ELEMENT_SIZE, 'bad-key');
  return checkPublicKey(b);
}

// ---------------------------------------------------------------------------
// Client: blind (§3.3.1 / §3.3.2 Blind)

export interface Blinded {
  /** The blind r, a secret scalar the client keeps until it unblinds. */
  blind: Uint8Array;
  /** B = r·H(input), sent to the server. */
  blinded: Uint8Array;
}

/**
 * Blind(input). `opts.blind` fixes r — for RFC test vectors only; omit it in
 * production so r is fresh and uniform (a reused r links inputs).
 */
export function blind(input: Uint8Array, opts?: { mode?: Mode; blind?: Uint8Array }): Blinded {
  const c = ctxOf(opts?.mode ?? MODE_VOPRF);
  checkInput(input);
  const r = opts?.blind === undefined ? randomScalar() : nonZeroScalar(opts.blind, 'bad-scalar', 'blind');
  const b = encodeElement(hashToGroup(input, c).multiply(r));
  return { blind: scalarToBytes(r), blinded: b };
}

// ---------------------------------------------------------------------------
// DLEQ proofs (§2.2)

/**
 * §2.2.1 ComputeComposites' per-element weights d_i. Cb and Db are the
 * serialized elements (the wire bytes), Bm the serialized public key.
 */
function compositeWeights(c: Ctx, Bm: Uint8Array, Cb: readonly Uint8Array[], Db: readonly Uint8Array[]): bigint[] {
  // seed = Hash(I2OSP(len(Bm), 2) ‖ Bm ‖ I2OSP(len(seedDST), 2) ‖ seedDST)
  const seed = sha512(concatBytes(framed(Bm), framed(c.seedDST)));
  // compositeTranscript = I2OSP(len(seed), 2) ‖ seed ‖ I2OSP(i, 2) ‖
  //   I2OSP(len(Ci), 2) ‖ Ci ‖ I2OSP(len(Di), 2) ‖ Di ‖ "Composite"
  const tail = ascii('Composite');
  const t = new Uint8Array(2 + seed.length + 2 + 2 + ELEMENT_SIZE + 2 + ELEMENT_SIZE + tail.length);
  let o = 0;
  t.set(framed(seed), o);
  o += 2 + seed.length;
  const iAt = o;
  o += 2;
  t.set(u16(ELEMENT_SIZE), o);
  const cAt = o + 2;
  o = cAt + ELEMENT_SIZE;
  t.set(u16(ELEMENT_SIZE), o);
  const dAt = o + 2;
  o = dAt + ELEMENT_SIZE;
  t.set(tail, o);
  const out: bigint[] = [];
  for (let i = 0; i < Cb.length; i++) {
    t[iAt] = i >>> 8;
    t[iAt + 1] = i & 0xff;
    t.set(Cb[i]!, cAt);
    t.set(Db[i]!, dAt);
    out.push(hashToScalar(t, c.hashToScalarDST));
  }
  return out;
}

/** §2.2.1: challengeTranscript = framed Bm, a0 = M, a1 = Z, a2 = t2, a3 = t3, then "Challenge". */
function challenge(c: Ctx, Bm: Uint8Array, M: Point, Z: Point, t2: Point, t3: Point): bigint {
  const parts = [Bm, M.toBytes(), Z.toBytes(), t2.toBytes(), t3.toBytes()].map(framed);
  return hashToScalar(concatBytes(...parts, ascii('Challenge')), c.hashToScalarDST);
}

/** Σ s_i·P_i over public points and scalars (vartime). */
function msm(points: Point[], scalars: bigint[]): Point {
  return mulAddUnsafe(Point, points, scalars);
}

/** §2.2.1 GenerateProof with ComputeCompositesFast (the prover knows k, so Z = k·M). */
function generateProof(
  c: Ctx,
  k: bigint,
  Bm: Uint8Array,
  C: Point[],
  Cb: readonly Uint8Array[],
  Db: readonly Uint8Array[],
  r: bigint,
): Uint8Array {
  const d = compositeWeights(c, Bm, Cb, Db);
  const M = msm(C, d);
  const Z = M.is0() ? M : M.multiply(k);
  const t2 = G.multiply(r);
  const t3 = M.is0() ? M : M.multiply(r);
  const ch = challenge(c, Bm, M, Z, t2, t3);
  const s = Fn.sub(r, Fn.mul(ch, k));
  return concatBytes(scalarToBytes(ch), scalarToBytes(s));
}

/** §2.2.2 VerifyProof(A = G, B = pkS, C, D, proof); throws bad-proof. */
function verifyProofPoints(
  c: Ctx,
  B: Point,
  Bm: Uint8Array,
  C: Point[],
  Cb: readonly Uint8Array[],
  D: Point[],
  Db: readonly Uint8Array[],
  proof: unknown,
): void {
  if (!(proof instanceof Uint8Array) || proof.length !== PROOF_SIZE) {
    throw new OprfError('bad-proof', `proof must be ${PROOF_SIZE} bytes`);
  }
  const ch = scalarFromBytes(proof.subarray(0, SCALAR_SIZE));
  const s = scalarFromBytes(proof.subarray(SCALAR_SIZE));
  if (ch === null || s === null) throw new OprfError('bad-proof', 'proof scalar not below the group order');
  const d = compositeWeights(c, Bm, Cb, Db);
  const M = msm(C, d);
  const Z = msm(D, d);
  const t2 = msm([G, B], [s, ch]);
  const t3 = msm([M, Z], [s, ch]);
  if (challenge(c, Bm, M, Z, t2, t3) !== ch) throw new OprfError('bad-proof', 'DLEQ proof does not verify');
}

// ---------------------------------------------------------------------------
// Server: evaluate (§3.3.1 / §3.3.2 BlindEvaluate)

export interface Evaluation {
  /** Z_i = k·B_i, in request order. */
  evaluated: Uint8Array[];
  /** One DLEQ proof for the whole batch, c ‖ s. */
  proof: Uint8Array;
}

/** OPRF mode (§3.3.1) BlindEvaluate: Z = k·B, no proof. */
export function blindEvaluate(secretKey: Uint8Array, blinded: Uint8Array): Uint8Array {
  const k = nonZeroScalar(secretKey, 'bad-key', 'secret key');
  return encodeElement(decodeElement(blinded, 'blinded element').multiply(k));
}

/**
 * VOPRF mode (§3.3.2) BlindEvaluate over a batch of 1 … MAX_BATCH elements
 * with one proof. publicKey must be secretKey's (checked: a proof against
 * another key would be rejected by every client). `opts.proofScalar` fixes
 * the proof nonce — for RFC test vectors only; a repeated nonce with
 * different batches reveals k.
 */
export function blindEvaluateBatch(
  secretKey: Uint8Array,
  publicKey: Uint8Array,
  blinded: readonly Uint8Array[],
  opts?: { proofScalar?: Uint8Array },
): Evaluation {
  const k = nonZeroScalar(secretKey, 'bad-key', 'secret key');
  decodeElement(publicKey, 'public key', 'bad-key');
  if (!equalBytes(G.multiply(k).toBytes(), publicKey)) throw new OprfError('bad-key', 'public key does not match the secret key');
  checkArray(blinded, 'blinded elements');
  checkBatch(blinded.length, 'blinded elements');
  const r = opts?.proofScalar === undefined ? randomScalar() : nonZeroScalar(opts.proofScalar, 'bad-scalar', 'proof scalar');
  const C = blinded.map((b, i) => decodeElement(b, `blinded element ${i}`));
  const evaluated = C.map((p) => encodeElement(p.multiply(k)));
  const proof = generateProof(CTX[MODE_VOPRF], k, publicKey, C, blinded, evaluated, r);
  return { evaluated, proof };
}

// ---------------------------------------------------------------------------
// Client: verify and unblind (§3.3.2 Finalize, without the final hash)

/**
 * VOPRF verification alone: does `proof` show that evaluated[i] = k·blinded[i]
 * for every i, with publicKey = k·G? Throws bad-proof (or bad-element,
 * bad-key, bad-batch for malformed arguments).
 */
export function verifyProof(
  publicKey: Uint8Array,
  blinded: readonly Uint8Array[],
  evaluated: readonly Uint8Array[],
  proof: Uint8Array,
): void {
  const B = decodeElement(publicKey, 'public key', 'bad-key');
  checkArray(blinded, 'blinded elements');
  checkArray(evaluated, 'evaluated elements');
  checkBatch(blinded.length, 'blinded elements');
  if (evaluated.length !== blinded.length) {
    throw new OprfError('bad-batch', `${evaluated.length} evaluated elements for ${blinded.length} blinded`);
  }
  const C = blinded.map((b, i) => decodeElement(b, `blinded element ${i}`));
  const D = evaluated.map((b, i) => decodeElement(b, `evaluated element ${i}`));
  verifyProofPoints(CTX[MODE_VOPRF], B, publicKey, C, blinded, D, evaluated, proof);
}

/**
 * Verifies the batch's DLEQ proof against publicKey (the policy's
 * blinding-key) and unblinds every evaluated element: returns
 * N_i = blinds[i]⁻¹ · evaluated[i] = k·H(input_i), 32 bytes each, in order.
 * Nothing is returned unless the whole batch verifies.
 */
export function verifyAndUnblind(
  publicKey: Uint8Array,
  blinds: readonly Uint8Array[],
  blinded: readonly Uint8Array[],
  response: Evaluation,
): Uint8Array[] {
  if (typeof response !== 'object' || response === null) throw new OprfError('bad-batch', 'response must be an object');
  checkArray(blinds, 'blinds');
  checkArray(blinded, 'blinded elements');
  if (blinds.length !== blinded.length) throw new OprfError('bad-batch', `${blinds.length} blinds for ${blinded.length} blinded elements`);
  const r = blinds.map((b, i) => nonZeroScalar(b, 'bad-scalar', `blind ${i}`));
  verifyProof(publicKey, blinded, response.evaluated, response.proof);
  return unblindAll(r, response.evaluated);
}

function unblindAll(r: bigint[], evaluated: readonly Uint8Array[]): Uint8Array[] {
  // One field inversion for the whole batch (Montgomery's trick); r_i ≠ 0.
  const inv = FpInvertBatch(Fn, r, true);
  return evaluated.map((e, i) => {
    const ri = inv[i];
    if (ri === undefined || ri === 0n) badMath('blind inverse');
    return encodeElement(decodeElement(e, `evaluated element ${i}`).multiply(ri));
  });
}

/** OPRF mode (§3.3.1) unblind without a proof: N = r⁻¹·Z. */
export function unblind(blindScalar: Uint8Array, evaluated: Uint8Array): Uint8Array {
  const r = nonZeroScalar(blindScalar, 'bad-scalar', 'blind');
  return unblindAll([r], [evaluated])[0]!;
}

/**
 * The RFC 9497 Output for an unblinded element (§3.3.1/§3.3.2 Finalize's last
 * step): SHA-512(I2OSP(len(input), 2) ‖ input ‖ I2OSP(32, 2) ‖ element ‖ "Finalize").
 * Concord publishes the element itself; this exists for the RFC vectors and
 * for interoperating with RFC 9497 clients.
 */
export function finalizeOutput(input: Uint8Array, element: Uint8Array): Uint8Array {
  checkInput(input);
  decodeElement(element, 'unblinded element');
  return sha512(concatBytes(framed(input), framed(element), ascii('Finalize')));
}

/**
 * k·H(input) computed directly from the secret key (RFC 9497 Evaluate
 * without its final hash). What the blinded round trip must produce; the
 * operator can compute it for any input — the reason the blinding key is the
 * crown jewel.
 */
export function evaluate(secretKey: Uint8Array, input: Uint8Array, mode: Mode = MODE_VOPRF): Uint8Array {
  const c = ctxOf(mode);
  const k = nonZeroScalar(secretKey, 'bad-key', 'secret key');
  checkInput(input);
  return encodeElement(hashToGroup(input, c).multiply(k));
}

// ---------------------------------------------------------------------------
// Wire: POST /oprf/evaluate bodies

/**
 * Canonical padded base64 of exactly `length` bytes: bad-json when not a
 * string, bad-base64 when not canonical, `lengthCode` when the length differs.
 */
function base64(s: unknown, what: string, length: number, lengthCode: OprfErrorCode): Uint8Array {
  if (typeof s !== 'string') throw new OprfError('bad-json', `${what} must be a base64 string`);
  let b: Uint8Array;
  try {
    b = fromBase64(s);
  } catch (cause) {
    throw new OprfError('bad-base64', `${what}: not canonical padded base64`, { cause });
  }
  if (b.length !== length) throw new OprfError(lengthCode, `${what}: want ${length} bytes, got ${b.length}`);
  return b;
}

function parseBody(body: unknown, what: string): Record<string, unknown> {
  let text: string;
  if (typeof body === 'string') text = body;
  else if (body instanceof Uint8Array) {
    if (body.length > MAX_BODY_SIZE) throw new OprfError('bad-json', `${what} exceeds ${MAX_BODY_SIZE} bytes`);
    try {
      text = fromUtf8(body);
    } catch (cause) {
      throw new OprfError('bad-json', `${what} is not UTF-8`, { cause });
    }
  } else throw new OprfError('bad-json', `${what} must be a string or bytes`);
  if (text.length > MAX_BODY_SIZE) throw new OprfError('bad-json', `${what} exceeds ${MAX_BODY_SIZE} characters`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (cause) {
    throw new OprfError('bad-json', `${what} is not JSON`, { cause });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new OprfError('bad-json', `${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

function exactKeys(o: Record<string, unknown>, keys: readonly string[], what: string): void {
  const got = Object.keys(o).sort();
  const want = [...keys].sort();
  if (got.length !== want.length || got.some((k, i) => k !== want[i])) {
    throw new OprfError('bad-json', `${what} must have exactly the keys ${want.join(', ')}`);
  }
}

function elementList(v: unknown, what: string): Uint8Array[] {
  if (!Array.isArray(v)) throw new OprfError('bad-json', `${what} must be an array`);
  checkBatch(v.length, what);
  return v.map((s, i) => {
    const b = base64(s, `${what}[${i}]`, ELEMENT_SIZE, 'bad-element');
    decodeElement(b, `${what}[${i}]`);
    return b;
  });
}

function elementStrings(list: readonly Uint8Array[], what: string): string[] {
  checkArray(list, what);
  checkBatch(list.length, what);
  return list.map((b, i) => {
    if (!(b instanceof Uint8Array) || b.length !== ELEMENT_SIZE) throw new OprfError('bad-element', `${what}[${i}] must be ${ELEMENT_SIZE} bytes`);
    return toBase64(b);
  });
}

/** `{"blinded":["<b64>",…]}` for 1 … MAX_BATCH elements. */
export function formatEvaluateRequest(blinded: readonly Uint8Array[]): string {
  return JSON.stringify({ blinded: elementStrings(blinded, 'blinded') });
}

/**
 * Parses a request body strictly: at most MAX_BODY_SIZE, a JSON object with
 * exactly the key "blinded", 1 … MAX_BATCH canonical base64 strings, each a
 * canonical non-identity ristretto255 element.
 */
export function parseEvaluateRequest(body: string | Uint8Array): Uint8Array[] {
  const o = parseBody(body, 'request body');
  exactKeys(o, ['blinded'], 'request body');
  return elementList(o.blinded, 'blinded');
}

/** `{"evaluated":["<b64>",…],"proof":"<b64>"}`. */
export function formatEvaluateResponse(r: Evaluation): string {
  if (!(r.proof instanceof Uint8Array) || r.proof.length !== PROOF_SIZE) throw new OprfError('bad-proof', `proof must be ${PROOF_SIZE} bytes`);
  return JSON.stringify({ evaluated: elementStrings(r.evaluated, 'evaluated'), proof: toBase64(r.proof) });
}

/**
 * Parses a response body strictly: exactly the keys "evaluated" and "proof",
 * exactly `expectedCount` (the request's) canonical elements, and a 64-byte
 * proof whose two scalars are below the order. The proof itself is checked by
 * verifyAndUnblind.
 */
export function parseEvaluateResponse(body: string | Uint8Array, expectedCount: number): Evaluation {
  if (!Number.isInteger(expectedCount) || expectedCount < 1 || expectedCount > MAX_BATCH) {
    throw new OprfError('bad-batch', `expected count must be 1 to ${MAX_BATCH}`);
  }
  const o = parseBody(body, 'response body');
  exactKeys(o, ['evaluated', 'proof'], 'response body');
  if (!Array.isArray(o.evaluated)) throw new OprfError('bad-json', 'evaluated must be an array');
  if (o.evaluated.length !== expectedCount) {
    throw new OprfError('bad-batch', `response has ${o.evaluated.length} evaluated elements for ${expectedCount} blinded`);
  }
  const evaluated = elementList(o.evaluated, 'evaluated');
  const proof = base64(o.proof, 'proof', PROOF_SIZE, 'bad-proof');
  if (scalarFromBytes(proof.subarray(0, SCALAR_SIZE)) === null || scalarFromBytes(proof.subarray(SCALAR_SIZE)) === null) {
    throw new OprfError('bad-proof', 'proof scalar not below the group order');
  }
  return { evaluated, proof };
}
