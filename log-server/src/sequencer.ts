// The sequencer: the one writer of a log. Submissions are pooled and sequenced in batches; each
// batch is one storage transaction holding its entries, the tiles they change and the checkpoint
// signed over the new tree; submitters are answered only after that transaction committed.
//
//   submit ──► pool ──(maxBatch pooled, the batch before just committed, or the oldest waited
//                      maxDelayMs)──► batch:
//     1. dedupe: entries already in the log (one findLeafHashes call) are answered with their
//        index; identical submissions pending together share one index;
//     2. admit each entry at the index it would get (LogState.admit: policy in force there,
//        release succession); a refused entry is answered with its error, the rest go on;
//        an entry that can change the policy chain ends the batch;
//     3. tiles = client-sdk appendTiles(size, edge, leaf hashes); root from the compact range
//        (the roots of the tree's maximal complete subtrees), kept up to date batch by batch;
//        checkpoint = signed note over formatCheckpoint({origin, size, root}) by the log key;
//     4. storage.appendBatch({entries, tiles, checkpoint}) — one transaction, durable on return;
//     5. only then: state, edge and checkpoint advance, and every submitter gets {index, leafHash}.
//
// Failure semantics (storage/types.ts): a StorageError means nothing was committed; 'size-mismatch'
// or 'checkpoint-exists' mean another writer exists, so the sequencer stops for good. Any other
// error leaves the outcome unknown: before answering anyone or signing another checkpoint, the
// sequencer re-reads the stored size (and, if the batch's size is there, the stored checkpoint
// note, which must be byte-identical to the one it signed). Landed: answer success. Not landed:
// answer 503 (clients retry; dedupe makes retries safe). Unreadable or anything else: stop. A
// checkpoint whose batch did not commit was never shown to anyone, so the log never publishes two
// roots for one size; after a stop, a restart recomputes everything from storage.
//
// The sequencer lock (storage.acquireSequencerLock) is taken before anything is read and held
// until close(); losing it (PostgreSQL connection broken) stops the sequencer.

import { equalBytes, toHex } from '@concord/client-sdk/bytes';
import { formatCheckpoint, openCheckpoint } from '@concord/client-sdk/checkpoint';
import { EMPTY_ROOT, nodeHash, rootFromLeafHashes } from '@concord/client-sdk/merkle';
import type { Hash } from '@concord/client-sdk/merkle';
import { formatVerifierKey, KEY_TYPE_ED25519, newVerifier, signNote } from '@concord/client-sdk/note';
import type { Signer } from '@concord/client-sdk/note';
import { appendTiles, partialTiles } from '@concord/client-sdk/tiles';
import type { Tile, TileWithData } from '@concord/client-sdk/tiles';
import { ServerError } from './http-errors.js';
import { changesPolicyChain } from './log-state.js';
import type { LogState, Precheck } from './log-state.js';
import { StorageError } from './storage/types.js';
import type { LogStore, SequencerLock } from './storage/types.js';

export interface AddResult {
  readonly index: number;
  readonly leafHash: Uint8Array;
}

/** A batch that committed: what caches, witness pushers and tests may react to. */
export interface Committed {
  readonly start: number;
  readonly size: number;
  /** The log-signed checkpoint note for `size`, as stored. */
  readonly note: Uint8Array;
  readonly entries: readonly Uint8Array[];
}

