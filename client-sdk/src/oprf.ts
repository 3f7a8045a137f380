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
// Group backends: every protocol function takes an optional `{ backend }`
// (an OprfBackend: decode/encode, RFC 9496 element derivation, scalar
// multiplication, multi-scalar multiplication). The default is noble, above:
// pure TypeScript, browser-safe. noble's BigInt field arithmetic makes a
// ristretto255 scalar multiplication cost ~1.4 ms, so a 1,000,000-element
// contribution takes hours; oprf-libsodium.ts adapts an injected libsodium
// (libsodium-wrappers-sumo, WASM) for that bulk path: ~0.2 ms per
// multiplication, the whole path ~4.9× faster (scripts/bench/oprf.ts
// measures both). The protocol code — hashing, transcripts, DLEQ proofs,
// scalar arithmetic, every check — is the same for every backend; the RFC
// 9497 vectors and a differential test (test/oprf-sodium.test.ts) run
// through both.
//
// Secret scalars (k, blinds, their inverses, the proof nonce) are only ever
// multiplied with the backend's constant-time `multiply`/`multiplyBase`;
// public data (transcript weights, proof scalars, wire points) goes through
// its multi-scalar multiplication, which may be variable time. Scalar
// arithmetic uses BigInt, like noble's own OPRF.
//
// Every function throws OprfError for bad input; a broken internal invariant
// is badMath.

import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js';
import { mulAddUnsafe } from '@noble/curves/abstract/curve.js';
import { expand_message_xmd } from '@noble/curves/abstract/hash-to-curve.js';
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
/** The default backend's element: @noble/curves' ristretto255 point. */
export type NoblePoint = InstanceType<typeof ristretto255.Point>;
const Fn = Point.Fn;
const ORDER = Fn.ORDER;
const G = Point.BASE;

/**
 * The ristretto255 group (RFC 9496) as the protocol uses it, over a
 * backend-chosen element type E. Scalars are bigints in [0, order). The
 * protocol never passes the identity or a zero scalar to `multiply` or
 * `multiplyBase` (so their results are never the identity); it checks every
 * decoded element for the identity itself.
 */
export interface OprfBackend<E> {
  /** A short name for reports: "noble", "libsodium". */
  readonly name: string;
  /**
   * RFC 9496 §4.3.1 Decode of 32 bytes: the element, or null when the bytes
   * are not a canonical encoding. The identity (32 zero bytes) decodes. The
   * element must not alias `bytes` (the caller may mutate them later).
   */
  decode(bytes: Uint8Array): E | null;
  /** RFC 9496 §4.3.2 Encode: 32 bytes; the identity is 32 zero bytes. */
  encode(e: E): Uint8Array;
  isIdentity(e: E): boolean;
  /** RFC 9496 §4.3.4 Element Derivation (the one-way map) of 64 uniform bytes. */
  fromUniform(bytes: Uint8Array): E;
  /** s·e for a secret scalar 0 < s < order and e ≠ identity: constant time in s. */
  multiply(e: E, s: bigint): E;
  /** s·G for a secret scalar 0 < s < order: constant time in s. */
  multiplyBase(s: bigint): E;
  /** Σ s_i·e_i over public elements and scalars in [0, order); may be variable time. */
  multiScalarMultiply(es: readonly E[], ss: readonly bigint[]): E;
}

/**
 * The default backend: @noble/curves' ristretto255 (constant-time `multiply`,
 * precomputed-table base multiplication, vartime Pippenger MSM). Pure
 * TypeScript; runs in browsers.
 */
export const nobleBackend: OprfBackend<NoblePoint> = Object.freeze({
  name: 'noble',
  decode(bytes: Uint8Array): NoblePoint | null {
    try {
      // noble's decoder accepts only the canonical encoding (RFC 9496 §4.3.1).
      return Point.fromBytes(bytes);
    } catch {
      return null;
    }
  },
  encode: (e: NoblePoint): Uint8Array => e.toBytes(),
  isIdentity: (e: NoblePoint): boolean => e.is0(),
  fromUniform(bytes: Uint8Array): NoblePoint {
    const derive = ristretto255_hasher.deriveToCurve;
    if (derive === undefined) badMath('@noble/curves lacks ristretto255_hasher.deriveToCurve');
    return derive(bytes);
  },
  multiply: (e: NoblePoint, s: bigint): NoblePoint => e.multiply(s),
  multiplyBase: (s: bigint): NoblePoint => G.multiply(s),
  multiScalarMultiply: (es: readonly NoblePoint[], ss: readonly bigint[]): NoblePoint => mulAddUnsafe(Point, [...es], [...ss]),
});

