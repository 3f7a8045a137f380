// Ed25519 verification on worker threads, in batches: the server's default Ed25519VerifyAsync for
// POST /add, where every entry's one signature is the largest cost of sequencing it.
//
//   main thread                                    worker i (WORKER_SOURCE below)
//   verify(pk, msg, sig) → queued
//   (once per turn of the event loop, setImmediate)
//   split the queue over the workers, one packed  ──►  for each record: crypto_sign_verify_detached
//   ArrayBuffer per worker (transferred):               (libsodium; node:crypto if sodium-native
//     pk 32 ‖ sig 64 ‖ len u32le ‖ msg len              is missing) → 1 or 0
//                                                ◄──   one byte per record (transferred)
//   each promise resolves with its record's verdict
//
// Why not node:crypto's callback form of verify() (opensslEd25519VerifyAsync), which runs on the
// libuv thread pool? libsodium verifies 1.4–2.5× as fast as Node's OpenSSL 3.0 on one core
// (scripts/bench/sequencer.ts measures both in each run), but sodium-native only verifies
// synchronously, on the calling thread; and one message per batch instead of one libuv job per
// signature keeps the hand-off cheap for the event loop.
//
// Workers start on first use; they are unref()'d while nothing is in flight, so an idle pool
// never keeps a process alive. A worker that dies (or cannot start) rejects the verifications it
// held with ServerError('unavailable') — the outcome is unknown, not "invalid signature", so the
// client is told to retry — and is replaced on the next batch. Malformed inputs (lengths) are
// answered false without reaching a worker; an input longer than MAX_MESSAGE_BYTES is refused the
// same way, as no Concord note comes near it.
//
// The worker runs from an evaluated CommonJS source (like the SQLite writer), so it needs no
// module hooks when the server runs from its TypeScript sources.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Ed25519Backend, Ed25519VerifyAsync } from './ed25519-native.js';
import { sodiumNativePath } from './ed25519-native.js';
import { ServerError } from './http-errors.js';

/** Largest message a pool verifies: a log entry (64 KiB) or a request note (1 MiB) fit. */
export const MAX_MESSAGE_BYTES = 1 << 20;

/** Bytes of a record's fixed part: public key, signature, message length. */
const HEAD = 32 + 64 + 4;