export interface SequencerOptions {
  readonly store: LogStore;
  /** The log key (its name is the origin). */
  readonly signer: Signer;
  /** The log key's public part: checks the stored checkpoint at start. */
  readonly publicKey: Uint8Array;
  readonly state: LogState;
  /**
   * Entries per batch at most (default 32). Smaller batches commit and answer sooner, so the
   * next submissions reach the pool sooner: with 64 closed-loop clients on SQLite on 2 cores,
   * 32 sequenced about 10% more entries per second than 64 or 16, and 64 about 10% more than
   * 256 (medians of interleaved runs of scripts/bench/sequencer.ts). A batch of 32 commits in a
   * few milliseconds, so the cap bounds throughput far above what the CPU allows; a machine with
   * many cores may raise it (CONCORD_BATCH_MAX).
   */
  readonly maxBatch?: number;
  /**
   * A lone submission reaching an idle sequencer waits at most this long for company before its
   * batch is built (default 2 ms). Under load batches fill by themselves: what pools while a batch
   * commits is sequenced as soon as that commit ends (group commit), without this wait, which
   * sequenced about 10% more entries per second than waiting for it.
   */
  readonly maxDelayMs?: number;
  /**
   * After an error of unknown outcome, storage is re-read up to 10 times, waiting this many
   * milliseconds times the attempt number in between (default 100: about 4.5 s in all).
   */
  readonly retryDelayMs?: number;
  /** Called after every committed batch, before submitters are answered. Must not throw. */
  readonly onCommit?: (c: Committed) => void;
  /** Called once if the sequencer stops for good (lost lock, another writer, unknown storage state). */
  readonly onFatal?: (err: unknown) => void;
}

interface Waiter {
  resolve(r: AddResult): void;
  reject(e: unknown): void;
}

interface Pending {
  readonly p: Precheck;
  readonly hex: string;
  readonly at: number;
}

/**
 * The compact range of the tree of `size` leaves: the roots of its maximal complete subtrees,
 * left (largest) to right, one per set bit of `size` (RFC 9162 §2.1.1's decomposition of MTH),
 * read from the data of its right edge, partialTiles(size).
 */
export function compactRangeFromEdge(size: number, edge: readonly Uint8Array[]): Hash[] {
  const tiles = partialTiles(size);
  if (tiles.length !== edge.length) throw new Error(`bad math: ${tiles.length} edge tiles, got ${edge.length}`);
  // The edge tiles' hashes, split into maximal power-of-two runs from the left, are the tree's
  // maximal complete subtrees, highest level first.
  const range: Hash[] = [];
  for (let i = tiles.length - 1; i >= 0; i--) {
    const t = tiles[i]!;
    const d = edge[i]!;
    for (let lo = 0; lo < t.width; ) {
      const k = 2 ** (31 - Math.clz32(t.width - lo));
      range.push(k === 1 ? d.slice(lo * 32, lo * 32 + 32) : rootFromLeafHashes(d.subarray(lo * 32, (lo + k) * 32)));
      lo += k;
    }
  }
  return range;
}

/**
 * The compact range of the tree of `size` leaves grown by `leafHashes`: one node hash per merge,
 * about one per leaf, instead of re-hashing the partial tiles for every batch.
 */
export function appendToRange(size: number, range: readonly Hash[], leafHashes: readonly Hash[]): Hash[] {
  const out = range.slice();
  let s = size;
  for (const leaf of leafHashes) {
    // Appending leaf s merges one subtree per trailing 1 bit of s (arithmetic, not bitwise:
    // sizes may exceed 2^31).
    let h = leaf;
    for (let x = s; x % 2 === 1; x = (x - 1) / 2) h = nodeHash(out.pop() ?? badRange(size), h);
    out.push(h);
    s++;
  }
  return out;
}

function badRange(size: number): never {
  throw new Error(`bad math: the compact range is short for size ${size}`);
}

/** MTH of a tree from its compact range: the subtree roots folded right to left. */
export function rootFromRange(range: readonly Hash[]): Hash {
  if (range.length === 0) return EMPTY_ROOT.slice();
  let h = range[range.length - 1]!;
  for (let i = range.length - 2; i >= 0; i--) h = nodeHash(range[i]!, h);
  return h;
}

/** RFC 6962 root of the tree of `size` leaves from its right edge: the data of partialTiles(size). */
export function rootFromEdge(size: number, edge: readonly Uint8Array[]): Hash {
  return rootFromRange(compactRangeFromEdge(size, edge));
}

const tileKey = (t: Tile): string => `${t.level}/${t.n}/${t.width}`;

/** The right edge of the grown tree: partialTiles(newSize) from the new tiles or the old edge. */
export function edgeAfter(oldSize: number, oldEdge: readonly Uint8Array[], newSize: number, added: readonly TileWithData[]): Uint8Array[] {
  const have = new Map<string, Uint8Array>();
  partialTiles(oldSize).forEach((t, i) => have.set(tileKey(t), oldEdge[i]!));
  for (const t of added) have.set(tileKey(t.tile), t.data);
  return partialTiles(newSize).map((t) => have.get(tileKey(t)) ?? badEdge(t));
}

