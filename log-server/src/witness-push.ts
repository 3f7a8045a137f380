// Pushes the log's checkpoints to its witnesses (c2sp.org/tlog-witness, client side) and keeps
// their cosignatures.
//
//   POST <submission prefix>/add-checkpoint          (wire format: client-sdk/src/witness.ts)
//
//   old <size the witness last acknowledged>\n
//   <consistency proof from that size, one base64 hash per line>\n
//   \n
//   <the log-signed checkpoint note>
//
// URLs. A policy's `witness <vkey> <url>` line gives the witness's tlog-witness *submission
// prefix* (what c2sp.org/tlog-policy recommends a witness URL to be). The spec forms the
// endpoint as `<submission prefix>/add-checkpoint`; Concord policies conventionally write the
// prefix with a trailing slash (`https://w1.example/`), so one trailing "/" is dropped before
// "/add-checkpoint" is appended: `https://w1.example/` and `https://w1.example` both give
// `https://w1.example/add-checkpoint`, and `https://example.org/w1/` gives
// `https://example.org/w1/add-checkpoint`.
//
// Which witnesses: those of the policy in force, plus those of a successor policy waiting for
// its notice (so that its witnesses are current the moment it takes force). The set is
// re-read after every commit and every cosignature.
//
// Per witness, one worker, independent of the others and of the sequencer (which never waits
// for it: a slow or dead witness delays nothing but its own cosignatures):
// - it pushes the latest committed checkpoint whenever the witness has not acknowledged it, and
//   re-pushes it every `recosignSeconds` even when nothing changed, so the cosignature times
//   keep advancing on an idle log (aliveAt, hence notice and device freshness, DESIGN.md);
// - `old` is the size the witness last acknowledged (storage's witness_state, so it survives
//   restarts), 0 when unknown; the proof is proveConsistency(old, size) from the stored tiles;
// - 409 (text/x.tlog.size): the witness is elsewhere; record its size and resend from there
//   with the matching proof (a few rounds at most per push);
// - 200: every cosignature line by this witness's key is verified (verifyCosignatures, over the
//   exact checkpoint pushed) before store.addCosignature; lines by other keys are ignored; a
//   line that does not verify fails the push and nothing of that response is stored;
// - anything else (4xx/5xx, timeout, network error, malformed body, a witness claiming a size
//   beyond the log's): the push failed; retry after an exponential backoff with jitter
//   (minBackoffMs doubling up to maxBackoffMs). New commits do not cut a backoff short.
//
// Failures are reported through `warn` once when a witness starts failing and once when it
// recovers, never per attempt, so a dead witness cannot flood the logs.

import { concatBytes, utf8 } from '@concord/client-sdk/bytes';
import { readCapped } from '@concord/client-sdk/client';
import type { Fetch, FetchResponse } from '@concord/client-sdk/client';
import { newCosignatureVerifier, verifyCosignatures } from '@concord/client-sdk/cosignature';
import type { CosignatureVerifier } from '@concord/client-sdk/cosignature';
import type { PolicyWitness } from '@concord/client-sdk/entries';
import { proveConsistency } from '@concord/client-sdk/merkle';
import type { HashReader } from '@concord/client-sdk/merkle';
import {
  ADD_CHECKPOINT_PATH,
  MAX_RESPONSE_SIZE,
  MAX_SIZE_BODY,
  formatAddCheckpointRequest,
  parseCosignatureResponse,
  parseTreeSizeBody,
} from '@concord/client-sdk/witness';
import type { LogStore } from './storage/types.js';

export interface WitnessPushOptions {
  /** The fetch used to reach witnesses (default globalThis.fetch). */
  readonly fetch?: Fetch;
  /** Per request (default 10 s). */
  readonly timeoutMs?: number;
  /** First retry delay after a failure (default 1 s); doubles per failure up to maxBackoffMs. */
  readonly minBackoffMs?: number;
  /** Longest retry delay (default 5 min). */
  readonly maxBackoffMs?: number;
  /** Re-push the latest checkpoint this often even when nothing changed (default 300 s). */
  readonly recosignSeconds?: number;
}

export interface WitnessPusherDeps {
  readonly store: LogStore;
  /** The witnesses to push to now (re-read after each commit and cosignature). */
  witnesses(): readonly PolicyWitness[];
  /** Stored hashes of the tree of `size` leaves, for consistency proofs. */
  hashReader(size: number): HashReader;
  /** Unix seconds (for counting cosignature times, and witness_state's updatedAt). */
  now(): number;
  /** After cosignatures on checkpoint `size` were stored. */
  onCosigned?(size: number, witness: string): void;
  warn?(message: string): void;
}

/** What the pusher knows of one witness (for status pages and tests). */
export interface WitnessPushStatus {
  readonly witness: string;
  readonly url: string;
  /** The size the witness last acknowledged (undefined: not known yet). */
  readonly acknowledged: number | undefined;
  /** Consecutive failed pushes. */
  readonly failures: number;
  readonly lastError: string | undefined;
}

