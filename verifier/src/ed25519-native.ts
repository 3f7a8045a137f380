// Ed25519 verification by node:crypto (OpenSSL), for checking the one signature of every entry
// in an audit: about 50× faster than client-sdk's pure-JavaScript path, which a 100,000-entry
// audit would spend minutes in. The same native path the log server uses
// (log-server/src/ed25519-native.ts, differential-tested against client-sdk's strict noble
// verification there; verifier/test/audit-findings.test.ts compares the entry-author checks
// built on both). A boolean, never an exception (the Ed25519Verify contract); public keys are
// parsed once and kept (bounded).

import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
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

export function nativeEd25519Verify(): Ed25519Verify {
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

/** nativeEd25519Verify off the event loop: node:crypto's callback form runs on libuv's thread pool. */
export function nativeEd25519VerifyAsync(): (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => Promise<boolean> {
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
