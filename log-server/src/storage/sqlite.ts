// The embedded SQLite driver (better-sqlite3 12, synchronous underneath an async interface).
//
// Durability. WAL with synchronous=FULL: every commit fsyncs the WAL before appendBatch
// returns. With synchronous=NORMAL a WAL commit survives a process crash (SIGKILL) but not a
// power loss or kernel panic, which may roll back the last commits — and a checkpoint that was
// already answered to submitters and pushed to witnesses would then be re-signed over different
// entries after the restart: two roots for one size, exactly what the log must never do. One
// fsync per batch (not per entry) keeps FULL cheap, since the sequencer commits in batches.
//
// Connections. One connection per store for everything but appendBatch (better-sqlite3 is
// synchronous, so calls never interleave inside a transaction). appendBatch runs on a second
// connection in a worker thread (the "writer", started with the sequencer lock or on first
// use): its transaction and the fsync of its COMMIT — milliseconds per batch — then block that
// thread, not the event loop, which goes on reading, verifying and answering requests
// meanwhile (scripts/bench/sequencer.ts: the event loop's CPU per entry fell by about a fifth,
// and it no longer stalls for each commit). The writer uses the
// same pragmas (WAL, synchronous=FULL), so a batch is durable when appendBatch resolves and is
// visible to the main connection from then on, never before: readers (this process's or
// another's) can only see committed, fsynced batches. Should the writer thread die, the batches
// it held reject with a plain Error (outcome unknown: the sequencer re-reads storage) and the
// next appendBatch starts a new writer. Other processes may open the same file: WAL lets them
// read while the sequencer writes, and busy_timeout makes writers wait, not fail.
//
// The sequencer lock is a second SQLite file, `<db>-sequencer`, on which the holder keeps a
// `BEGIN EXCLUSIVE` transaction open for as long as it holds the lock. SQLite implements that
// with a POSIX advisory (fcntl) lock, which the kernel drops when the process dies — SIGKILL
// included — and which SQLite also enforces between connections of one process; Node has no
// flock/fcntl of its own without an addon, so this borrows SQLite's. The alternatives lose:
//   - locking_mode=EXCLUSIVE on the log's own file would also lock out every reader (in WAL
//     mode it moves the WAL index to heap memory), so no second process could even serve tiles;
//   - a lock row with a pid and a heartbeat is not released when the process dies: a successor
//     waits for the heartbeat to lapse, pids mean nothing across containers sharing a volume,
//     and a paused (SIGSTOP, swapped) holder resumes believing it still holds the lock.
// Its limits: it is only as good as POSIX locks on the filesystem (fine locally, not on some
// network filesystems), and deleting the lock file while held lets a second process lock a new
// file. Neither can corrupt the log: appendBatch's expected-size check and primary keys make a
// second writer's batches fail whole (types.ts), so the lock protects liveness, not safety.

import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, unlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import path from 'node:path';
import Database from 'better-sqlite3';
import { and, asc, desc, eq, gte, inArray, lt, lte, sql } from 'drizzle-orm';
import type { SQL } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { encodeEntryBundle, TILE_WIDTH } from '@concord/client-sdk/tiles';
import type { Tile } from '@concord/client-sdk/tiles';
import { blobs, checkpoints, cosignatures, entries, nonces, quotas, SQLITE_MIGRATIONS, tiles, witnessState } from './schema-sqlite.js';
import {
  bad,
  causes,
  checkBatch,
  checkBytes,
  checkLine,
  checkName,
  checkQuorum,
  checkRange,
  checkTile,
  checkUint,
  MAX_NONCE_SIZE,
} from './common.js';
import { StorageError } from './types.js';
import type {
  Batch,
  BlobMeta,
  CosignatureInput,
  CosignatureRecord,
  LogStore,
  QuorumQuery,
  QuotaCharge,
  QuotaResult,
  SequencerLock,
  StoredCheckpoint,
  WitnessState,
} from './types.js';

