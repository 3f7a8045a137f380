// `concord-log init`: creating a log is an explicit act, never a side effect of serving.
//
// In the data directory it writes the key files of keys.ts (log, operator and blinding keys,
// secret ones mode 0600), creates the storage (SQLite <data>/log.db by default, or the
// PostgreSQL database named by the caller) and the blob directory, and appends the log's first
// batch: entry 0 is policy 1, built from the operator's policy file (policy-file.ts) and the new
// keys, checked by client-sdk's validatePolicy, signed by the operator key; the checkpoint of
// size 1 is signed by the log key. It also writes anchor.entry, the bytes of policy 1: the trust
// anchor devices are configured with (with the origin).
//
// Order, so that a failure leaves nothing half-made that `serve` would accept: everything is
// validated first; key files are written with O_EXCL (an existing log's keys are never
// replaced); the store is created (refused if one exists — then the new key files are removed);
// the first batch commits in one transaction. A crash between the last two steps leaves an empty
// store, which `serve` refuses (no checkpoint) — delete the directory and run init again.

import { mkdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { toBase64 } from '@concord/client-sdk/bytes';
import { parseSignedEntry, signEntry } from '@concord/client-sdk/entries';
import { formatCheckpoint } from '@concord/client-sdk/checkpoint';
import { generateKey, isValidKeyName, newSigner, signNote } from '@concord/client-sdk/note';
import { validatePolicy } from '@concord/client-sdk/policy';
import { appendTiles } from '@concord/client-sdk/tiles';
import { ConcordError } from '@concord/client-sdk/errors';
import { formatBlindingKeyFile, generateBlindingKey, keyPaths, writeNewFile, writeSecretFile } from './keys.js';
import { initialPolicy, parsePolicyFile } from './policy-file.js';
import { edgeAfter, rootFromEdge } from './sequencer.js';
import { createStore, openBlobStore } from './storage/index.js';

export type InitErrorCode = 'bad-origin';

export class InitError extends ConcordError<InitErrorCode> {
  override readonly name = 'InitError';
}

export interface InitOptions {
  readonly dataDir: string;
  /** Storage URL (default sqlite:<dataDir>/log.db). */
  readonly storeUrl?: string;
  /** The policy file's text (policy-file.ts). */
  readonly policyText: string;
  /** The log's origin, if the policy file does not name it (both: they must agree). */
  readonly origin?: string;
}

export interface InitResult {
  readonly origin: string;
  readonly storeUrl: string;
  readonly logVkey: string;
  readonly operatorVkey: string;
  /** base64 of policy 1's blinding-key. */
  readonly blindingKey: string;
  /** Policy 1's bytes (entry 0) and leaf hash: the devices' trust anchor. */
  readonly anchor: Uint8Array;
  readonly anchorLeaf: Uint8Array;
}

export function defaultStoreUrl(dataDir: string): string {
  return `sqlite:${path.join(dataDir, 'log.db')}`;
}

export async function initLog(o: InitOptions): Promise<InitResult> {
  const file = parsePolicyFile(o.policyText);
  if (file.origin !== undefined && o.origin !== undefined && file.origin !== o.origin) {
    throw new InitError('bad-origin', `--origin ${o.origin} differs from the policy file's origin ${file.origin}`);
  }
  const origin = o.origin ?? file.origin;
  if (origin === undefined) throw new InitError('bad-origin', 'the origin is needed: in the policy file or as --origin');
  // The origin names the log key and, with "/operator", the operator key.
  if (!isValidKeyName(origin) || !isValidKeyName(`${origin}/operator`)) {
    throw new InitError('bad-origin', `origin ${JSON.stringify(origin)} is not a valid key name (no spaces or '+', at most 246 bytes)`);
  }

  const logKey = generateKey(origin);
  const operatorKey = generateKey(`${origin}/operator`);
  const blinding = generateBlindingKey();
  const policy = initialPolicy(file, { log: logKey.vkey, operator: operatorKey.vkey, blindingKey: blinding.publicKey });
  validatePolicy(policy, origin);
  const anchor = signEntry(policy, newSigner(operatorKey.skey));
  const signed = parseSignedEntry(anchor);

  const logSigner = newSigner(logKey.skey);
  const tiles = appendTiles(0, [], [signed.leafHash]);
  const root = rootFromEdge(1, edgeAfter(0, [], 1, tiles));
  const note = signNote(formatCheckpoint({ origin, size: 1, root, extensions: [] }), [logSigner]);

  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
  const keys = keyPaths(o.dataDir);
  const written: string[] = [];
  const write = (f: string, content: string, secret: boolean): void => {
    if (secret) writeSecretFile(f, content);
    else writeNewFile(f, content, 0o644);
    written.push(f);
  };
  const storeUrl = o.storeUrl ?? defaultStoreUrl(o.dataDir);
  try {
    write(keys.log, logKey.skey + '\n', true);
    write(keys.operator, operatorKey.skey + '\n', true);
    write(keys.blinding, formatBlindingKeyFile(blinding), true);
    write(keys.logPublic, logKey.vkey + '\n', false);
    write(keys.operatorPublic, operatorKey.vkey + '\n', false);
    write(keys.blindingPublic, toBase64(blinding.publicKey) + '\n', false);
    write(path.join(o.dataDir, 'anchor.entry'), new TextDecoder().decode(anchor), false);
    const store = await createStore(storeUrl, { create: true });
    try {
      await store.appendBatch({
        expectedSize: 0,
        entries: [{ index: 0, data: anchor, leafHash: signed.leafHash }],
        tiles,
        checkpoint: { size: 1, note },
      });
    } finally {
      await store.close();
    }
  } catch (err) {
    // Key files of a log that was not created are useless; those of an existing log are never
    // touched (they made writeNewFile fail before anything was written).
    for (const f of written) {
      try {
        unlinkSync(f);
      } catch {
        // already gone
      }
    }
    throw err;
  }
  await openBlobStore(path.join(o.dataDir, 'blobs'), { create: true });
  return {
    origin,
    storeUrl,
    logVkey: logKey.vkey,
    operatorVkey: operatorKey.vkey,
    blindingKey: toBase64(blinding.publicKey),
    anchor,
    anchorLeaf: signed.leafHash,
  };
}