/** The `backend` option every protocol function accepts; noble when omitted. */
export interface BackendOption<E> {
  backend?: OprfBackend<E>;
}

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

// Elements decoded from (or encoded to) a byte array, per backend, keyed by
// that array, so an element parsed from a request is not decoded again when
// it is evaluated, and a client's own blinded elements are never decoded. A
// copy of the bytes is kept and compared on every hit: an array mutated after
// decoding misses.
const decodedBy = new WeakMap<object, WeakMap<Uint8Array, { copy: Uint8Array; e: unknown }>>();

function cacheOf(g: object): WeakMap<Uint8Array, { copy: Uint8Array; e: unknown }> {
  let m = decodedBy.get(g);
  if (m === undefined) decodedBy.set(g, (m = new WeakMap()));
  return m;
}

function remember<E>(g: OprfBackend<E>, bytes: Uint8Array, e: E): void {
  cacheOf(g).set(bytes, { copy: bytes.slice(), e });
}

/**
 * DeserializeElement plus §3.3's rule that an identity element received over
 * the wire MUST be rejected. A backend's decoder accepts only the canonical
 * encoding, so a decoded element's bytes are its SerializeElement.
 */
function decodeElement<E>(g: OprfBackend<E>, b: unknown, what: string, code: 'bad-element' | 'bad-key' = 'bad-element'): E {
  if (!(b instanceof Uint8Array) || b.length !== ELEMENT_SIZE) {
    const got = b instanceof Uint8Array ? `${b.length} bytes` : typeof b;
    throw new OprfError(code, `${what}: want ${ELEMENT_SIZE} bytes, got ${got}`);
  }
  const hit = cacheOf(g).get(b);
  if (hit !== undefined && equalBytes(hit.copy, b)) return hit.e as E;
  let e: E | null;
  try {
    e = g.decode(b);
  } catch (cause) {
    throw new OprfError(code, `${what}: not a canonical ristretto255 encoding`, { cause });
  }
  if (e === null) throw new OprfError(code, `${what}: not a canonical ristretto255 encoding`);
  if (g.isIdentity(e)) throw new OprfError(code, `${what}: the identity element`);
  remember(g, b, e);
  return e;
}

