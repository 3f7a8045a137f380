// Opening an existing log for serving: storage, blob store, log key, policy state, sequencer (or
// none, read-only), reader, rate limiter, and the Hono app over them. Everything comes from the
// LogConfig passed in: main.ts builds it from the environment; tests and benchmarks directly.
//
// One sequencer per log. openLog takes the storage's sequencer lock; if another server holds
// it, openLog fails with StorageError 'locked' — a second server on the same database refuses to
// sequence — unless the config asks for `readOnly`, in which case it serves the read API and
// answers writes with 503 'read-only' (useful to scale reads; it follows the sequencer through
// storage). A server never silently degrades from sequencing to read-only.
//
// The sequencing server pushes every committed checkpoint to the witnesses of the policy in force
// (witness-push.ts) when `witnessPush` is set (concord-log serve sets it by default), and serves
// the cosignatures they return at /checkpoint and /checkpoint/published. Each stored cosignature
// may complete the notice of a pending policy (LogState.checkNotice; also checked at startup). A
// read-only server neither pushes nor decides notices: it follows what the sequencer stored.

import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Hono } from 'hono';
import type { Ed25519Verify } from '@concord/client-sdk/note';
import { parseSignerKey } from '@concord/client-sdk/note';
import { createApp } from './app.js';
import { asyncVerify, nativeEd25519Verify, nativeSigner } from './ed25519-native.js';
import type { Ed25519VerifyAsync } from './ed25519-native.js';
import { Ed25519Pool } from './ed25519-pool.js';
import { defaultStoreUrl } from './init.js';
import { keyPaths, readBlindingKeyFile, readSignerKeyFile } from './keys.js';
import { LogState } from './log-state.js';
import { RateLimiter } from './rate-limit.js';
import { LogReader } from './reader.js';
import { Sequencer } from './sequencer.js';
import { WitnessPusher } from './witness-push.js';
import type { WitnessPushOptions } from './witness-push.js';
import type { Committed } from './sequencer.js';
import { openBlobStore, openStore } from './storage/index.js';
import type { BlobStore } from './storage/blobs.js';
import type { LogStore } from './storage/types.js';

export interface LogConfig {
  /** Directory with the key files (and, by default, the SQLite database and blobs). */
  readonly dataDir: string;
  /** Storage URL; default sqlite:<dataDir>/log.db. */
  readonly storeUrl?: string;
  /** Blob directory; default <dataDir>/blobs. */
  readonly blobDir?: string;
  /** Serve reads only, without taking the sequencer lock. */
  readonly readOnly?: boolean;
  /** POST /add submissions per author key per minute (default 600). */
  readonly addPerMinute?: number;
  /** Blob size cap in bytes (default 512 MiB; the policy's 32 × max-entries applies too). */
  readonly maxBlobBytes?: number;
  /** Entries per batch at most (default 32; see SequencerOptions). */
  readonly maxBatch?: number;
  /** Longest wait of a lone submission for company (default 2 ms; see SequencerOptions). */
  readonly maxDelayMs?: number;
  /** Bytes of tiles cached in memory (default 64 MiB). */
  readonly cacheBytes?: number;
  /**
   * Ed25519 verification. Default: libsodium when the sodium-native addon loads, else
   * node:crypto; the asynchronous one (POST /add) on a pool of worker threads (ed25519-pool.ts)
   * that the log starts and closes.
   */
  readonly verify?: Ed25519Verify;
  readonly verifyAsync?: Ed25519VerifyAsync;
  /** Unix seconds (default the system clock). */
  readonly now?: () => number;
  /** Called after every committed batch (tests, witness pushers). */
  readonly onCommit?: (c: Committed) => void;
  /** Called if the sequencer stops for good; main.ts exits (a restart recovers from storage). */
  readonly onFatal?: (err: unknown) => void;
  /**
   * Pushing checkpoints to the witnesses of the policy in force: options (fetch — default
   * globalThis.fetch —, timeouts, backoff, re-cosigning period), or false/absent for none.
   * `concord-log serve` (main.ts configFromEnv) turns it on unless CONCORD_WITNESS_PUSH=off;
   * embedders and tests opt in, so a test log never reaches for its fixture's witness URLs.
   */
  readonly witnessPush?: WitnessPushOptions | false;
  /** Warnings (key file permissions, witnesses failing) and server faults; default console. */
  readonly warn?: (message: string) => void;
  readonly logError?: (message: string, err: unknown) => void;
}