export const SQLITE_SCHEMA_VERSION = SQLITE_MIGRATIONS.length;

/** Milliseconds a writer waits for another connection's write transaction before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5_000;

/** The lock file beside a log database. */
export function sqliteLockPath(dbPath: string): string {
  return `${dbPath}-sequencer`;
}

function configure(db: Database.Database): void {
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal') throw new Error(`SQLite refused WAL mode (journal_mode is ${String(mode)})`);
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
}

/** Creates a new log database at `file`, atomically: it appears complete or not at all. */
function createDatabase(file: string): void {
  if (existsSync(file)) throw new StorageError('exists', `${file} already exists`);
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.creating-${randomBytes(6).toString('hex')}`;
  try {
    const db = new Database(tmp);
    try {
      configure(db);
      db.transaction(() => {
        for (const m of SQLITE_MIGRATIONS) db.exec(m);
        db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('schema_version', String(SQLITE_SCHEMA_VERSION));
      })();
    } finally {
      db.close(); // checkpoints the WAL into the file and deletes it
    }
    // link(2) fails with EEXIST instead of replacing: two concurrent creates cannot both win.
    try {
      linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new StorageError('exists', `${file} already exists`);
      throw err;
    }
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } finally {
    for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) {
      try {
        unlinkSync(f);
      } catch {
        // already gone
      }
    }
  }
}

/**
 * Opens (or with `create`, first creates) the SQLite log database at `file`. Opening a missing
 * file, or a file that is not a Concord log, is 'not-found': a log is only ever created explicitly.
 */
export function openSqliteStore(file: string, options: { create?: boolean } = {}): SqliteStore {
  if (options.create === true) createDatabase(file);
  else if (!existsSync(file)) throw new StorageError('not-found', `no log database at ${file} (create one first)`);
  const db = new Database(file, { fileMustExist: true });
  try {
    configure(db);
    const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
    if (hasMeta === undefined) throw new StorageError('not-found', `${file} is not a Concord log database`);
    const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
    if (row?.value !== String(SQLITE_SCHEMA_VERSION)) {
      throw new StorageError('schema-version', `${file} has schema version ${row?.value ?? 'none'}, this server needs ${SQLITE_SCHEMA_VERSION}`);
    }
  } catch (err) {
    db.close();
    if (err instanceof StorageError) throw err;
    if ((err as { code?: string }).code === 'SQLITE_NOTADB') throw new StorageError('not-found', `${file} is not a SQLite database`, { cause: err });
    throw err;
  }
  return new SqliteStore(file, db);
}

/**
 * The writer thread (see "Connections" above), as CommonJS source run with `eval` (so it needs
 * no file of its own, compiled or not). It receives { id, batch } messages holding checked
 * batches, runs each as one BEGIN IMMEDIATE transaction — the same statements and checks as a
 * single-connection appendBatch would — and answers { id, ok } or { id, error } with the
 * error's StorageError code (`storage`) or driver code and message, which the main thread maps
 * exactly as it would map the error thrown in-process.
 */
const WRITER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = ' + workerData.busyTimeout);
if (db.pragma('journal_mode = WAL', { simple: true }) !== 'wal') throw new Error('SQLite refused WAL mode');
db.pragma('synchronous = FULL');
db.pragma('foreign_keys = ON');
const sizeStmt = db.prepare('SELECT max(size) AS size FROM checkpoints');
const entryStmt = db.prepare('INSERT INTO entries (idx, leaf_hash, data) VALUES (?, ?, ?)');
// A row may only widen, keeping its stored bytes as a prefix (types.ts); a full row (width 256)
// can never be written again. Each row must insert or update.
const tileStmt = db.prepare(
  'INSERT INTO tiles (level, n, width, data) VALUES (?, ?, ?, ?) ON CONFLICT (level, n) DO UPDATE ' +
  'SET width = excluded.width, data = excluded.data ' +
  'WHERE tiles.width < excluded.width AND substr(excluded.data, 1, length(tiles.data)) = tiles.data');
const checkpointStmt = db.prepare('INSERT INTO checkpoints (size, note) VALUES (?, ?)');
const buf = (u) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
function refused(code, message) {
  const e = new Error(message);
  e.storage = code;
  return e;
}
const append = db.transaction((b) => {
  const current = sizeStmt.get().size ?? 0;
  if (current !== b.expectedSize) throw refused('size-mismatch', 'the log has ' + current + ' entries, the batch expected ' + b.expectedSize);
  for (const e of b.entries) entryStmt.run(e.index, buf(e.leafHash), buf(e.data));
  for (const t of b.tiles) {
    if (tileStmt.run(t.tile.level, t.tile.n, t.tile.width, buf(t.data)).changes !== 1) {
      throw refused('tile-conflict', 'a tile of the batch would shrink or change stored hashes');
    }
  }
  checkpointStmt.run(b.checkpoint.size, buf(b.checkpoint.note));
});
parentPort.on('message', (m) => {
  if (m.close) {
    db.close();
    parentPort.close();
    return;
  }
  try {
    append.immediate(m.batch);
    parentPort.postMessage({ id: m.id, ok: true });
  } catch (err) {
    const e = err ?? {};
    parentPort.postMessage({ id: m.id, ok: false, error: { storage: e.storage, code: e.code, message: String(e.message ?? e) } });
  }
});
`;

interface WriterReply {
  readonly id: number;
  readonly ok: boolean;
  readonly error?: { storage?: StorageError['code']; code?: string; message: string };
}

/** The writer thread of one store and the batches it holds. */
class Writer {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve(): void; reject(e: unknown): void }>();
  private readonly inFlight = new Set<Promise<void>>();
  private nextId = 0;
  private dead: Error | null = null;
  private readonly exited: Promise<void>;

  constructor(file: string) {
    this.worker = new Worker(WRITER_SOURCE, {
      eval: true,
      workerData: { file, driver: createRequire(import.meta.url).resolve('better-sqlite3'), busyTimeout: BUSY_TIMEOUT_MS },
    });
    this.worker.unref(); // referenced only while a batch is in flight (see append)
    this.worker.on('message', (r: WriterReply) => {
      const p = this.pending.get(r.id);
      if (p === undefined) return;
      this.pending.delete(r.id);
      if (this.pending.size === 0) this.worker.unref();
      if (r.ok) return p.resolve();
      const e = r.error!;
      if (e.storage !== undefined) return p.reject(new StorageError(e.storage, e.message));
      p.reject(mapBatchError(Object.assign(new Error(e.message), e.code === undefined ? {} : { code: e.code })));
    });
    this.worker.on('error', (err) => this.fail(err));
    this.exited = new Promise((resolve) =>
      this.worker.once('exit', (code) => {
        this.fail(new Error(`the SQLite writer thread exited (${code})`));
        resolve();
      }),
    );
  }

  get alive(): boolean {
    return this.dead === null;
  }

  private fail(err: unknown): void {
    if (this.dead === null) this.dead = err instanceof Error ? err : new Error(String(err));
    // Outcome unknown: a plain Error, so the sequencer re-reads storage.
    for (const p of this.pending.values()) p.reject(new Error('the SQLite writer thread failed', { cause: this.dead }));
    this.pending.clear();
  }

  append(batch: Batch): Promise<void> {
    if (this.dead !== null) return Promise.reject(new Error('the SQLite writer thread failed', { cause: this.dead }));
    const id = this.nextId++;
    const done = new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) this.worker.ref();
      this.worker.postMessage({ id, batch });
    });
    this.inFlight.add(done);
    const forget = (): void => void this.inFlight.delete(done);
    done.then(forget, forget);
    return done;
  }

  /** Waits for the batches in flight, then closes the writer's connection and ends the thread. */
  async close(): Promise<void> {
    await Promise.allSettled(this.inFlight);
    if (this.dead === null) {
      this.worker.ref();
      this.worker.postMessage({ close: true });
    }
    await this.exited;
  }
}