/** The add-checkpoint endpoint for a witness submission prefix (see the header). */
export function addCheckpointUrl(prefix: string): string {
  return (prefix.endsWith('/') ? prefix.slice(0, -1) : prefix) + ADD_CHECKPOINT_PATH;
}

/** Drains a body we do not use (keeps keep-alive connections reusable), best effort. */
async function discard(res: FetchResponse, max = 4096): Promise<string> {
  try {
    return new TextDecoder().decode(await readCapped(res, max, 'witness response')).trim().slice(0, 200);
  } catch {
    return '';
  }
}

interface Latest {
  readonly size: number;
  readonly note: Uint8Array;
}

/** A push failed for a reason worth reporting as such. */
class PushError extends Error {
  override readonly name = 'PushError';
}

class Worker {
  url: string;
  readonly verifier: CosignatureVerifier;
  acknowledged: number | undefined;
  failures = 0;
  lastError: string | undefined;
  /** performance.now() of the last successful push. */
  private lastOk = -Infinity;
  private force = false;
  private stopped = false;
  private wakeIdle: (() => void) | null = null;
  private wakeAny: (() => void) | null = null;
  private waiters: (() => void)[] = [];
  readonly done: Promise<void>;

  constructor(
    private readonly pusher: WitnessPusher,
    readonly vkey: string,
    url: string,
    acknowledged: number | undefined,
  ) {
    this.url = url;
    this.verifier = newCosignatureVerifier(vkey);
    this.acknowledged = acknowledged;
    this.done = this.loop();
  }

  /** A new checkpoint: push it unless backing off. */
  notify(): void {
    this.wakeIdle?.();
  }

  /** Push now (even when acknowledged, even while backing off); resolves after that attempt. */
  sync(): Promise<void> {
    return new Promise((resolve) => {
      this.force = true;
      this.waiters.push(resolve);
      this.wakeAny?.();
    });
  }

  stop(): void {
    this.stopped = true;
    this.wakeAny?.();
    for (const w of this.waiters.splice(0)) w();
  }

  private sleep(ms: number, idle: boolean): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.wakeIdle = null;
        this.wakeAny = null;
        resolve();
      };
      const t = setTimeout(done, Math.max(0, ms));
      t.unref(); // never what keeps a process alive: the server does that
      this.wakeAny = done;
      if (idle) this.wakeIdle = done;
    });
  }

  private async loop(): Promise<void> {
    const p = this.pusher;
    while (!this.stopped && !p.closed) {
      const cp = p.latest;
      const recosignMs = p.recosignMs - (performance.now() - this.lastOk);
      const due = cp !== undefined && (this.force || this.acknowledged !== cp.size || recosignMs <= 0);
      if (!due) {
        for (const w of this.waiters.splice(0)) w();
        await this.sleep(cp === undefined ? p.recosignMs : recosignMs, true);
        continue;
      }
      this.force = false;
      const waiters = this.waiters.splice(0);
      try {
        await this.push(cp);
        if (this.failures > 0) p.warn(`witness ${this.verifier.name} (${this.url}) is back after ${this.failures} failed pushes`);
        this.failures = 0;
        this.lastError = undefined;
        this.lastOk = performance.now();
        for (const w of waiters) w();
      } catch (err) {
        for (const w of waiters) w();
        if (this.stopped || p.closed) break;
        this.failures++;
        this.lastError = err instanceof Error ? err.message : String(err);
        if (this.failures === 1) p.warn(`witness ${this.verifier.name} (${this.url}): ${this.lastError}; retrying with backoff`);
        const exp = Math.min(p.maxBackoffMs, p.minBackoffMs * 2 ** Math.min(this.failures - 1, 30));
        await this.sleep(exp * (0.5 + Math.random() / 2), false);
      }
    }
    for (const w of this.waiters.splice(0)) w();
  }

  private async setAcknowledged(size: number): Promise<void> {
    this.acknowledged = size;
    this.pusher.acknowledgedSizes.set(this.vkey, size);
    await this.pusher.store.setWitnessState({ witness: this.vkey, size, updatedAt: this.pusher.now() });
  }

  /** One push of `cp`, following 409s a few rounds. Throws on failure. */
  private async push(cp: Latest): Promise<void> {
    const p = this.pusher;
    let old = this.acknowledged ?? 0;
    for (let round = 0; round < 4; round++) {
      if (old > cp.size) throw new PushError(`the witness is at size ${old}, beyond the log's ${cp.size}`);
      const proof = old === 0 || old === cp.size ? [] : await proveConsistency(old, cp.size, p.hashReader(cp.size));
      const body = formatAddCheckpointRequest({ oldSize: old, proof, checkpoint: cp.note });
      const res = await p.post(addCheckpointUrl(this.url), body);
      if (res.status === 409) {
        const size = parseTreeSizeBody(await readCapped(res, MAX_SIZE_BODY, 'witness tree size'));
        await this.setAcknowledged(size);
        old = size;
        continue;
      }
      if (res.status !== 200) throw new PushError(`HTTP ${res.status} ${await discard(res)}`.trim());
      const sigs = parseCosignatureResponse(await readCapped(res, MAX_RESPONSE_SIZE, 'witness cosignatures'));
      const mine = sigs.filter((s) => s.name === this.verifier.name && s.keyHash === this.verifier.keyHash);
      if (mine.length === 0) throw new PushError('no cosignature by the witness key in its response');
      // Verify every line first: a bad one rejects the whole response (signed-note rules).
      const now = p.now();
      const counted: { line: string; time: number }[] = [];
      for (const s of mine) {
        const v = verifyCosignatures(concatBytes(cp.note, utf8(`${s.line}\n`)), [this.verifier], now);
        for (const c of v) counted.push({ line: s.line, time: c.time });
      }
      if (counted.length === 0) throw new PushError('the cosignature is dated more than 300 s in the future');
      for (const c of counted) await p.store.addCosignature({ size: cp.size, witness: this.vkey, time: c.time, line: c.line });
      await this.setAcknowledged(cp.size);
      p.cosigned(cp.size, this.vkey);
      return;
    }
    throw new PushError('the witness kept answering 409');
  }
}