const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
let verify = null;
let backend = 'openssl';
if (workerData.sodium !== null) {
  try {
    const s = require(workerData.sodium);
    if (typeof s.crypto_sign_verify_detached === 'function') {
      verify = (pk, msg, sig) => s.crypto_sign_verify_detached(sig, msg, pk) === true;
      backend = 'libsodium';
    }
  } catch {}
}
if (verify === null) {
  const { createPublicKey, verify: v } = require('node:crypto');
  const spki = Buffer.from('302a300506032b6570032100', 'hex');
  const keys = new Map();
  verify = (pk, msg, sig) => {
    const id = pk.toString('base64');
    let k = keys.get(id);
    if (k === undefined) {
      k = createPublicKey({ key: Buffer.concat([spki, pk]), format: 'der', type: 'spki' });
      if (keys.size >= 4096) keys.delete(keys.keys().next().value);
      keys.set(id, k);
    }
    return v(null, msg, k, sig) === true;
  };
}
parentPort.postMessage({ ready: backend });
parentPort.on('message', (m) => {
  const b = Buffer.from(m.buf);
  const out = new Uint8Array(m.n);
  for (let j = 0, o = 0; j < m.n; j++) {
    const len = b.readUInt32LE(o + 96);
    let ok = false;
    try {
      ok = verify(b.subarray(o, o + 32), b.subarray(o + ${HEAD}, o + ${HEAD} + len), b.subarray(o + 32, o + 96));
    } catch {
      ok = false;
    }
    out[j] = ok ? 1 : 0;
    o += ${HEAD} + len;
  }
  parentPort.postMessage({ id: m.id, out }, [out.buffer]);
});
`;

export interface Ed25519PoolOptions {
  /** Worker threads (default: the machine's cores, 1 to 4). */
  readonly threads?: number;
  /** Use node:crypto in the workers even when libsodium is available (tests, comparisons). */
  readonly backend?: Ed25519Backend;
  /** Signatures per message to a worker at most (default 64). */
  readonly maxBatch?: number;
}

interface Item {
  readonly publicKey: Uint8Array;
  readonly message: Uint8Array;
  readonly signature: Uint8Array;
  resolve(ok: boolean): void;
  reject(err: unknown): void;
}

type Reply = { readonly ready: Ed25519Backend } | { readonly id: number; readonly out: Uint8Array };

class PoolWorker {
  readonly worker: Worker;
  /** Batches sent and not answered, by id. */
  readonly inFlight = new Map<number, readonly Item[]>();
  /** Records in flight (for balancing). */
  queued = 0;
  dead = false;
  private idleWaiters: (() => void)[] = [];

  constructor(sodium: string | null, onReady: (b: Ed25519Backend) => void, onDead: (w: PoolWorker) => void) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { sodium } });
    this.worker.unref();
    this.worker.on('message', (r: Reply) => {
      if ('ready' in r) return onReady(r.ready);
      const items = this.inFlight.get(r.id);
      if (items === undefined) return;
      this.inFlight.delete(r.id);
      this.queued -= items.length;
      items.forEach((it, i) => it.resolve(r.out[i] === 1));
      if (this.inFlight.size === 0) this.becameIdle();
    });
    const die = (err: unknown): void => {
      if (this.dead) return;
      this.dead = true;
      const e = new ServerError('unavailable', 'signature verification failed to run; retry', { cause: err });
      for (const items of this.inFlight.values()) for (const it of items) it.reject(e);
      this.inFlight.clear();
      this.queued = 0;
      this.becameIdle();
      onDead(this);
    };
    this.worker.on('error', die);
    this.worker.on('exit', (code) => die(new Error(`the Ed25519 worker exited (${code})`)));
  }

  private becameIdle(): void {
    this.worker.unref();
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  /** Resolves when nothing is in flight. */
  idle(): Promise<void> {
    return this.inFlight.size === 0 ? Promise.resolve() : new Promise((r) => this.idleWaiters.push(r));
  }

  send(id: number, items: readonly Item[]): void {
    let size = 0;
    for (const it of items) size += HEAD + it.message.length;
    const buf = new ArrayBuffer(size);
    const bytes = new Uint8Array(buf);
    const view = new DataView(buf);
    let o = 0;
    for (const it of items) {
      bytes.set(it.publicKey, o);
      bytes.set(it.signature, o + 32);
      view.setUint32(o + 96, it.message.length, true);
      bytes.set(it.message, o + HEAD);
      o += HEAD + it.message.length;
    }
    if (this.inFlight.size === 0) this.worker.ref();
    this.inFlight.set(id, items);
    this.queued += items.length;
    this.worker.postMessage({ id, buf, n: items.length }, [buf]);
  }
}

/** A pool of Ed25519 verifier threads; `verify` is its Ed25519VerifyAsync. */
export class Ed25519Pool {
  readonly threads: number;
  /** The backend the workers use (libsodium unless forced or missing), once one has started. */
  readonly backend: Promise<Ed25519Backend>;
  private readonly sodium: string | null;
  private readonly maxBatch: number;
  private workers: PoolWorker[] = [];
  private queue: Item[] = [];
  private scheduled = false;
  private nextId = 0;
  private closed = false;
  private setBackend!: (b: Ed25519Backend) => void;

  constructor(o: Ed25519PoolOptions = {}) {
    this.threads = o.threads ?? Math.min(4, Math.max(1, availableParallelism()));
    this.maxBatch = o.maxBatch ?? 64;
    if (!Number.isInteger(this.threads) || this.threads < 1 || this.threads > 64) throw new RangeError('threads must be in 1..64');
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1) throw new RangeError('maxBatch must be a positive integer');
    this.sodium = o.backend === 'openssl' ? null : sodiumNativePath();
    if (o.backend === 'libsodium' && this.sodium === null) throw new Error('sodium-native is not installed');
    this.backend = new Promise((resolve) => (this.setBackend = resolve));
  }

  /** Ed25519VerifyAsync: the verdict, computed on a worker. */
  readonly verify: Ed25519VerifyAsync = (publicKey, message, signature) => {
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return Promise.resolve(false);
    if (!(signature instanceof Uint8Array) || signature.length !== 64) return Promise.resolve(false);
    if (!(message instanceof Uint8Array) || message.length > MAX_MESSAGE_BYTES) return Promise.resolve(false);
    if (this.closed) return Promise.reject(new ServerError('unavailable', 'the server is shutting down'));
    return new Promise<boolean>((resolve, reject) => {
      this.queue.push({ publicKey, message, signature, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.dispatch());
      }
    });
  };

  /** Sends what was queued during this turn of the event loop, spread over the workers. */
  private dispatch(): void {
    this.scheduled = false;
    const queue = this.queue;
    this.queue = [];
    if (queue.length === 0) return;
    while (this.workers.length < this.threads) {
      this.workers.push(new PoolWorker(this.sodium, (b) => this.setBackend(b), (w) => (this.workers = this.workers.filter((x) => x !== w))));
    }
    // Even shares, each to the least loaded worker, at most maxBatch records per message.
    const share = Math.min(this.maxBatch, Math.ceil(queue.length / this.workers.length));
    for (let lo = 0; lo < queue.length; lo += share) {
      let w = this.workers[0]!;
      for (const x of this.workers) if (x.queued < w.queued) w = x;
      w.send(this.nextId++, queue.slice(lo, lo + share));
    }
  }

  /** Refuses new work, waits for what is in flight, and ends the threads. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.scheduled) await new Promise((r) => setImmediate(r));
    await Promise.all(this.workers.map((w) => w.idle()));
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
    this.workers = [];
  }
}