/** Maps a constraint violation raised inside appendBatch to its StorageError. */
function mapBatchError(err: unknown): unknown {
  for (const e of causes(err)) {
    if (e instanceof StorageError) return e;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT')) {
      const msg = (e as Error).message;
      if (msg.includes('entries.leaf_hash')) return new StorageError('duplicate-entry', 'an entry of the batch is already in the log', { cause: e });
      if (msg.includes('entries.idx')) return new StorageError('size-mismatch', 'another writer appended at these indexes', { cause: e });
      if (msg.includes('checkpoints.size')) return new StorageError('checkpoint-exists', 'a checkpoint for this size is already stored', { cause: e });
    }
  }
  return err;
}

function isConstraint(err: unknown, kind: string): boolean {
  for (const e of causes(err)) {
    if ((e as { code?: unknown }).code === kind) return true;
  }
  return false;
}

export class SqliteStore implements LogStore {
  readonly backend = 'sqlite' as const;
  readonly file: string;
  private readonly sqlite: Database.Database;
  private readonly db: BetterSQLite3Database;
  private lockDb: Database.Database | null = null;
  private writer: Writer | null = null;
  private closed = false;
  private readonly leafStmt: Database.Statement<[Buffer], { idx: number }>;

  private readonly tileStmt;
  private readonly sizeStmt;