/** Pushes checkpoints to the witnesses; see the header. */
export class WitnessPusher {
  readonly store: LogStore;
  readonly recosignMs: number;
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
  private readonly deps: WitnessPusherDeps;
  private readonly fetch: Fetch;
  private readonly timeoutMs: number;
  private readonly workers = new Map<string, Worker>();
  private readonly abort = new AbortController();
  /** @internal The last size each witness acknowledged (also of witnesses no longer pushed to). */
  readonly acknowledgedSizes = new Map<string, number>();
  latest: Latest | undefined;
  closed = false;

  constructor(deps: WitnessPusherDeps, opts: WitnessPushOptions = {}) {
    this.deps = deps;
    this.store = deps.store;
    this.fetch = opts.fetch ?? (globalThis.fetch as unknown as Fetch);
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.minBackoffMs = opts.minBackoffMs ?? 1_000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 300_000;
    this.recosignMs = (opts.recosignSeconds ?? 300) * 1000;
    for (const [n, v] of [
      ['timeoutMs', this.timeoutMs],
      ['minBackoffMs', this.minBackoffMs],
      ['maxBackoffMs', this.maxBackoffMs],
      ['recosignSeconds', this.recosignMs],
    ] as const) {
      if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${n} must be a positive number`);
    }
  }

  now(): number {
    return this.deps.now();
  }

  warn(message: string): void {
    this.deps.warn?.(message);
  }

  hashReader(size: number): HashReader {
    return this.deps.hashReader(size);
  }

  /** Loads the latest checkpoint and the witnesses' acknowledged sizes, and starts pushing. */
  async start(): Promise<void> {
    const latest = await this.store.latestCheckpoint();
    if (latest !== null && (this.latest === undefined || latest.size > this.latest.size)) this.latest = { size: latest.size, note: latest.note };
    for (const s of await this.store.readWitnessStates()) if (!this.acknowledgedSizes.has(s.witness)) this.acknowledgedSizes.set(s.witness, s.size);
    this.refreshWitnesses();
  }

  /** A committed checkpoint (the sequencer's onCommit). */
  notify(size: number, note: Uint8Array): void {
    if (this.closed) return;
    if (this.latest === undefined || size > this.latest.size) this.latest = { size, note };
    this.refreshWitnesses();
    for (const w of this.workers.values()) w.notify();
  }

  /** Pushes the latest checkpoint to every witness now and waits for each attempt (tests, ops). */
  async sync(): Promise<void> {
    this.refreshWitnesses();
    await Promise.all([...this.workers.values()].map((w) => w.sync()));
  }

  status(): WitnessPushStatus[] {
    return [...this.workers.values()].map((w) => ({
      witness: w.vkey,
      url: w.url,
      acknowledged: w.acknowledged,
      failures: w.failures,
      lastError: w.lastError,
    }));
  }

  /** Stops every worker and aborts requests in flight. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    const all = [...this.workers.values()];
    for (const w of all) w.stop();
    await Promise.all(all.map((w) => w.done));
  }

  /** Starts workers for new witnesses, stops those no longer listed, follows URL changes. */
  refreshWitnesses(): void {
    if (this.closed) return;
    const want = new Map<string, string>();
    for (const w of this.deps.witnesses()) if (!want.has(w.vkey)) want.set(w.vkey, w.url);
    for (const [vkey, w] of this.workers) {
      if (!want.has(vkey)) {
        w.stop();
        this.workers.delete(vkey);
      }
    }
    for (const [vkey, url] of want) {
      const w = this.workers.get(vkey);
      if (w !== undefined) w.url = url;
      else {
        this.workers.set(vkey, new Worker(this, vkey, url, this.acknowledgedSizes.get(vkey)));
      }
    }
  }

  /** @internal */
  cosigned(size: number, witness: string): void {
    try {
      this.deps.onCosigned?.(size, witness);
    } finally {
      this.refreshWitnesses();
    }
  }

  /** @internal POST with the per-request timeout and the close signal. */
  async post(url: string, body: Uint8Array): Promise<FetchResponse> {
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.timeoutMs)]);
    return this.fetch(url, { method: 'POST', body, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, signal });
  }
}
