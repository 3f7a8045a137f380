// An OprfBackend (oprf.ts) over an injected libsodium: the bulk path for RFC
// 9497 VOPRF ristretto255-SHA512.
//
//   https://doc.libsodium.org/advanced/point-arithmetic/ristretto
//   https://www.rfc-editor.org/rfc/rfc9496.html   (the group libsodium implements)
//
//   element   32-byte canonical ristretto255 encoding — the same bytes on the wire,
//             so libsodium's element type is the encoding itself
//   scalar    32 bytes little-endian, below the group order
//
//   backend method        libsodium function
//   decode                crypto_core_ristretto255_is_valid_point (canonical; identity allowed)
//   fromUniform           crypto_core_ristretto255_from_hash (RFC 9496 §4.3.4, 64 bytes)
//   multiply              crypto_scalarmult_ristretto255           (constant time)
//   multiplyBase          crypto_scalarmult_ristretto255_base      (constant time)
//   multiScalarMultiply   Σ crypto_scalarmult_ristretto255, crypto_core_ristretto255_add
//
// Why (scripts/bench/oprf.ts, batch 1,000, medians per CPU second): a scalar
// multiplication costs ~1.45 ms in noble's BigInt field arithmetic and
// ~0.21 ms in libsodium 1.0.22 (compiled to WASM by libsodium.js); the whole
// contribute path runs at 737 elements/s against noble's 151 (4.9×).
//
// client-sdk does not depend on libsodium: the caller passes the library in
// (libsodium-wrappers-sumo after `await sodium.ready`, in Node or a browser),
// so this file imports nothing and the default noble path stays dependency-free.
// verifier/src/oprf-sodium.ts and log-server/src/oprf-sodium.ts load it.
//
// The multi-scalar multiplication is a plain sum of products: libsodium has no
// variable-time or multi-scalar API, and every `add` decodes both operands
// and encodes the sum (an inverse square root each), ~0.03 ms, so a
// bucket method built from it needs more time than the n multiplications.

import { badMath } from './errors.js';
import type { OprfBackend } from './oprf.js';

/** The libsodium functions the backend uses (a structural subset of libsodium-wrappers-sumo). */
export interface LibsodiumRistretto255 {
  crypto_core_ristretto255_is_valid_point(p: Uint8Array): boolean;
  crypto_core_ristretto255_from_hash(r: Uint8Array): Uint8Array;
  crypto_core_ristretto255_add(p: Uint8Array, q: Uint8Array): Uint8Array;
  crypto_scalarmult_ristretto255(n: Uint8Array, p: Uint8Array): Uint8Array;
  crypto_scalarmult_ristretto255_base(n: Uint8Array): Uint8Array;
}

const ELEMENT_SIZE = 32;

/** A scalar in [0, 2^256) as 32 bytes little-endian. */
function scalarBytes(n: bigint): Uint8Array {
  if (n < 0n || n >> 256n !== 0n) badMath('scalar out of range');
  const hex = n.toString(16).padStart(64, '0');
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(hex.slice(62 - 2 * i, 64 - 2 * i), 16);
  return out;
}

function isZero(b: Uint8Array): boolean {
  let acc = 0;
  for (const x of b) acc |= x;
  return acc === 0;
}

function checked(b: Uint8Array, what: string): Uint8Array {
  if (!(b instanceof Uint8Array) || b.length !== ELEMENT_SIZE) badMath(`libsodium ${what} returned other than ${ELEMENT_SIZE} bytes`);
  return b;
}

/**
 * An OprfBackend over `lib`. The library must be initialised (libsodium.js:
 * `await sodium.ready`). Elements are their 32-byte encodings; the identity
 * is 32 zero bytes.
 */
export function libsodiumBackend(lib: LibsodiumRistretto255): OprfBackend<Uint8Array> {
  for (const f of [
    'crypto_core_ristretto255_is_valid_point',
    'crypto_core_ristretto255_from_hash',
    'crypto_core_ristretto255_add',
    'crypto_scalarmult_ristretto255',
    'crypto_scalarmult_ristretto255_base',
  ] as const) {
    if (typeof lib?.[f] !== 'function') throw new TypeError(`libsodiumBackend: the library lacks ${f} (use a sumo build, initialised)`);
  }
  const mul = (e: Uint8Array, s: bigint): Uint8Array => checked(lib.crypto_scalarmult_ristretto255(scalarBytes(s), e), 'scalarmult');
  return Object.freeze({
    name: 'libsodium',
    decode(bytes: Uint8Array): Uint8Array | null {
      if (!(bytes instanceof Uint8Array) || bytes.length !== ELEMENT_SIZE) return null;
      // A copy: the element must not alias the caller's array.
      return lib.crypto_core_ristretto255_is_valid_point(bytes) ? bytes.slice() : null;
    },
    encode: (e: Uint8Array): Uint8Array => e,
    isIdentity: isZero,
    fromUniform: (bytes: Uint8Array): Uint8Array => {
      if (!(bytes instanceof Uint8Array) || bytes.length !== 64) badMath('fromUniform wants 64 bytes');
      return checked(lib.crypto_core_ristretto255_from_hash(bytes), 'from_hash');
    },
    // crypto_scalarmult_ristretto255 refuses (throws) when the product is the
    // identity; the protocol never multiplies the identity or by zero.
    multiply: mul,
    multiplyBase: (s: bigint): Uint8Array => checked(lib.crypto_scalarmult_ristretto255_base(scalarBytes(s)), 'scalarmult_base'),
    multiScalarMultiply(es: readonly Uint8Array[], ss: readonly bigint[]): Uint8Array {
      if (es.length !== ss.length) badMath('multiScalarMultiply: lengths differ');
      let acc: Uint8Array | null = null;
      for (let i = 0; i < es.length; i++) {
        const e = es[i]!;
        const s = ss[i]!;
        // 0·e and s·identity are the identity, which adds nothing.
        if (s === 0n || isZero(e)) continue;
        const t = mul(e, s);
        acc = acc === null ? t : checked(lib.crypto_core_ristretto255_add(acc, t), 'add');
      }
      return acc ?? new Uint8Array(ELEMENT_SIZE);
    },
  });
}