  constructor(file: string, sqlite: Database.Database) {
    this.file = file;
    this.sqlite = sqlite;
    this.db = drizzle({ client: sqlite });
    this.tileStmt = this.db
      .select({ width: tiles.width, data: tiles.data })
      .from(tiles)
      .where(and(eq(tiles.level, sql.placeholder('level')), eq(tiles.n, sql.placeholder('n'))))
      .prepare();
    this.sizeStmt = this.db.select({ size: sql<number | null>`max(${checkpoints.size})` }).from(checkpoints).prepare();
    // The sequencer's dedupe lookup, once per submission batch: a plain prepared statement on
    // the unique index (building a query through drizzle cost more than running it).
    this.leafStmt = sqlite.prepare('SELECT idx FROM entries WHERE leaf_hash = ?');
  }

  private live(): void {
    if (this.closed) throw new StorageError('closed', 'the store is closed');
  }

  // --- sequencing -------------------------------------------------------------------------

  async acquireSequencerLock(): Promise<SequencerLock> {
    this.live();
    if (this.lockDb !== null) throw new StorageError('locked', 'this store already holds the sequencer lock');
    const file = sqliteLockPath(this.file);
    const ldb = new Database(file);
    try {
      ldb.pragma('busy_timeout = 0'); // refuse at once: waiting would only hide a second sequencer
      ldb.exec('BEGIN EXCLUSIVE');
    } catch (err) {
      ldb.close();
      if ((err as { code?: unknown }).code === 'SQLITE_BUSY') {
        throw new StorageError('locked', `another process holds the sequencer lock of ${this.file} (${file})`, { cause: err });
      }
      throw err;
    }
    this.lockDb = ldb;
    // The sequencer is the one caller of appendBatch: start its writer thread now, not on the
    // first batch.
    if (this.writer === null) this.writer = new Writer(this.file);
    return {
      // POSIX locks are not lost while the process lives and the file descriptor is open.
      lost: new Promise<Error>(() => {}),
      release: async () => {
        if (this.lockDb === ldb) {
          this.lockDb = null;
          ldb.close(); // rolls the transaction back and drops the fcntl lock
        }
      },
    };
  }

  async appendBatch(batch: Batch): Promise<void> {
    this.live();
    checkBatch(batch);
    if (this.writer === null || !this.writer.alive) this.writer = new Writer(this.file);
    await this.writer.append(batch);
  }

  async size(): Promise<number> {
    this.live();
    return this.sizeStmt.get()?.size ?? 0;
  }

