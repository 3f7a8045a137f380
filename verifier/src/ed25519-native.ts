// Native Ed25519 verification for checking the one signature of every entry in an audit: client-
// sdk's pure-JavaScript path costs about 3 ms per signature, which a 100,000-entry audit would
// spend minutes in. libsodium (the sodium-native addon) when it loads — 2–3× node:crypto's
// OpenSSL 3.0 on one core on the build machine — else node:crypto. The same backends the log
// server uses; test/ed25519-native.test.ts checks both against client-sdk's strict noble
// verification (bit flips, non-canonical S, small-order and mixed-torsion R: neither native
// backend accepts anything noble refuses), and verifier/test/audit-findings.test.ts compares the
// entry-author checks built on both. A boolean, never an exception (the Ed25519Verify
// contract); OpenSSL public keys are parsed once and kept (bounded).

import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import { toHex } from '@concord/client-sdk/bytes';
import type { Ed25519Verify } from '@concord/client-sdk/note';

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4) before the 32-byte key. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** A cache of parsed public keys: null for bytes that are not a 32-byte key with a 64-byte signature. */
function keyCache(): (publicKey: Uint8Array, signature: Uint8Array) => KeyObject | null {
  const keys = new Map<string, KeyObject>();
  return (publicKey, signature) => {
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32 || !(signature instanceof Uint8Array) || signature.length !== 64) return null;
    const id = toHex(publicKey);
    let ko = keys.get(id);
    if (ko === undefined) {
      ko = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
      if (keys.size > 4096) keys.clear();
      keys.set(id, ko);
    }
    return ko;
  };
}

/** The part of sodium-native this module uses. */
interface SodiumNative {
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
}

let sodium: SodiumNative | null | undefined;

function loadSodium(): SodiumNative | null {
  if (sodium === undefined) {
    try {
      sodium = createRequire(import.meta.url)('sodium-native') as SodiumNative;
      if (typeof sodium.crypto_sign_verify_detached !== 'function') sodium = null;
    } catch {
      sodium = null;
    }
  }
  return sodium;
}

/** Which library nativeEd25519Verify uses here. */
export function nativeEd25519Backend(): 'libsodium' | 'openssl' {
  return loadSodium() === null ? 'openssl' : 'libsodium';
}

/** libsodium's verifier, or null when sodium-native does not load on this platform. */
function sodiumVerify(): Ed25519Verify | null {
  const s = loadSodium();
  if (s === null) return null;
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

/** libsodium when it loads, else node:crypto. */
export function nativeEd25519Verify(): Ed25519Verify {
  return sodiumVerify() ?? opensslEd25519Verify();
}

/** node:crypto's (OpenSSL's) verifier. */
export function opensslEd25519Verify(): Ed25519Verify {
  const key = keyCache();
  return (publicKey, message, signature) => {
    try {
      const ko = key(publicKey, signature);
      return ko !== null && cryptoVerify(null, message, ko, signature);
    } catch {
      return false;
    }
  };
}

/**
 * For verifying many signatures: libsodium on the event loop when it loads (faster on one core
 * than OpenSSL on libuv's threads, and it leaves the other cores to downloading and hashing),
 * else opensslEd25519VerifyAsync.
 */
export function nativeEd25519VerifyAsync(): (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => Promise<boolean> {
  const v = sodiumVerify();
  return v === null ? opensslEd25519VerifyAsync() : async (publicKey, message, signature) => v(publicKey, message, signature);
}

/** opensslEd25519Verify off the event loop: node:crypto's callback form runs on libuv's thread pool. */
export function opensslEd25519VerifyAsync(): (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => Promise<boolean> {
  const key = keyCache();
  return (publicKey, message, signature) =>
    new Promise<boolean>((resolve) => {
      try {
        const ko = key(publicKey, signature);
        if (ko === null) return resolve(false);
        cryptoVerify(null, message, ko, signature, (err, ok) => resolve(err === null && ok === true));
      } catch {
        resolve(false);
      }
    });
}
