// A small worker_threads pool for the VOPRF work of POST /oprf/evaluate, so that the event loop
// never blocks on it (DESIGN.md "Blinding"; client-sdk/src/oprf.ts has the protocol):
//
//   main thread                                   worker (this same module, isMainThread false)
//   reserve()  → a Reservation, or null when full
//   r.parse(body)          ───────────────────►   oprf.parseEvaluateRequest(body)      ~0.1 ms/element
//                          ◄───────────────────   the blinded elements (or an OprfError)
//   (charge the requester's quota)
//   r.evaluate(blinded)    ───────────────────►   oprf.blindEvaluateBatch(k, pk, blinded)
//                          ◄───────────────────   oprf.formatEvaluateResponse(…)       ~0.4 ms/element (libsodium)
//   r.release()
//
// Why both steps run in a worker: strict parsing decodes every ristretto255 element (about
// 115 ms for 1,000 in noble), evaluation costs a constant-time scalar multiplication per element
// plus the batch DLEQ proof (about 1.8 s for 1,000). Either would stall every other request of
// the log (tiles, checkpoints, POST /add) for that long.
//
// Bounded queue: a request holds a Reservation from before it is parsed until it is answered.
// At most `threads + maxQueue` reservations exist; reserve() answers null beyond that and the
// route answers 503 with Retry-After (retryAfterSeconds(), from the measured cost of recent
// tasks), instead of letting an unbounded backlog of 2-second jobs build up in memory. Tasks run
// FIFO on the first idle worker.
//
// Workers start on first use, are unref()'d while idle (an idle pool never keeps a process
// alive) and are terminated after `idleMs` without work; a worker that dies fails its task
// (the request answers 500) and is replaced on the next task. The secret scalar is handed to each
// worker once, in workerData: it stays inside this process, like the rest of the key file.
//
// Running from the TypeScript sources (vitest, the test children), this module's URL ends in
// `.ts`: the workers are then started with the same module hooks the test children use
// (log-server/test/storage-ts-hooks.mjs, `--conditions=source`). The built server (dist/*.js)
// needs nothing of the kind.

import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { blindEvaluateBatch, formatEvaluateResponse, OprfError, parseEvaluateRequest } from '@concord/client-sdk/oprf';
import { sodiumOprfBackend } from './oprf-sodium.js';
import type { OprfErrorCode } from '@concord/client-sdk/oprf';
import type { BlindingKey } from './keys.js';

const WORKER_KIND = 'concord-oprf-worker';

export interface OprfPoolOptions {
  /** Worker threads (default: one less than the cores, 1 to 4). */
  readonly threads?: number;
  /** Reservations beyond `threads` that may wait (default 16). */
  readonly maxQueue?: number;
  /** Idle time after which workers are terminated (default 60 s). */
  readonly idleMs?: number;
}

type Task =
  | { readonly op: 'parse'; readonly body: Uint8Array }
  | { readonly op: 'evaluate'; readonly blinded: readonly Uint8Array[] };

/** What a worker answers; errors travel as data (an OprfError keeps its code). */
type Reply =
  | { readonly id: number; readonly ok: true; readonly blinded?: Uint8Array[]; readonly json?: string }
  | { readonly id: number; readonly ok: false; readonly name: string; readonly code?: string; readonly message: string };

interface Job {
  readonly id: number;
  readonly task: Task;
  resolve(r: Reply): void;
  reject(err: unknown): void;
}

interface Slot {
  worker: Worker;
  job: Job | null;
  started: number;
}

/** One request's place in the pool; release() it when the request is answered. */
export interface Reservation {
  /** oprf.parseEvaluateRequest in a worker: the blinded elements, or an OprfError. */
  parse(body: Uint8Array): Promise<Uint8Array[]>;
  /** oprf.blindEvaluateBatch + formatEvaluateResponse in a worker: the response JSON. */
  evaluate(blinded: readonly Uint8Array[]): Promise<string>;
  /** Gives the place back (idempotent). */
  release(): void;
}