  // --- entries ----------------------------------------------------------------------------

  async readEntries(start: number, end: number): Promise<Uint8Array[]> {
    this.live();
    checkRange(start, end);
    const rows = this.db
      .select({ data: entries.data })
      .from(entries)
      .where(and(gte(entries.idx, start), lt(entries.idx, end)))
      .orderBy(asc(entries.idx))
      .all();
    if (rows.length !== end - start) bad(`entries [${start}, ${end}) are beyond the log`);
    return rows.map((r) => r.data);
  }

  async findLeafHashes(leafHashes: readonly Uint8Array[]): Promise<(number | null)[]> {
    this.live();
    if (!Array.isArray(leafHashes)) bad('leafHashes must be an array');
    leafHashes.forEach((h, i) => checkBytes(h, `leafHashes[${i}]`, 32, 32));
    return leafHashes.map((h) => this.leafStmt.get(Buffer.from(h.buffer, h.byteOffset, h.byteLength))?.idx ?? null);
  }

  async readEntryBundle(n: number, width: number): Promise<Uint8Array | null> {
    this.live();
    checkUint(n, 'n');
    if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH) bad(`width must be 1..${TILE_WIDTH}`);
    const start = n * TILE_WIDTH;
    checkUint(start + width, 'bundle end');
    const rows = this.db
      .select({ data: entries.data })
      .from(entries)
      .where(and(gte(entries.idx, start), lt(entries.idx, start + width)))
      .orderBy(asc(entries.idx))
      .all();
    if (rows.length !== width) return null;
    return encodeEntryBundle(rows.map((r) => r.data));
  }

  // --- tiles ------------------------------------------------------------------------------

  async readTiles(list: readonly Tile[]): Promise<(Uint8Array | null)[]> {
    this.live();
    if (!Array.isArray(list)) bad('tiles must be an array');
    return list.map((t, i) => {
      checkTile(t, `tiles[${i}]`);
      const row = this.tileStmt.get({ level: t.level, n: t.n });
      if (row === undefined || row.width < t.width) return null;
      return row.width === t.width ? row.data : row.data.slice(0, t.width * 32);
    });
  }

  // --- checkpoints and cosignatures -------------------------------------------------------

  private cosignaturesOf(size: number): CosignatureRecord[] {
    return this.db
      .select({
        witness: cosignatures.witness,
        firstTime: cosignatures.firstTime,
        firstLine: cosignatures.firstLine,
        lastTime: cosignatures.lastTime,
        lastLine: cosignatures.lastLine,
      })
      .from(cosignatures)
      .where(eq(cosignatures.size, size))
      .orderBy(asc(cosignatures.witness))
      .all();
  }

  private checkpointAt(size: number): StoredCheckpoint | null {
    const row = this.db.select().from(checkpoints).where(eq(checkpoints.size, size)).get();
    if (row === undefined) return null;
    return { size: row.size, note: row.note, cosignatures: this.cosignaturesOf(size) };
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | null> {
    this.live();
    // One read transaction, so the note and its cosignatures are of the same moment.
    return this.db.transaction(() => {
      const size = this.sizeStmt.get()?.size;
      return size === null || size === undefined ? null : this.checkpointAt(size);
    });
  }

  async readCheckpoint(size: number): Promise<StoredCheckpoint | null> {
    this.live();
    checkUint(size, 'size');
    return this.db.transaction(() => this.checkpointAt(size));
  }

  async addCosignature(c: CosignatureInput): Promise<void> {
    this.live();
    const size = checkUint(c.size, 'size');
    const witness = checkName(c.witness, 'witness');
    const time = checkUint(c.time, 'time');
    const line = checkLine(c.line, 'line');
    try {
      this.db
        .insert(cosignatures)
        .values({ size, witness, firstTime: time, firstLine: line, lastTime: time, lastLine: line })
        .onConflictDoUpdate({
          target: [cosignatures.size, cosignatures.witness],
          // Every right-hand side reads the row as it was before this update.
          set: {
            firstTime: sql`CASE WHEN excluded.first_time < ${cosignatures.firstTime} THEN excluded.first_time ELSE ${cosignatures.firstTime} END`,
            firstLine: sql`CASE WHEN excluded.first_time < ${cosignatures.firstTime} THEN excluded.first_line ELSE ${cosignatures.firstLine} END`,
            lastTime: sql`CASE WHEN excluded.last_time > ${cosignatures.lastTime} THEN excluded.last_time ELSE ${cosignatures.lastTime} END`,
            lastLine: sql`CASE WHEN excluded.last_time > ${cosignatures.lastTime} THEN excluded.last_line ELSE ${cosignatures.lastLine} END`,
          },
        })
        .run();
    } catch (err) {
      if (isConstraint(err, 'SQLITE_CONSTRAINT_FOREIGNKEY')) throw new StorageError('no-checkpoint', `no checkpoint of size ${size}`, { cause: err });
      throw err;
    }
  }

  private quorumSizes(minSize: number | null, q: QuorumQuery, order: 'asc' | 'desc'): number | null {
    const { witnesses, quorum, maxTime } = checkQuorum(q);
    if (witnesses.length < quorum) return null;
    const conds: SQL[] = [inArray(cosignatures.witness, witnesses)];
    if (minSize !== null) conds.push(gte(cosignatures.size, minSize));
    if (maxTime !== undefined) conds.push(lte(cosignatures.firstTime, maxTime));
    const row = this.db
      .select({ size: cosignatures.size })
      .from(cosignatures)
      .where(and(...conds))
      .groupBy(cosignatures.size)
      .having(sql`count(*) >= ${quorum}`)
      .orderBy(order === 'asc' ? asc(cosignatures.size) : desc(cosignatures.size))
      .limit(1)
      .get();
    return row?.size ?? null;
  }

  async earliestQuorumCheckpoint(minSize: number, q: QuorumQuery): Promise<StoredCheckpoint | null> {
    this.live();
    checkUint(minSize, 'minSize');
    return this.db.transaction(() => {
      const size = this.quorumSizes(minSize, q, 'asc');
      return size === null ? null : this.checkpointAt(size);
    });
  }

  async latestQuorumCheckpoint(q: QuorumQuery): Promise<StoredCheckpoint | null> {
    this.live();
    return this.db.transaction(() => {
      const size = this.quorumSizes(null, q, 'desc');
      return size === null ? null : this.checkpointAt(size);
    });
  }

  // --- witnesses --------------------------------------------------------------------------

  async setWitnessState(s: WitnessState): Promise<void> {
    this.live();
    const witness = checkName(s.witness, 'witness');
    const size = checkUint(s.size, 'size');
    const updatedAt = checkUint(s.updatedAt, 'updatedAt');
    this.db
      .insert(witnessState)
      .values({ witness, size, updatedAt })
      .onConflictDoUpdate({ target: witnessState.witness, set: { size, updatedAt } })
      .run();
  }

  async readWitnessState(witness: string): Promise<WitnessState | null> {
    this.live();
    checkName(witness, 'witness');
    return this.db.select().from(witnessState).where(eq(witnessState.witness, witness)).get() ?? null;
  }

  async readWitnessStates(): Promise<WitnessState[]> {
    this.live();
    return this.db.select().from(witnessState).orderBy(asc(witnessState.witness)).all();
  }

  // --- request nonces ---------------------------------------------------------------------

  async rememberNonce(key: string, nonce: Uint8Array, expiresAt: number, now: number): Promise<boolean> {
    this.live();
    checkName(key, 'key');
    checkBytes(nonce, 'nonce', 1, MAX_NONCE_SIZE);
    checkUint(expiresAt, 'expiresAt');
    checkUint(now, 'now');
    // Inserts, or replaces a record expired at `now`; a live record makes this change nothing.
    const res = this.db
      .insert(nonces)
      .values({ key, nonce, expiresAt })
      .onConflictDoUpdate({
        target: [nonces.key, nonces.nonce],
        set: { expiresAt: sql`excluded.expires_at` },
        setWhere: sql`${nonces.expiresAt} <= ${now}`,
      })
      .run();
    return res.changes === 1;
  }

  async pruneNonces(now: number): Promise<number> {
    this.live();
    checkUint(now, 'now');
    return this.db.delete(nonces).where(lte(nonces.expiresAt, now)).run().changes;
  }

  // --- quotas -----------------------------------------------------------------------------

  async chargeQuota(c: QuotaCharge): Promise<QuotaResult> {
    this.live();
    const scope = checkName(c.scope, 'scope');
    const key = checkName(c.key, 'key');
    const period = checkUint(c.period, 'period');
    const amount = checkUint(c.amount, 'amount');
    const limit = checkUint(c.limit, 'limit');
    return this.db.transaction(() => {
      const current = (): number =>
        this.db
          .select({ used: quotas.used })
          .from(quotas)
          .where(and(eq(quotas.scope, scope), eq(quotas.key, key), eq(quotas.period, period)))
          .get()?.used ?? 0;
      if (amount > limit) return { allowed: false, used: current() };
      const row = this.db
        .insert(quotas)
        .values({ scope, key, period, used: amount })
        .onConflictDoUpdate({
          target: [quotas.scope, quotas.key, quotas.period],
          set: { used: sql`${quotas.used} + excluded.used` },
          setWhere: sql`${quotas.used} + excluded.used <= ${limit}`,
        })
        .returning({ used: quotas.used })
        .get();
      return row === undefined ? { allowed: false, used: current() } : { allowed: true, used: row.used };
    });
  }

  async readQuotas(scope: string, period: number): Promise<{ key: string; used: number }[]> {
    this.live();
    checkName(scope, 'scope');
    checkUint(period, 'period');
    return this.db
      .select({ key: quotas.key, used: quotas.used })
      .from(quotas)
      .where(and(eq(quotas.scope, scope), eq(quotas.period, period)))
      .orderBy(asc(quotas.key))
      .all();
  }

  async pruneQuotas(scope: string, beforePeriod: number): Promise<number> {
    this.live();
    checkName(scope, 'scope');
    checkUint(beforePeriod, 'beforePeriod');
    return this.db
      .delete(quotas)
      .where(and(eq(quotas.scope, scope), lt(quotas.period, beforePeriod)))
      .run().changes;
  }

  // --- blob metadata ----------------------------------------------------------------------

  async putBlobMeta(m: BlobMeta): Promise<boolean> {
    this.live();
    const digest = checkBytes(m.digest, 'digest', 32, 32);
    const size = checkUint(m.size, 'size');
    const createdAt = checkUint(m.createdAt, 'createdAt');
    return this.db.transaction(() => {
      const res = this.db.insert(blobs).values({ digest, size, createdAt }).onConflictDoNothing().run();
      if (res.changes === 1) return true;
      const old = this.db.select({ size: blobs.size }).from(blobs).where(eq(blobs.digest, digest)).get();
      if (old !== undefined && old.size !== size) throw new StorageError('conflict', `blob is stored with size ${old.size}, not ${size}`);
      return false;
    });
  }

  async getBlobMeta(digest: Uint8Array): Promise<BlobMeta | null> {
    this.live();
    checkBytes(digest, 'digest', 32, 32);
    const row = this.db.select().from(blobs).where(eq(blobs.digest, digest)).get();
    return row ?? null;
  }

  /** Test and operator hook: the underlying connection (no other module needs it). */
  get connection(): Database.Database {
    return this.sqlite;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.writer !== null) {
      const w = this.writer;
      this.writer = null;
      await w.close();
    }
    if (this.lockDb !== null) {
      this.lockDb.close();
      this.lockDb = null;
    }
    this.sqlite.close();
  }
}