function encodeElement<E>(g: OprfBackend<E>, e: E): Uint8Array {
  const b = g.encode(e);
  if (!(b instanceof Uint8Array) || b.length !== ELEMENT_SIZE) badMath(`${g.name} encoded an element to other than ${ELEMENT_SIZE} bytes`);
  remember(g, b, e);
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

/**
 * H(input): hash_to_ristretto255 (RFC 9380 Appendix B) with DST
 * "HashToGroup-" ‖ contextString = the backend's RFC 9496 element derivation
 * of expand_message_xmd(SHA-512) to 64 bytes; never the identity.
 */
function hashToGroup<E>(g: OprfBackend<E>, input: Uint8Array, c: Ctx): E {
  const e = g.fromUniform(expand_message_xmd(input, c.hashToGroupDST, 64, sha512));
  // §3.3.1: "If inputElement is the identity element, raise InvalidInputError".
  if (g.isIdentity(e)) throw new OprfError('bad-input', 'input hashes to the identity element');
  return e;
}

function backendOf<E>(opts: BackendOption<E> | undefined): OprfBackend<E> | undefined {
  const g = opts?.backend;
  if (g === undefined) return undefined;
  if (typeof g !== 'object' || g === null || typeof g.multiScalarMultiply !== 'function') {
    throw new OprfError('bad-input', 'backend must be an OprfBackend');
  }
  return g;
}

// ---------------------------------------------------------------------------
// Keys (§3.2)

export interface KeyPair {
  /** skS: a non-zero scalar, 32 bytes little-endian. The operator's crown jewel. */
  secretKey: Uint8Array;
  /** pkS = skS·G, 32 bytes: the policy's `blinding-key`. */
  publicKey: Uint8Array;
}

function keyPair<E>(g: OprfBackend<E>, sk: bigint): KeyPair {
  return { secretKey: scalarToBytes(sk), publicKey: encodeElement(g, g.multiplyBase(sk)) };
}

/** §3.2 GenerateKeyPair: a random key pair. */
export function generateKeyPair<E = NoblePoint>(opts?: BackendOption<E>): KeyPair {
  const g = backendOf(opts);
  return g === undefined ? keyPair(nobleBackend, randomScalar()) : keyPair(g, randomScalar());
}

/**
 * §3.2.1 DeriveKeyPair(seed, info): deterministic key pair from a 32-byte
 * seed. The mode is part of the derivation (RFC 9497 test vectors use both).
 */
export function deriveKeyPair<E = NoblePoint>(seed: Uint8Array, info: Uint8Array, mode: Mode = MODE_VOPRF, opts?: BackendOption<E>): KeyPair {
  const g = backendOf(opts);
  const c = ctxOf(mode);
  if (!(seed instanceof Uint8Array) || seed.length !== 32) throw new OprfError('bad-key', 'seed must be 32 bytes');
  if (!(info instanceof Uint8Array) || info.length > MAX_INPUT_SIZE) throw new OprfError('bad-key', 'info must be at most 65,535 bytes');
  // deriveInput = seed ‖ I2OSP(len(info), 2) ‖ info; skS = HashToScalar(deriveInput ‖ I2OSP(counter, 1), DST).
  const msg = concatBytes(seed, framed(info), Uint8Array.of(0));
  for (let counter = 0; counter <= 255; counter++) {
    msg[msg.length - 1] = counter;
    const sk = hashToScalar(msg, c.deriveKeyPairDST);
    if (sk !== 0n) return g === undefined ? keyPair(nobleBackend, sk) : keyPair(g, sk);
  }
  // §3.2.1: DeriveKeyPairError; probability ~2^-2000.
  throw new OprfError('bad-key', 'DeriveKeyPair found no non-zero scalar');
}

/** pkS = skS·G for a secret key. */
export function publicKeyFromSecretKey<E = NoblePoint>(secretKey: Uint8Array, opts?: BackendOption<E>): Uint8Array {
  const g = backendOf(opts);
  const sk = nonZeroScalar(secretKey, 'bad-key', 'secret key');
  return g === undefined ? keyPair(nobleBackend, sk).publicKey : keyPair(g, sk).publicKey;
}

/** Checks a public key: 32 bytes, canonical, not the identity. Returns it. */
export function checkPublicKey<E = NoblePoint>(publicKey: Uint8Array, opts?: BackendOption<E>): Uint8Array {
  const g = backendOf(opts);
  if (g === undefined) decodeElement(nobleBackend, publicKey, 'public key', 'bad-key');
  else decodeElement(g, publicKey, 'public key', 'bad-key');
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

function blindWith<E>(g: OprfBackend<E>, c: Ctx, input: Uint8Array, r: bigint): Blinded {
  return { blind: scalarToBytes(r), blinded: encodeElement(g, g.multiply(hashToGroup(g, input, c), r)) };
}

/**
 * Blind(input). `opts.blind` fixes r — for RFC test vectors only; omit it in
 * production so r is fresh and uniform (a reused r links inputs).
 */
export function blind<E = NoblePoint>(input: Uint8Array, opts?: { mode?: Mode; blind?: Uint8Array } & BackendOption<E>): Blinded {
  const g = backendOf(opts);
  const c = ctxOf(opts?.mode ?? MODE_VOPRF);
  checkInput(input);
  const r = opts?.blind === undefined ? randomScalar() : nonZeroScalar(opts.blind, 'bad-scalar', 'blind');
  return g === undefined ? blindWith(nobleBackend, c, input, r) : blindWith(g, c, input, r);
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
function challenge<E>(g: OprfBackend<E>, c: Ctx, Bm: Uint8Array, M: E, Z: E, t2: E, t3: E): bigint {
  const parts = [Bm, g.encode(M), g.encode(Z), g.encode(t2), g.encode(t3)].map(framed);
  return hashToScalar(concatBytes(...parts, ascii('Challenge')), c.hashToScalarDST);
}

/** §2.2.1 GenerateProof with ComputeCompositesFast (the prover knows k, so Z = k·M). */
function generateProof<E>(
  g: OprfBackend<E>,
  c: Ctx,
  k: bigint,
  Bm: Uint8Array,
  C: E[],
  Cb: readonly Uint8Array[],
  Db: readonly Uint8Array[],
  r: bigint,
): Uint8Array {
  const d = compositeWeights(c, Bm, Cb, Db);
  const M = g.multiScalarMultiply(C, d);
  // M is the identity with probability ~2^-252; then so are Z and t3.
  const Z = g.isIdentity(M) ? M : g.multiply(M, k);
  const t2 = g.multiplyBase(r);
  const t3 = g.isIdentity(M) ? M : g.multiply(M, r);
  const ch = challenge(g, c, Bm, M, Z, t2, t3);
  const s = Fn.sub(r, Fn.mul(ch, k));
  return concatBytes(scalarToBytes(ch), scalarToBytes(s));
}

/** §2.2.2 VerifyProof(A = G, B = pkS, C, D, proof); throws bad-proof. */
function verifyProofElements<E>(
  g: OprfBackend<E>,
  c: Ctx,
  B: E,
  Bm: Uint8Array,
  C: E[],
  Cb: readonly Uint8Array[],
  D: E[],
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
  const M = g.multiScalarMultiply(C, d);
  const Z = g.multiScalarMultiply(D, d);
  const t2 = g.multiScalarMultiply([g.multiplyBase(1n), B], [s, ch]);
  const t3 = g.multiScalarMultiply([M, Z], [s, ch]);
  if (challenge(g, c, Bm, M, Z, t2, t3) !== ch) throw new OprfError('bad-proof', 'DLEQ proof does not verify');
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
export function blindEvaluate<E = NoblePoint>(secretKey: Uint8Array, blinded: Uint8Array, opts?: BackendOption<E>): Uint8Array {
  const g = backendOf(opts);
  const k = nonZeroScalar(secretKey, 'bad-key', 'secret key');
  const run = <F>(g: OprfBackend<F>): Uint8Array => encodeElement(g, g.multiply(decodeElement(g, blinded, 'blinded element'), k));
  return g === undefined ? run(nobleBackend) : run(g);
}

function blindEvaluateWith<E>(
  g: OprfBackend<E>,
  k: bigint,
  publicKey: Uint8Array,
  blinded: readonly Uint8Array[],
  proofScalar: Uint8Array | undefined,
): Evaluation {
  decodeElement(g, publicKey, 'public key', 'bad-key');
  if (!equalBytes(g.encode(g.multiplyBase(k)), publicKey)) throw new OprfError('bad-key', 'public key does not match the secret key');
  checkArray(blinded, 'blinded elements');
  checkBatch(blinded.length, 'blinded elements');
  const r = proofScalar === undefined ? randomScalar() : nonZeroScalar(proofScalar, 'bad-scalar', 'proof scalar');
  const C = blinded.map((b, i) => decodeElement(g, b, `blinded element ${i}`));
  const evaluated = C.map((e) => encodeElement(g, g.multiply(e, k)));
  const proof = generateProof(g, CTX[MODE_VOPRF], k, publicKey, C, blinded, evaluated, r);
  return { evaluated, proof };
}

/**
 * VOPRF mode (§3.3.2) BlindEvaluate over a batch of 1 … MAX_BATCH elements
 * with one proof. publicKey must be secretKey's (checked: a proof against
 * another key would be rejected by every client). `opts.proofScalar` fixes
 * the proof nonce — for RFC test vectors only; a repeated nonce with
 * different batches reveals k.
 */
export function blindEvaluateBatch<E = NoblePoint>(
  secretKey: Uint8Array,
  publicKey: Uint8Array,
  blinded: readonly Uint8Array[],
  opts?: { proofScalar?: Uint8Array } & BackendOption<E>,
): Evaluation {
  const g = backendOf(opts);
  const k = nonZeroScalar(secretKey, 'bad-key', 'secret key');
  return g === undefined
    ? blindEvaluateWith(nobleBackend, k, publicKey, blinded, opts?.proofScalar)
    : blindEvaluateWith(g, k, publicKey, blinded, opts?.proofScalar);
}

// ---------------------------------------------------------------------------
// Client: verify and unblind (§3.3.2 Finalize, without the final hash)

function verifyProofWith<E>(
  g: OprfBackend<E>,
  publicKey: Uint8Array,
  blinded: readonly Uint8Array[],
  evaluated: readonly Uint8Array[],
  proof: Uint8Array,
): void {
  const B = decodeElement(g, publicKey, 'public key', 'bad-key');
  checkArray(blinded, 'blinded elements');
  checkArray(evaluated, 'evaluated elements');
  checkBatch(blinded.length, 'blinded elements');
  if (evaluated.length !== blinded.length) {
    throw new OprfError('bad-batch', `${evaluated.length} evaluated elements for ${blinded.length} blinded`);
  }
  const C = blinded.map((b, i) => decodeElement(g, b, `blinded element ${i}`));
  const D = evaluated.map((b, i) => decodeElement(g, b, `evaluated element ${i}`));
  verifyProofElements(g, CTX[MODE_VOPRF], B, publicKey, C, blinded, D, evaluated, proof);
}

/**
 * VOPRF verification alone: does `proof` show that evaluated[i] = k·blinded[i]
 * for every i, with publicKey = k·G? Throws bad-proof (or bad-element,
 * bad-key, bad-batch for malformed arguments).
 */
export function verifyProof<E = NoblePoint>(
  publicKey: Uint8Array,
  blinded: readonly Uint8Array[],
  evaluated: readonly Uint8Array[],
  proof: Uint8Array,
  opts?: BackendOption<E>,
): void {
  const g = backendOf(opts);
  if (g === undefined) verifyProofWith(nobleBackend, publicKey, blinded, evaluated, proof);
  else verifyProofWith(g, publicKey, blinded, evaluated, proof);
}

/**
 * Verifies the batch's DLEQ proof against publicKey (the policy's
 * blinding-key) and unblinds every evaluated element: returns
 * N_i = blinds[i]⁻¹ · evaluated[i] = k·H(input_i), 32 bytes each, in order.
 * Nothing is returned unless the whole batch verifies.
 */
export function verifyAndUnblind<E = NoblePoint>(
  publicKey: Uint8Array,
  blinds: readonly Uint8Array[],
  blinded: readonly Uint8Array[],
  response: Evaluation,
  opts?: BackendOption<E>,
): Uint8Array[] {
  const g = backendOf(opts);
  if (typeof response !== 'object' || response === null) throw new OprfError('bad-batch', 'response must be an object');
  checkArray(blinds, 'blinds');
  checkArray(blinded, 'blinded elements');
  if (blinds.length !== blinded.length) throw new OprfError('bad-batch', `${blinds.length} blinds for ${blinded.length} blinded elements`);
  const r = blinds.map((b, i) => nonZeroScalar(b, 'bad-scalar', `blind ${i}`));
  const run = <F>(g: OprfBackend<F>): Uint8Array[] => {
    verifyProofWith(g, publicKey, blinded, response.evaluated, response.proof);
    return unblindAll(g, r, response.evaluated);
  };
  return g === undefined ? run(nobleBackend) : run(g);
}

function unblindAll<E>(g: OprfBackend<E>, r: bigint[], evaluated: readonly Uint8Array[]): Uint8Array[] {
  // One field inversion for the whole batch (Montgomery's trick); r_i ≠ 0.
  const inv = FpInvertBatch(Fn, r, true);
  return evaluated.map((e, i) => {
    const ri = inv[i];
    if (ri === undefined || ri === 0n) badMath('blind inverse');
    return encodeElement(g, g.multiply(decodeElement(g, e, `evaluated element ${i}`), ri));
  });
}

/** OPRF mode (§3.3.1) unblind without a proof: N = r⁻¹·Z. */
export function unblind<E = NoblePoint>(blindScalar: Uint8Array, evaluated: Uint8Array, opts?: BackendOption<E>): Uint8Array {
  const g = backendOf(opts);
  const r = nonZeroScalar(blindScalar, 'bad-scalar', 'blind');
  return (g === undefined ? unblindAll(nobleBackend, [r], [evaluated]) : unblindAll(g, [r], [evaluated]))[0]!;
}

/**
 * The RFC 9497 Output for an unblinded element (§3.3.1/§3.3.2 Finalize's last
 * step): SHA-512(I2OSP(len(input), 2) ‖ input ‖ I2OSP(32, 2) ‖ element ‖ "Finalize").
 * Concord publishes the element itself; this exists for the RFC vectors and
 * for interoperating with RFC 9497 clients.
 */
export function finalizeOutput<E = NoblePoint>(input: Uint8Array, element: Uint8Array, opts?: BackendOption<E>): Uint8Array {
  checkInput(input);
  const g = backendOf(opts);
  if (g === undefined) decodeElement(nobleBackend, element, 'unblinded element');
  else decodeElement(g, element, 'unblinded element');
  return sha512(concatBytes(framed(input), framed(element), ascii('Finalize')));
}

/**
 * k·H(input) computed directly from the secret key (RFC 9497 Evaluate
 * without its final hash). What the blinded round trip must produce; the
 * operator can compute it for any input — the reason the blinding key is the
 * crown jewel.
 */
export function evaluate<E = NoblePoint>(secretKey: Uint8Array, input: Uint8Array, mode: Mode = MODE_VOPRF, opts?: BackendOption<E>): Uint8Array {
  const g = backendOf(opts);
  const c = ctxOf(mode);
  const k = nonZeroScalar(secretKey, 'bad-key', 'secret key');
  checkInput(input);
  const run = <F>(g: OprfBackend<F>): Uint8Array => encodeElement(g, g.multiply(hashToGroup(g, input, c), k));
  return g === undefined ? run(nobleBackend) : run(g);
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

function elementList<E>(g: OprfBackend<E>, v: unknown, what: string): Uint8Array[] {
  if (!Array.isArray(v)) throw new OprfError('bad-json', `${what} must be an array`);
  checkBatch(v.length, what);
  return v.map((s, i) => {
    const b = base64(s, `${what}[${i}]`, ELEMENT_SIZE, 'bad-element');
    decodeElement(g, b, `${what}[${i}]`);
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
export function parseEvaluateRequest<E = NoblePoint>(body: string | Uint8Array, opts?: BackendOption<E>): Uint8Array[] {
  const g = backendOf(opts);
  const o = parseBody(body, 'request body');
  exactKeys(o, ['blinded'], 'request body');
  return g === undefined ? elementList(nobleBackend, o.blinded, 'blinded') : elementList(g, o.blinded, 'blinded');
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
export function parseEvaluateResponse<E = NoblePoint>(body: string | Uint8Array, expectedCount: number, opts?: BackendOption<E>): Evaluation {
  const g = backendOf(opts);
  if (!Number.isInteger(expectedCount) || expectedCount < 1 || expectedCount > MAX_BATCH) {
    throw new OprfError('bad-batch', `expected count must be 1 to ${MAX_BATCH}`);
  }
  const o = parseBody(body, 'response body');
  exactKeys(o, ['evaluated', 'proof'], 'response body');
  if (!Array.isArray(o.evaluated)) throw new OprfError('bad-json', 'evaluated must be an array');
  if (o.evaluated.length !== expectedCount) {
    throw new OprfError('bad-batch', `response has ${o.evaluated.length} evaluated elements for ${expectedCount} blinded`);
  }
  const evaluated = g === undefined ? elementList(nobleBackend, o.evaluated, 'evaluated') : elementList(g, o.evaluated, 'evaluated');
  const proof = base64(o.proof, 'proof', PROOF_SIZE, 'bad-proof');
  if (scalarFromBytes(proof.subarray(0, SCALAR_SIZE)) === null || scalarFromBytes(proof.subarray(SCALAR_SIZE)) === null) {
    throw new OprfError('bad-proof', 'proof scalar not below the group order');
  }
  return { evaluated, proof };
}