export interface OpenLog {
  readonly origin: string;
  readonly app: Hono<any>;
  readonly store: LogStore;
  readonly blobs: BlobStore;
  readonly state: LogState;
  readonly reader: LogReader;
  /** Absent when read-only. */
  readonly sequencer: Sequencer | undefined;
  /** Present when this server sequences and witnessPush is set. */
  readonly witnesses: WitnessPusher | undefined;
  /** Sequences what is pending, releases the lock, closes storage. */
  close(): Promise<void>;
}

export async function openLog(config: LogConfig): Promise<OpenLog> {
  const now = config.now ?? (() => Math.floor(Date.now() / 1000));
  const keys = keyPaths(config.dataDir);
  const warn = config.warn ?? ((m: string) => console.warn(`warning: ${m}`));
  const skey = readSignerKeyFile(keys.log, warn);
  // The blinding key serves POST /oprf/evaluate on the sequencing server only; a read-only
  // replica never holds it (DESIGN.md: it is the operator's crown jewel).
  const blindingKey = config.readOnly === true || !existsSync(keys.blinding) ? undefined : readBlindingKeyFile(keys.blinding, warn);
  const signerKey = parseSignerKey(skey);
  const origin = signerKey.name;
  const verify = config.verify ?? nativeEd25519Verify();
  // Only a sequencing server checks submissions; a read-only one starts no verifier threads.
  const pool = config.verifyAsync === undefined && config.readOnly !== true ? new Ed25519Pool() : undefined;
  const verifyAsync = config.verifyAsync ?? pool?.verify ?? asyncVerify(verify);

  const store = await openStore(config.storeUrl ?? defaultStoreUrl(config.dataDir));
  let sequencer: Sequencer | undefined;
  let pusher: WitnessPusher | undefined;
  let closed = false;
  try {
    const blobs = await openBlobStore(config.blobDir ?? path.join(config.dataDir, 'blobs'), { create: true });
    const state = new LogState({ origin, verify, verifyAsync });
    let reader: LogReader | undefined;
    if (config.readOnly !== true) {
      sequencer = await Sequencer.start({
        store,
        signer: nativeSigner(skey),
        publicKey: signerKey.publicKey,
        state,
        maxBatch: config.maxBatch,
        maxDelayMs: config.maxDelayMs,
        onCommit: (c) => {
          reader?.onCommit(c);
          pusher?.notify(c.size, c.note);
          config.onCommit?.(c);
        },
        onFatal: config.onFatal,
      });
    } else {
      await state.catchUp(store);
    }
    reader = new LogReader({ store, state, sequencer, cacheBytes: config.cacheBytes, now });
    const logError = config.logError ?? ((m: string, e: unknown) => console.error(m, e));
    let noticeCheck: Promise<unknown> = Promise.resolve();
    const checkNotice = (): void => {
      noticeCheck = state.checkNotice(store, now()).catch((err: unknown) => {
        if (!closed) logError('notice check failed', err);
      });
    };
    if (sequencer !== undefined && config.witnessPush !== undefined && config.witnessPush !== false) {
      const r = reader;
      pusher = new WitnessPusher(
        {
          store,
          // The policy in force, and a successor waiting for its notice (its witnesses must be
          // current when it takes force).
          witnesses: () => [...(state.current()?.entry.witnesses ?? []), ...(state.pending()?.entry.witnesses ?? [])],
          hashReader: (size) => r.hashReader(size),
          now,
          onCosigned: () => {
            r.invalidateCheckpoint();
            checkNotice();
          },
          warn,
        },
        config.witnessPush,
      );
      await pusher.start();
    }
    if (sequencer !== undefined) checkNotice();
    const addLimiter = new RateLimiter(store, { scope: 'add', limit: config.addPerMinute ?? 600, windowSeconds: 60, now });
    const app = createApp({
      origin,
      store,
      blobs,
      state,
      reader,
      sequencer,
      addLimiter,
      verify,
      now,
      maxBlobBytes: config.maxBlobBytes,
      logError: config.logError,
      blindingKey,
    });
    return {
      origin,
      app,
      store,
      blobs,
      state,
      reader,
      sequencer,
      witnesses: pusher,
      close: async () => {
        if (closed) return;
        closed = true;
        try {
          await pusher?.close();
          await noticeCheck;
          await sequencer?.close();
        } finally {
          await pool?.close();
          await store.close();
        }
      },
    };
  } catch (err) {
    await pusher?.close().catch(() => {});
    await sequencer?.close().catch(() => {});
    await pool?.close();
    await store.close();
    throw err;
  }
}
