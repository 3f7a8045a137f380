// Ed25519 through node:crypto (OpenSSL) for the server's hot paths: verifying the one signature
// of every submitted entry, and signing a checkpoint per batch. client-sdk's noble code is the
// reference; these are injected where client-sdk takes an Ed25519Verify or a Signer, and
// log-server/test/ed25519-native.test.ts checks them against it (valid and bit-flipped
// signatures; byte-identical signatures, Ed25519 being deterministic — RFC 8032 §5.1.6).
//
// Strictness. client-sdk verifies RFC 8032 strictly with noble (zip215: false): canonical R and
// A, S < L, small-order public keys refused, and the cofactored equation [8][S]B = [8]R + [8][k]A.
// OpenSSL also requires S < L and recomputes R from [S]B − [k]A and compares encodings (so a
// non-canonical R fails), but checks the cofactorless equation [S]B = R + [k]A, which implies
// the cofactored one. So whatever this accepts, noble accepts: the server is never more lenient
// than devices and auditors. (They can disagree only on signatures whose R carries a torsion
// component, which only the key holder can make; the server then refuses an entry that devices
// would accept, which harms no one but that key holder.) Public keys reach this module only
// after note.parseVerifierKey has refused non-canonical and small-order keys.

import { createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
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

/** An Ed25519 verifier with the Ed25519Verify contract: a boolean, never an exception. */
export function nativeEd25519Verify(): Ed25519Verify {
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

/** Ed25519Verify's asynchronous twin: same answers, computed on libuv's thread pool. */
export type Ed25519VerifyAsync = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => Promise<boolean>;

/**
 * nativeEd25519Verify off the event loop: node:crypto's callback form of verify() runs on the
 * libuv thread pool, so signature checks use the machine's other cores while the event loop
 * parses HTTP and sequences. Resolves to a boolean, never rejects.
 */
export function nativeEd25519VerifyAsync(): Ed25519VerifyAsync {
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
