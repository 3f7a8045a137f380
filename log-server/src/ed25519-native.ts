// Ed25519 for the server's hot paths: verifying the one signature of every submitted entry, and
// signing a checkpoint per batch. client-sdk's noble code is the reference; these are injected
// where client-sdk takes an Ed25519Verify or a Signer, and log-server/test/ed25519-native.test.ts
// checks them against it (valid and bit-flipped signatures, non-canonical and small-order
// encodings; byte-identical signatures, Ed25519 being deterministic — RFC 8032 §5.1.6).
//
// Two native verifiers. libsodium (the sodium-native addon, prebuilt for the usual platforms)
// verifies 1.4–2.5× as fast as OpenSSL 3.0 (scripts/bench/sequencer.ts measures both in the
// same run: OpenSSL's Ed25519 works on 32-bit limbs and looks its algorithm up by name on every
// call); nativeEd25519Verify uses it when the addon loads and node:crypto (OpenSSL) otherwise.
//
// Strictness. client-sdk verifies RFC 8032 strictly with noble (zip215: false): canonical R and
// A, S < L, small-order public keys refused, and the cofactored equation [8][S]B = [8]R + [8][k]A.
// Both native verifiers are at least as strict, so the server is never more lenient than devices
// and auditors:
//   - OpenSSL requires S < L and recomputes R from [S]B − [k]A and compares encodings (so a
//     non-canonical R fails): the cofactorless equation [S]B = R + [k]A, which implies the
//     cofactored one;
//   - libsodium (crypto_sign_verify_detached) does the same, and also refuses a small-order R
//     and a non-canonical or small-order A.
// They can disagree with noble only on signatures whose R carries a torsion component or is of
// small order, which only the key holder can make; the server then refuses an entry that devices
// would accept, which harms no one but that key holder. Public keys reach this module only after
// note.parseVerifierKey has refused non-canonical and small-order keys.

import { createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import { parseSignerKey, KEY_TYPE_ED25519, NoteError } from '@concord/client-sdk/note';
import type { Ed25519Verify, Signer } from '@concord/client-sdk/note';

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4) before the 32-byte key. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
/** DER prefix of an Ed25519 PKCS #8 PrivateKeyInfo (RFC 8410 §7) before the 32-byte seed. */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** Public keys seen recently, parsed once: a policy has a few dozen keys, so this stays small. */
const MAX_CACHED_KEYS = 4096;

function publicKeyObject(cache: Map<string, KeyObject>, pk: Uint8Array): KeyObject {
  const id = Buffer.from(pk.buffer, pk.byteOffset, pk.byteLength).toString('base64');
  let ko = cache.get(id);
  if (ko === undefined) {
    ko = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pk]), format: 'der', type: 'spki' });
    if (cache.size >= MAX_CACHED_KEYS) cache.delete(cache.keys().next().value!);
    cache.set(id, ko);
  }
  return ko;
}

/** The part of sodium-native this module uses. */
interface SodiumNative {
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
}

/** Which native library verifies. */
export type Ed25519Backend = 'libsodium' | 'openssl';

/** The file the sodium-native addon loads from, or null when it is not installed. */
export function sodiumNativePath(): string | null {
  try {
    return createRequire(import.meta.url).resolve('sodium-native');
  } catch {
    return null;
  }
}

let sodium: SodiumNative | null | undefined;

/** sodium-native, or null when it is missing or does not load on this platform. */
function loadSodium(): SodiumNative | null {
  if (sodium === undefined) {
    const file = sodiumNativePath();
    try {
      sodium = file === null ? null : (createRequire(import.meta.url)(file) as SodiumNative);
      if (typeof sodium?.crypto_sign_verify_detached !== 'function') sodium = null;
    } catch {
      sodium = null;
    }
  }
  return sodium;
}

/** The backend nativeEd25519Verify() uses on this machine. */
export function nativeEd25519Backend(): Ed25519Backend {
  return loadSodium() === null ? 'openssl' : 'libsodium';
}

/**
 * A native Ed25519 verifier with the Ed25519Verify contract (a boolean, never an exception):
 * libsodium when the sodium-native addon loads, else node:crypto; `backend` forces one (a
 * missing libsodium then throws).
 */
export function nativeEd25519Verify(backend?: Ed25519Backend): Ed25519Verify {
  if (backend === 'openssl') return opensslEd25519Verify();
  const s = loadSodium();
  if (s === null) {
    if (backend === 'libsodium') throw new Error('sodium-native is not available on this platform');
    return opensslEd25519Verify();
  }
  return (publicKey, message, signature) => {
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false;
    if (!(message instanceof Uint8Array) || !(signature instanceof Uint8Array) || signature.length !== 64) return false;
    try {
      return s.crypto_sign_verify_detached(signature, message, publicKey) === true;
    } catch {
      return false;
    }
  };
}

/** node:crypto's (OpenSSL's) Ed25519 verifier, with the Ed25519Verify contract. */
export function opensslEd25519Verify(): Ed25519Verify {
  const cache = new Map<string, KeyObject>();
  return (publicKey, message, signature) => {
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false;
    if (!(message instanceof Uint8Array) || !(signature instanceof Uint8Array) || signature.length !== 64) return false;
    try {
      return cryptoVerify(null, message, publicKeyObject(cache, publicKey), signature);
    } catch {
      return false;
    }
  };
}

/**
 * Ed25519Verify's asynchronous twin: same answers, computed off the event loop. Resolves to the
 * verdict; rejects only when the verifier itself failed (a worker thread died), never for a bad
 * signature or malformed input.
 */
export type Ed25519VerifyAsync = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => Promise<boolean>;

/**
 * opensslEd25519Verify off the event loop: node:crypto's callback form of verify() runs on the
 * libuv thread pool. Resolves to a boolean, never rejects. (The server's default is the worker
 * pool of ed25519-pool.ts, which batches and uses libsodium when it can.)
 */
export function opensslEd25519VerifyAsync(): Ed25519VerifyAsync {
  const cache = new Map<string, KeyObject>();
  return (publicKey, message, signature) =>
    new Promise<boolean>((resolve) => {
      if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return resolve(false);
      if (!(message instanceof Uint8Array) || !(signature instanceof Uint8Array) || signature.length !== 64) return resolve(false);
      try {
        cryptoVerify(null, message, publicKeyObject(cache, publicKey), signature, (err, ok) => resolve(err === null && ok === true));
      } catch {
        resolve(false);
      }
    });
}

/** Wraps a synchronous verifier as an asynchronous one (tests inject noble this way). */
export function asyncVerify(verify: Ed25519Verify): Ed25519VerifyAsync {
  return async (pk, msg, sig) => {
    try {
      return verify(pk, msg, sig) === true;
    } catch {
      return false;
    }
  };
}

/**
 * A note Signer for an Ed25519 (type 0x01) signer key `PRIVATE+KEY+…`, signing with
 * node:crypto. Same name, key ID and (deterministic) signatures as note.newSigner.
 * Throws NoteError('bad-key').
 */
export function nativeSigner(skey: string): Signer {
  const k = parseSignerKey(skey);
  if (k.type !== KEY_TYPE_ED25519) throw new NoteError('bad-key', 'skey: not an Ed25519 (type 0x01) note key');
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, k.seed]), format: 'der', type: 'pkcs8' });
  return Object.freeze({
    name: k.name,
    keyHash: k.keyHash,
    sign: (msg: Uint8Array): Uint8Array => new Uint8Array(cryptoSign(null, msg, key)),
  });
}