function badEdge(t: Tile): never {
  throw new Error(`bad math: no data for edge tile ${tileKey(t)}`);
}

export class Sequencer {
  private readonly store: LogStore;
  private readonly signer: Signer;
  private readonly state: LogState;
  private readonly maxBatch: number;
  private readonly maxDelayMs: number;
  private readonly retryDelayMs: number;
  private readonly onCommit: ((c: Committed) => void) | undefined;
  private readonly onFatal: ((err: unknown) => void) | undefined;
  private readonly lock: SequencerLock;

  private treeSize: number;
  private edge: Uint8Array[];
  /** compactRangeFromEdge(treeSize, edge), kept up to date batch by batch. */
  private range: Hash[];
  private note: Uint8Array;

  private pool: Pending[] = [];
  /** Everyone waiting for an entry (by leaf hash hex), in the pool or in the batch being committed. */
  private readonly waiting = new Map<string, Waiter[]>();
  private flushing = false;
  private timer: NodeJS.Timeout | null = null;
  private closing = false;
  private stopped: unknown = null;
  private idle: Promise<void> = Promise.resolve();
  private idleResolve: (() => void) | null = null;

  // Batched lookups of committed leaf hashes (see existing()).
  private lookups: { hash: Uint8Array; resolve(i: number | null): void; reject(e: unknown): void }[] = [];
  private lookupScheduled = false;

