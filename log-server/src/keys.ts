// The log's secret key files (DESIGN.md "Keys"), all in the data directory, mode 0600:
//
//   log.key        PRIVATE+KEY+<origin>+<hex8>+<base64(0x01 ‖ seed)>\n            signs checkpoints
//   operator.key   PRIVATE+KEY+<origin>/operator+<hex8>+<base64(0x01 ‖ seed)>\n   signs policies, releases
//   blinding.key   concord-blinding-key/v1 ristretto255 <base64(scalar, 32 bytes little-endian)>\n
//
// and their public parts beside them (mode 0644): log.vkey, operator.vkey (verifier keys) and
// blinding.pub (base64 of the ristretto255 public key k·G, the policy's `blinding-key`).
//
// The blinding scalar is RFC 9497's SerializeScalar for ristretto255 (32 bytes, little-endian,
// < the group order, never 0), drawn as 64 random bytes reduced modulo the order so that it is
// uniform (RFC 9497 §4.1 RandomScalar is sampling in the group's field; a wide reduction is the
// standard way to get there from bytes). Secret files are created with O_EXCL (never overwritten)
// and fsynced; reading one that others may read is reported, as ssh does.

import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { ristretto255 } from '@noble/curves/ed25519.js';
import { ConcordError } from '@concord/client-sdk/errors';
import { fromBase64, toBase64 } from '@concord/client-sdk/bytes';
import { parseSignerKey } from '@concord/client-sdk/note';

export type KeyFileErrorCode =
  /** A key file is missing. */
  | 'not-found'
  /** A key file that should be new already exists. */
  | 'exists'
  /** A key file does not hold a key of its kind. */
  | 'bad-key-file'
  /** A secret key file is readable or writable by group or others. */
  | 'insecure-permissions';

export class KeyFileError extends ConcordError<KeyFileErrorCode> {
  override readonly name = 'KeyFileError';
}

export const KEY_FILES = {
  log: 'log.key',
  operator: 'operator.key',
  blinding: 'blinding.key',
  logPublic: 'log.vkey',
  operatorPublic: 'operator.vkey',
  blindingPublic: 'blinding.pub',
} as const;

const BLINDING_HEADER = 'concord-blinding-key/v1 ristretto255 ';

/** Writes a new file (error 'exists' if there is one) with the given mode, and fsyncs it. */
export function writeNewFile(file: string, content: string, mode: number): void {
  let fd: number;
  try {
    fd = openSync(file, 'wx', mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new KeyFileError('exists', `${file} already exists`);
    throw err;
  }
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes a secret key file: mode 0600, never over an existing file. */
export function writeSecretFile(file: string, content: string): void {
  writeNewFile(file, content, 0o600);
}

function readKeyFile(file: string, secret: boolean, warn?: (message: string) => void): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
    if (secret && (statSync(file).mode & 0o077) !== 0) {
      const msg = `${file} is accessible by group or others (mode ${(statSync(file).mode & 0o777).toString(8)}); it should be 0600`;
      if (warn === undefined) throw new KeyFileError('insecure-permissions', msg);
      warn(msg);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new KeyFileError('not-found', `no key file ${file}`);
    throw err;
  }
  if (!text.endsWith('\n') || text.indexOf('\n') !== text.length - 1) throw new KeyFileError('bad-key-file', `${file} must hold one line`);
  return text.slice(0, -1);
}

/** Reads a signer key file (PRIVATE+KEY+…), checking that it parses. */
export function readSignerKeyFile(file: string, warn?: (message: string) => void): string {
  const skey = readKeyFile(file, true, warn);
  try {
    parseSignerKey(skey);
  } catch (err) {
    throw new KeyFileError('bad-key-file', `${file} does not hold a signer key`, { cause: err });
  }
  return skey;
}

export interface BlindingKey {
  /** RFC 9497 SerializeScalar: 32 bytes little-endian, 0 < k < order. */
  readonly scalar: Uint8Array;
  /** k·G, encoded (the policy's blinding-key). */
  readonly publicKey: Uint8Array;
}

function leBytesToBigint(b: Uint8Array): bigint {
  let x = 0n;
  for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]!);
  return x;
}

function blindingFromScalar(k: bigint): BlindingKey {
  const Fn = ristretto255.Point.Fn;
  return { scalar: Fn.toBytes(k), publicKey: ristretto255.Point.BASE.multiply(k).toBytes() };
}

/** A fresh blinding key: a uniform non-zero scalar modulo the ristretto255 group order. */
export function generateBlindingKey(random: (n: number) => Uint8Array = (n) => randomBytes(n)): BlindingKey {
  const order = ristretto255.Point.Fn.ORDER;
  for (;;) {
    const k = leBytesToBigint(random(64)) % order;
    if (k !== 0n) return blindingFromScalar(k);
  }
}

export function formatBlindingKeyFile(k: BlindingKey): string {
  return `${BLINDING_HEADER}${toBase64(k.scalar)}\n`;
}

/** Reads blinding.key: a canonical scalar (little-endian, 0 < k < order). */
export function readBlindingKeyFile(file: string, warn?: (message: string) => void): BlindingKey {
  const line = readKeyFile(file, true, warn);
  if (!line.startsWith(BLINDING_HEADER)) throw new KeyFileError('bad-key-file', `${file} is not a Concord blinding key`);
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(line.slice(BLINDING_HEADER.length), 32);
  } catch (err) {
    throw new KeyFileError('bad-key-file', `${file}: the scalar is not canonical base64 of 32 bytes`, { cause: err });
  }
  const k = leBytesToBigint(bytes);
  if (k === 0n || k >= ristretto255.Point.Fn.ORDER) throw new KeyFileError('bad-key-file', `${file}: the scalar is not in 1..order−1`);
  return blindingFromScalar(k);
}

/** The key files of a data directory. */
export function keyPaths(dataDir: string): { -readonly [K in keyof typeof KEY_FILES]: string } {
  const out = {} as { -readonly [K in keyof typeof KEY_FILES]: string };
  for (const [k, f] of Object.entries(KEY_FILES)) out[k as keyof typeof KEY_FILES] = path.join(dataDir, f);
  return out;
}