function defaultThreads(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

/** execArgv for workers of this module: empty when built, the TypeScript hooks from the sources. */
function workerExecArgv(moduleUrl: string): string[] {
  if (!moduleUrl.endsWith('.ts')) return [];
  const hooks = new URL('../test/storage-ts-hooks.mjs', moduleUrl).href;
  const register = `data:text/javascript,import{register}from'node:module';register(${JSON.stringify(hooks)});`;
  return ['--conditions=source', '--import', register];
}

export class OprfPool {
  private readonly key: BlindingKey;
  private readonly threads: number;
  private readonly capacity: number;
  private readonly idleMs: number;
  private readonly slots: Slot[] = [];
  private readonly waiting: Job[] = [];
  private reserved = 0;
  private nextId = 1;
  private closed = false;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Exponentially weighted average task time (ms), for Retry-After. */
  private avgTaskMs = 500;

  constructor(key: BlindingKey, opts: OprfPoolOptions = {}) {
    this.key = key;
    this.threads = opts.threads ?? defaultThreads();
    const maxQueue = opts.maxQueue ?? 16;
    if (!Number.isSafeInteger(this.threads) || this.threads < 1) throw new RangeError('threads must be ≥ 1');
    if (!Number.isSafeInteger(maxQueue) || maxQueue < 0) throw new RangeError('maxQueue must be ≥ 0');
    this.capacity = this.threads + maxQueue;
    this.idleMs = opts.idleMs ?? 60_000;
  }

  /** Reservations held now. */
  get pending(): number {
    return this.reserved;
  }

  /** Live worker threads. */
  get workers(): number {
    return this.slots.length;
  }

  /** A place in the pool, or null when `threads + maxQueue` are taken (answer 503). */
  reserve(): Reservation | null {
    if (this.closed || this.reserved >= this.capacity) return null;
    this.reserved++;
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      this.reserved--;
    };
    const run = (task: Task): Promise<Reply> => {
      if (!held) return Promise.reject(new Error('bad math: OPRF task on a released reservation'));
      return this.submit(task);
    };
    return {
      parse: async (body) => unwrap(await run({ op: 'parse', body })).blinded!,
      evaluate: async (blinded) => unwrap(await run({ op: 'evaluate', blinded })).json!,
      release,
    };
  }

  /** Seconds a refused client should wait: the queue's expected drain time, at least 1. */
  retryAfterSeconds(): number {
    // A request is two tasks; the parse is cheap, so count one average task per reservation.
    return Math.max(1, Math.ceil((this.reserved * this.avgTaskMs) / this.threads / 1000));
  }

  /** Terminates every worker; pending tasks fail. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    for (const j of this.waiting.splice(0)) j.reject(new Error('the OPRF pool is closed'));
    await Promise.all(this.slots.splice(0).map((s) => s.worker.terminate()));
  }

  private submit(task: Task): Promise<Reply> {
    if (this.closed) return Promise.reject(new Error('the OPRF pool is closed'));
    return new Promise<Reply>((resolve, reject) => {
      this.waiting.push({ id: this.nextId++, task, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    if (this.idleTimer !== undefined) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    while (this.waiting.length > 0) {
      let slot = this.slots.find((s) => s.job === null);
      if (slot === undefined) {
        if (this.slots.length >= this.threads) break;
        slot = this.spawn();
      }
      const job = this.waiting.shift()!;
      slot.job = job;
      slot.started = performance.now();
      slot.worker.ref();
      slot.worker.postMessage({ id: job.id, task: job.task });
    }
    if (this.waiting.length === 0 && this.slots.every((s) => s.job === null) && this.slots.length > 0 && !this.closed) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = undefined;
        if (this.slots.some((s) => s.job !== null) || this.waiting.length > 0) return;
        for (const s of this.slots.splice(0)) void s.worker.terminate();
      }, this.idleMs);
      this.idleTimer.unref();
    }
  }

  private spawn(): Slot {
    const worker = new Worker(new URL(import.meta.url), {
      workerData: { kind: WORKER_KIND, scalar: this.key.scalar, publicKey: this.key.publicKey },
      execArgv: workerExecArgv(import.meta.url),
    });
    const slot: Slot = { worker, job: null, started: 0 };
    const fail = (err: unknown): void => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      const job = slot.job;
      slot.job = null;
      if (job !== null) job.reject(err instanceof Error ? err : new Error(`OPRF worker failed: ${String(err)}`));
      void worker.terminate();
      if (!this.closed) this.dispatch(); // a replacement for what still waits
    };
    worker.on('message', (reply: Reply) => {
      const job = slot.job;
      if (job === null || reply.id !== job.id) return fail(new Error('bad math: OPRF worker answered a task it was not given'));
      slot.job = null;
      const ms = performance.now() - slot.started;
      this.avgTaskMs = 0.8 * this.avgTaskMs + 0.2 * ms;
      worker.unref();
      job.resolve(reply);
      this.dispatch();
    });
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (this.slots.includes(slot)) fail(new Error(`OPRF worker exited with code ${code}`));
    });
    worker.unref();
    this.slots.push(slot);
    return slot;
  }
}

/** A worker's reply as a value, or its error rethrown (an OprfError with its own code). */
function unwrap(r: Reply): { blinded?: Uint8Array[]; json?: string } {
  if (r.ok) return r;
  if (r.name === 'OprfError' && r.code !== undefined) throw new OprfError(r.code as OprfErrorCode, r.message);
  throw new Error(`OPRF worker: ${r.name}: ${r.message}`);
}

// --- the worker side ------------------------------------------------------------------------

function serveWorker(): void {
  const data = workerData as { scalar: Uint8Array; publicKey: Uint8Array };
  const port = parentPort!;
  // libsodium's ristretto255 (oprf-sodium.ts: ~7× noble per scalar multiplication, the same
  // bytes), loaded once per worker; messages wait for it.
  const ready = sodiumOprfBackend();
  port.on('message', async (msg: { id: number; task: Task }) => {
    const { id, task } = msg;
    let reply: Reply;
    try {
      const backend = await ready;
      if (task.op === 'parse') reply = { id, ok: true, blinded: parseEvaluateRequest(task.body, { backend }) };
      else reply = { id, ok: true, json: formatEvaluateResponse(blindEvaluateBatch(data.scalar, data.publicKey, task.blinded, { backend })) };
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      reply = { id, ok: false, name: e.name, message: e.message, ...(err instanceof OprfError ? { code: err.code } : {}) };
    }
    port.postMessage(reply);
  });
}

if (!isMainThread && (workerData as { kind?: unknown } | null)?.kind === WORKER_KIND) serveWorker();