  private constructor(o: SequencerOptions, lock: SequencerLock, size: number, edge: Uint8Array[], note: Uint8Array) {
    this.store = o.store;
    this.signer = o.signer;
    this.state = o.state;
    this.maxBatch = o.maxBatch ?? 32;
    this.maxDelayMs = o.maxDelayMs ?? 2;
    this.retryDelayMs = o.retryDelayMs ?? 100;
    this.onCommit = o.onCommit;
    this.onFatal = o.onFatal;
    this.lock = lock;
    this.treeSize = size;
    this.edge = edge;
    this.range = compactRangeFromEdge(size, edge);
    this.note = note;
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1 || this.maxBatch > 65_536) throw new RangeError('maxBatch must be in 1..65536');
    lock.lost.then((err) => this.stop(err));
  }

  /**
   * Takes the sequencer lock (StorageError 'locked' if another server holds it), reads the tree
   * size, its right edge and its checkpoint, checks that the checkpoint is signed by this log key
   * over the root the stored tiles give, and brings `state` up to the stored size.
   */
  static async start(o: SequencerOptions): Promise<Sequencer> {
    const lock = await o.store.acquireSequencerLock();
    try {
      const size = await o.store.size();
      const edgeTiles = partialTiles(size);
      const data = edgeTiles.length === 0 ? [] : await o.store.readTiles(edgeTiles);
      const edge = data.map((d, i) => d ?? badEdge(edgeTiles[i]!));
      const latest = await o.store.latestCheckpoint();
      if (latest === null) throw new Error('the log has no checkpoint: create it with `concord-log init`');
      if (latest.size !== size) throw new Error(`bad math: latest checkpoint ${latest.size} ≠ size ${size}`);
      const vkey = formatVerifierKey(o.signer.name, KEY_TYPE_ED25519, o.publicKey);
      const cp = openCheckpoint(latest.note, newVerifier(vkey), o.signer.name);
      if (cp.checkpoint.size !== size || !equalBytes(cp.checkpoint.root, rootFromEdge(size, edge))) {
        throw new Error(`the stored checkpoint does not match the stored tiles at size ${size}`);
      }
      await o.state.catchUp(o.store, size);
      return new Sequencer(o, lock, size, edge, latest.note);
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  /** The committed tree size. */
  get size(): number {
    return this.treeSize;
  }

  /** The latest committed checkpoint note (log signature only). */
  get checkpoint(): Uint8Array {
    return this.note;
  }

  /** Is the sequencer accepting submissions? */
  get running(): boolean {
    return this.stopped === null && !this.closing;
  }

  /**
   * The index of the committed entry with this leaf hash, or null. Lookups made in the same
   * turn of the event loop share one storage query.
   */
  existing(leafHash: Uint8Array): Promise<number | null> {
    return new Promise((resolve, reject) => {
      this.lookups.push({ hash: leafHash, resolve, reject });
      if (!this.lookupScheduled) {
        this.lookupScheduled = true;
        setImmediate(() => void this.runLookups());
      }
    });
  }

  private async runLookups(): Promise<void> {
    const batch = this.lookups;
    this.lookups = [];
    this.lookupScheduled = false;
    try {
      const found = await this.store.findLeafHashes(batch.map((l) => l.hash));
      batch.forEach((l, i) => l.resolve(found[i] ?? null));
    } catch (err) {
      for (const l of batch) l.reject(err);
    }
  }

  /** Sequences a prechecked entry; resolves once it is durably in the log (or was already). */
  submit(p: Precheck): Promise<AddResult> {
    if (this.stopped !== null) return Promise.reject(new ServerError('unavailable', 'the sequencer has stopped'));
    if (this.closing) return Promise.reject(new ServerError('unavailable', 'the server is shutting down'));
    const hex = toHex(p.signed.leafHash);
    return new Promise<AddResult>((resolve, reject) => {
      const w = this.waiting.get(hex);
      if (w !== undefined) {
        w.push({ resolve, reject }); // the same entry is pending: it gets the same answer
        return;
      }
      this.waiting.set(hex, [{ resolve, reject }]);
      this.pool.push({ p, hex, at: performance.now() });
      this.kick();
    });
  }

  /**
   * Starts a batch when one is due: at once when the pool holds maxBatch entries or the batch
   * before has just committed (what pooled meanwhile has waited for that commit already: group
   * commit), else when the oldest entry has waited maxDelayMs for company.
   */
  private kick(afterCommit = false): void {
    if (this.flushing || this.stopped !== null || this.pool.length === 0) return;
    const due = this.pool.length >= this.maxBatch || afterCommit;
    const wait = due ? 0 : this.pool[0]!.at + this.maxDelayMs - performance.now();
    if (this.timer !== null) {
      if (wait > 0) return; // the timer set for the oldest entry still stands
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (wait <= 0) {
      this.flushing = true;
      setImmediate(() => void this.flush());
    } else {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.kick();
      }, Math.ceil(wait));
    }
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    this.idle = new Promise((r) => (this.idleResolve = r));
    try {
      await this.flushOnce();
    } catch (err) {
      this.stop(err);
    } finally {
      this.flushing = false;
      this.idleResolve?.();
      this.idleResolve = null;
    }
    this.kick(true);
  }

  private answer(hex: string, r: AddResult): void {
    const w = this.waiting.get(hex);
    this.waiting.delete(hex);
    for (const x of w ?? []) x.resolve(r);
  }

  private refuse(hex: string, err: unknown): void {
    const w = this.waiting.get(hex);
    this.waiting.delete(hex);
    for (const x of w ?? []) x.reject(err);
  }

  private async flushOnce(): Promise<void> {
    const take = this.pool.splice(0, this.maxBatch);
    if (take.length === 0) return;

    // 1. Entries committed since their submitter looked (a retry racing its original).
    let found: (number | null)[];
    try {
      found = await this.store.findLeafHashes(take.map((t) => t.p.signed.leafHash));
    } catch (err) {
      for (const t of take) this.refuse(t.hex, new ServerError('unavailable', 'storage is unavailable', { cause: err }));
      return;
    }

    // 2. Admission at each index, in pool order.
    const start = this.treeSize;
    const admission = this.state.beginBatch(start);
    const batch: Pending[] = [];
    const rest: Pending[] = [];
    take.forEach((t, i) => {
      const at = found[i];
      if (at !== null && at !== undefined) return this.answer(t.hex, { index: at, leafHash: t.p.signed.leafHash });
      if (batch.length > 0 && changesPolicyChain(batch[batch.length - 1]!.p.signed)) return void rest.push(t);
      try {
        admission.admit(t.p, start + batch.length);
      } catch (err) {
        return this.refuse(t.hex, err);
      }
      batch.push(t);
    });
    this.pool.unshift(...rest);
    if (batch.length === 0) return;

    // 3. Tiles, root and the signed checkpoint.
    const size = start + batch.length;
    const leafHashes = batch.map((b) => b.p.signed.leafHash);
    const tiles = appendTiles(start, this.edge, leafHashes);
    const edge = edgeAfter(start, this.edge, size, tiles);
    const range = appendToRange(start, this.range, leafHashes);
    const root = rootFromRange(range);
    const note = signNote(formatCheckpoint({ origin: this.signer.name, size, root, extensions: [] }), [this.signer]);

    // 4. One transaction.
    let landed: boolean;
    try {
      await this.store.appendBatch({
        expectedSize: start,
        entries: batch.map((b, i) => ({ index: start + i, data: b.p.signed.bytes, leafHash: b.p.signed.leafHash })),
        tiles,
        checkpoint: { size, note },
      });
      landed = true;
    } catch (err) {
      if (err instanceof StorageError) {
        // Nothing was committed.
        if (err.code === 'size-mismatch' || err.code === 'checkpoint-exists' || err.code === 'closed' || err.code === 'tile-conflict' || err.code === 'bad-input') {
          for (const b of batch) this.refuse(b.hex, new ServerError('unavailable', 'the sequencer has stopped', { cause: err }));
          throw err; // another writer, or a bug: stop
        }
        for (const b of batch) this.refuse(b.hex, new ServerError('unavailable', 'the batch was not committed; retry', { cause: err }));
        return;
      }
      landed = await this.outcome(start, size, note, err);
      if (!landed) {
        for (const b of batch) this.refuse(b.hex, new ServerError('unavailable', 'the batch was not committed; retry', { cause: err }));
        return;
      }
    }

    // 5. Committed: advance, then answer.
    this.treeSize = size;
    this.edge = edge;
    this.range = range;
    this.note = note;
    this.state.apply(
      batch.map((b) => b.p.signed),
      start,
    );
    this.onCommit?.({ start, size, note, entries: batch.map((b) => b.p.signed.bytes) });
    batch.forEach((b, i) => this.answer(b.hex, { index: start + i, leafHash: b.p.signed.leafHash }));
  }

  /**
   * After an error of unknown outcome: did the batch (start → size, checkpoint `note`) commit?
   * Retries reading for a few seconds; throws (stopping the sequencer) if storage stays
   * unreadable or holds anything but the state before or exactly the state after the batch.
   */
  private async outcome(start: number, size: number, note: Uint8Array, cause: unknown): Promise<boolean> {
    let lastErr: unknown = cause;
    for (let attempt = 0; attempt < 10; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, this.retryDelayMs * attempt));
      let now: number;
      let stored: Uint8Array | null = null;
      try {
        now = await this.store.size();
        if (now === size) stored = (await this.store.readCheckpoint(size))?.note ?? null;
      } catch (err) {
        lastErr = err;
        continue;
      }
      if (now === start) return false;
      if (now === size && stored !== null && equalBytes(stored, note)) return true;
      throw new Error(`storage holds size ${now} after a batch ${start} → ${size} of unknown outcome`, { cause });
    }
    throw lastErr;
  }

  private stop(err: unknown): void {
    if (this.stopped !== null) return;
    this.stopped = err ?? new Error('stopped');
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    // Everyone still waiting — pooled, or in a batch whose fate is unknown — is answered 503:
    // a retry (after a restart) is deduplicated, so an entry that did land keeps its index.
    this.pool = [];
    for (const hex of [...this.waiting.keys()]) this.refuse(hex, new ServerError('unavailable', 'the sequencer has stopped'));
    this.onFatal?.(err);
  }

  /** Sequences what is pooled, refuses new submissions, and releases the sequencer lock. */
  async close(): Promise<void> {
    this.closing = true;
    while (this.stopped === null && (this.flushing || this.pool.length > 0)) {
      if (!this.flushing) {
        if (this.timer !== null) clearTimeout(this.timer);
        this.timer = null;
        await this.flush();
      } else {
        await this.idle;
        if (this.flushing) await new Promise((r) => setImmediate(r));
      }
    }
    await this.lock.release();
  }
}
