// The PostgreSQL driver, through node-postgres (`pg`) and drizzle-orm/node-postgres.
//
// Why node-postgres rather than postgres.js: the sequencer lock is a session-level advisory
// lock, which lives exactly as long as the connection (session) that took it. With node-postgres
// that connection is an explicit `pg.Client` the store owns for the process lifetime, whose
// 'error' and 'end' events say when the lock is gone; postgres.js pools implicitly and needs
// `reserve()` to pin a connection. Transactions go through drizzle's node-postgres session, which
// checks one client out of a `pg.Pool` for the whole transaction — drizzle's reference PostgreSQL
// driver, with isolation levels as transaction options.
//
// Isolation. appendBatch runs at READ COMMITTED, PostgreSQL's default, and that suffices: its
// reads (the current size) only decide whether to go on, and every write that could conflict
// with another writer's is guarded by a key — two batches from the same expected size both
// insert entry `expectedSize` (primary key) and checkpoint `size` (primary key), so the second
// waits for the first and then fails whole, mapped to 'size-mismatch'/'checkpoint-exists'. The
// tile upsert's WHERE is re-evaluated against the newest row version after such a wait.
// SERIALIZABLE would add serialization failures to retry and protect nothing more.
//
// Atomic counters and nonces are single INSERT … ON CONFLICT DO UPDATE … WHERE statements: the
// conflicting row is locked, so concurrent calls serialise on it.
//
// One log per database: the schema lives in the connection's search_path (public by default)
// and the advisory lock key is per database (PostgreSQL scopes advisory locks to a database).

import { createHash } from 'node:crypto';
import pg from 'pg';
import { and, asc, desc, eq, gte, inArray, lt, lte, or, sql } from 'drizzle-orm';
import type { SQL } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import { encodeEntryBundle, TILE_WIDTH } from '@concord/client-sdk/tiles';
import type { Tile } from '@concord/client-sdk/tiles';
import { blobs, checkpoints, cosignatures, entries, nonces, PG_MIGRATIONS, quotas, tiles, witnessState } from './schema-pg.js';
import { bad, causes, checkBatch, checkBytes, checkLine, checkName, checkQuorum, checkRange, checkTile, checkUint, CHUNK, MAX_NONCE_SIZE } from './common.js';
import { StorageError } from './types.js';
import type {
  Batch,
  BlobMeta,
  CosignatureRecord,
  CosignatureInput,
  LogStore,
  QuorumQuery,
  QuotaCharge,
  QuotaResult,
  SequencerLock,
  StoredCheckpoint,
  WitnessState,
} from './types.js';

export const PG_SCHEMA_VERSION = PG_MIGRATIONS.length;

/** A 64-bit advisory lock key: the first 8 bytes of SHA-256 of a fixed label, as a signed bigint. */
function lockKey(label: string): string {
  return createHash('sha256').update(label).digest().readBigInt64BE(0).toString();
}
/** The single-sequencer lock (session level, held by a dedicated connection). */
export const PG_SEQUENCER_LOCK_KEY = lockKey('concord/log-server/sequencer');
/** Serialises concurrent schema creation (transaction level). */
const CREATE_LOCK_KEY = lockKey('concord/log-server/create');

const POOL_SIZE = 8;

type Queryable = Pick<pg.PoolClient, 'query'>;

async function schemaVersion(c: Queryable): Promise<string | null | undefined> {
  const t = await c.query<{ t: string | null }>("SELECT to_regclass('meta')::text AS t");
  if (t.rows[0]?.t === null || t.rows[0]?.t === undefined) return undefined; // no log here
  const v = await c.query<{ value: string }>("SELECT value FROM meta WHERE key = 'schema_version'");
  return v.rows[0]?.value ?? null;
}

function mapConnectError(err: unknown, url: string): unknown {
  // 3D000 invalid_catalog_name: the database itself does not exist.
  if ((err as { code?: unknown }).code === '3D000') return new StorageError('not-found', `no PostgreSQL database at ${redact(url)}`, { cause: err });
  return err;
}

/** The URL without its password, for messages. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

async function createSchema(pool: pg.Pool, url: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1)', [CREATE_LOCK_KEY]);
      if ((await schemaVersion(client)) !== undefined) throw new StorageError('exists', `a log already exists in ${redact(url)}`);
      for (const m of PG_MIGRATIONS) await client.query(m);
      await client.query("INSERT INTO meta (key, value) VALUES ('schema_version', $1)", [String(PG_SCHEMA_VERSION)]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    }
  } finally {
    client.release();
  }
}

/** Opens (or with `create`, first creates) the log in the PostgreSQL database at `url`. */
export async function openPostgresStore(url: string, options: { create?: boolean } = {}): Promise<PostgresStore> {
  // synchronous_commit=on for every pooled session, whatever the server or role default: a
  // commit returns only once its WAL is flushed, so an acknowledged batch survives a crash or
  // power loss of the database server (with `off`, the last commits could vanish and their
  // sizes be signed again over different entries).
  const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE, keepAlive: true, options: '-c synchronous_commit=on' });
  // An idle pooled connection that breaks emits 'error' on the pool; without a listener that
  // would crash the process. The pool discards the client; the next query opens a new one.
  pool.on('error', () => {});
  try {
    if (options.create === true) {
      await createSchema(pool, url);
    } else {
      const v = await schemaVersion(pool);
      if (v === undefined) throw new StorageError('not-found', `no log in ${redact(url)} (create one first)`);
      if (v !== String(PG_SCHEMA_VERSION)) {
        throw new StorageError('schema-version', `${redact(url)} has schema version ${v ?? 'none'}, this server needs ${PG_SCHEMA_VERSION}`);
      }
    }
  } catch (err) {
    await pool.end();
    throw mapConnectError(err, url);
  }
  return new PostgresStore(url, pool);
}

/** Maps a constraint violation raised inside appendBatch to its StorageError. */
function mapBatchError(err: unknown): unknown {
  for (const e of causes(err)) {
    if (e instanceof StorageError) return e;
    const { code, constraint } = e as { code?: unknown; constraint?: unknown };
    if (code === '23505') {
      if (constraint === 'entries_leaf_hash_unique') return new StorageError('duplicate-entry', 'an entry of the batch is already in the log', { cause: e });
      if (constraint === 'entries_pkey') return new StorageError('size-mismatch', 'another writer appended at these indexes', { cause: e });
      if (constraint === 'checkpoints_pkey') return new StorageError('checkpoint-exists', 'a checkpoint for this size is already stored', { cause: e });
    }
  }
  return err;
}

const TILE_UPSERT =
  ' ON CONFLICT (level, n) DO UPDATE SET width = excluded.width, data = excluded.data' +
  ' WHERE tiles.width < excluded.width AND substring(excluded.data from 1 for octet_length(tiles.data)) = tiles.data';

/** Statement texts of appendBatch by shape ("… VALUES ($1, $2), ($3, $4)" and so on), built once each. */
const insertTexts = new Map<string, string>();

function insertText(head: string, rows: number, cols: number, tail: string): string {
  const key = `${head}|${rows}|${cols}|${tail}`;
  let text = insertTexts.get(key);
  if (text === undefined) {
    const values: string[] = [];
    for (let r = 0; r < rows; r++) values.push(`(${Array.from({ length: cols }, (_, c) => `$${r * cols + c + 1}`).join(', ')})`);
    text = head + values.join(', ') + tail;
    if (insertTexts.size >= 1024) insertTexts.clear();
    insertTexts.set(key, text);
  }
  return text;
}

/** A bytea parameter (node-postgres sends Buffers as bytea). */
function pgBytes(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function hasCode(err: unknown, code: string): boolean {
  for (const e of causes(err)) if ((e as { code?: unknown }).code === code) return true;
  return false;
}

/** PostgreSQL returns bigint aggregates as strings. */
function num(v: unknown): number {
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`bad math: ${String(v)} is not a safe integer`);
  return n;
}

export class PostgresStore implements LogStore {
  readonly backend = 'postgres' as const;
  private readonly url: string;
  private readonly pool: pg.Pool;
  private readonly db: NodePgDatabase;
  private lock: { client: pg.Client; release(): Promise<void> } | null = null;
  private closed = false;

  constructor(url: string, pool: pg.Pool) {
    this.url = url;
    this.pool = pool;
    this.db = drizzle({ client: pool });
  }

  private live(): void {
    if (this.closed) throw new StorageError('closed', 'the store is closed');
  }

  // --- sequencing -------------------------------------------------------------------------

  async acquireSequencerLock(): Promise<SequencerLock> {
    this.live();
    if (this.lock !== null) throw new StorageError('locked', 'this store already holds the sequencer lock');
    // A connection of its own, outside the pool, for the lifetime of the lock: the session-level
    // advisory lock is released by PostgreSQL when this session ends, whatever ends it.
    const client = new pg.Client({ connectionString: this.url, keepAlive: true });
    let held = false;
    let onLost: (e: Error) => void = () => {};
    const lost = new Promise<Error>((resolve) => {
      onLost = resolve;
    });
    client.on('error', (e: Error) => {
      if (held) onLost(e);
    });
    client.on('end', () => {
      if (held) onLost(new Error('the connection holding the sequencer lock closed'));
    });
    try {
      await client.connect();
      const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [PG_SEQUENCER_LOCK_KEY]);
      if (r.rows[0]?.ok !== true) throw new StorageError('locked', `another session holds the sequencer lock of ${redact(this.url)}`);
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
    held = true;
    const release = async (): Promise<void> => {
      if (this.lock?.client !== client) return;
      held = false;
      this.lock = null;
      // Ending the session releases the lock; unlock first so it is free even if end() stalls.
      await client.query('SELECT pg_advisory_unlock($1)', [PG_SEQUENCER_LOCK_KEY]).catch(() => {});
      await client.end().catch(() => {});
    };
    this.lock = { client, release };
    return { lost, release };
  }

  private async currentSize(db: Pick<NodePgDatabase, 'select'>): Promise<number> {
    const rows = await db.select({ size: sql<string | null>`max(${checkpoints.size})` }).from(checkpoints);
    const v = rows[0]?.size;
    return v === null || v === undefined ? 0 : num(v);
  }

  async appendBatch(batch: Batch): Promise<void> {
    this.live();
    checkBatch(batch);
    // The sequencer's hot path, in plain parameterised SQL on one pooled client (building these
    // multi-row statements through drizzle cost more event-loop time than the whole round trip):
    // the same statements, checks and error mapping as everywhere else in this driver.
    const client = await this.pool.connect();
    let broken: unknown;
    try {
      await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
      try {
        const cur = await client.query<{ size: string | null }>('SELECT max(size) AS size FROM checkpoints');
        const v = cur.rows[0]?.size;
        const current = v === null || v === undefined ? 0 : num(v);
        if (current !== batch.expectedSize) {
          throw new StorageError('size-mismatch', `the log has ${current} entries, the batch expected ${batch.expectedSize}`);
        }
        for (let i = 0; i < batch.entries.length; i += CHUNK) {
          const rows = batch.entries.slice(i, i + CHUNK);
          await client.query(
            insertText('INSERT INTO entries (idx, leaf_hash, data) VALUES ', rows.length, 3, ''),
            rows.flatMap((e) => [e.index, pgBytes(e.leafHash), pgBytes(e.data)]),
          );
        }
        for (let i = 0; i < batch.tiles.length; i += CHUNK) {
          const rows = batch.tiles.slice(i, i + CHUNK);
          // A row may only widen, keeping its stored bytes as a prefix (types.ts); a full row
          // (width 256) can never be written again. Each row must insert or update.
          const res = await client.query(
            insertText('INSERT INTO tiles (level, n, width, data) VALUES ', rows.length, 4, TILE_UPSERT),
            rows.flatMap((t) => [t.tile.level, t.tile.n, t.tile.width, pgBytes(t.data)]),
          );
          if (res.rowCount !== rows.length) {
            throw new StorageError('tile-conflict', 'a tile of the batch would shrink or change stored hashes');
          }
        }
        await client.query('INSERT INTO checkpoints (size, note) VALUES ($1, $2)', [batch.checkpoint.size, pgBytes(batch.checkpoint.note)]);
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackErr) {
          broken = rollbackErr; // the connection is unusable: the pool must not reuse it
        }
        throw err;
      }
      // A failed COMMIT (connection lost) leaves the outcome unknown: the error goes up as is.
      await client.query('COMMIT');
    } catch (err) {
      throw mapBatchError(err);
    } finally {
      client.release(broken === undefined ? undefined : (broken as Error));
    }
  }

  async size(): Promise<number> {
    this.live();
    return this.currentSize(this.db);
  }

  // --- entries ----------------------------------------------------------------------------

  async readEntries(start: number, end: number): Promise<Uint8Array[]> {
    this.live();
    checkRange(start, end);
    if (start === end) return [];
    const rows = await this.db
      .select({ data: entries.data })
      .from(entries)
      .where(and(gte(entries.idx, start), lt(entries.idx, end)))
      .orderBy(asc(entries.idx));
    if (rows.length !== end - start) bad(`entries [${start}, ${end}) are beyond the log`);
    return rows.map((r) => r.data);
  }

  async findLeafHashes(leafHashes: readonly Uint8Array[]): Promise<(number | null)[]> {
    this.live();
    if (!Array.isArray(leafHashes)) bad('leafHashes must be an array');
    leafHashes.forEach((h, i) => checkBytes(h, `leafHashes[${i}]`, 32, 32));
    const found = new Map<string, number>();
    for (let i = 0; i < leafHashes.length; i += CHUNK) {
      const chunk = leafHashes.slice(i, i + CHUNK);
      // One plain statement per call (the sequencer's dedupe, once per batch): leaf_hash = ANY($1).
      const res = await this.pool.query<{ idx: string; leaf_hash: Buffer }>('SELECT idx, leaf_hash FROM entries WHERE leaf_hash = ANY($1::bytea[])', [
        chunk.map(pgBytes),
      ]);
      for (const r of res.rows) found.set(r.leaf_hash.toString('hex'), num(r.idx));
    }
    return leafHashes.map((h) => found.get(Buffer.from(h.buffer, h.byteOffset, h.byteLength).toString('hex')) ?? null);
  }

  async readEntryBundle(n: number, width: number): Promise<Uint8Array | null> {
    this.live();
    checkUint(n, 'n');
    if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH) bad(`width must be 1..${TILE_WIDTH}`);
    const start = n * TILE_WIDTH;
    checkUint(start + width, 'bundle end');
    const rows = await this.db
      .select({ data: entries.data })
      .from(entries)
      .where(and(gte(entries.idx, start), lt(entries.idx, start + width)))
      .orderBy(asc(entries.idx));
    if (rows.length !== width) return null;
    return encodeEntryBundle(rows.map((r) => r.data));
  }

  // --- tiles ------------------------------------------------------------------------------

  async readTiles(list: readonly Tile[]): Promise<(Uint8Array | null)[]> {
    this.live();
    if (!Array.isArray(list)) bad('tiles must be an array');
    list.forEach((t, i) => checkTile(t, `tiles[${i}]`));
    if (list.length === 0) return [];
    const found = new Map<string, { width: number; data: Uint8Array }>();
    for (let i = 0; i < list.length; i += CHUNK) {
      const chunk = list.slice(i, i + CHUNK);
      const rows = await this.db
        .select()
        .from(tiles)
        .where(or(...chunk.map((t) => and(eq(tiles.level, t.level), eq(tiles.n, t.n)))));
      for (const r of rows) found.set(`${r.level}/${r.n}`, r);
    }
    return list.map((t) => {
      const row = found.get(`${t.level}/${t.n}`);
      if (row === undefined || row.width < t.width) return null;
      return row.width === t.width ? row.data : row.data.slice(0, t.width * 32);
    });
  }

  // --- checkpoints and cosignatures -------------------------------------------------------

  private async checkpointAt(size: number): Promise<StoredCheckpoint | null> {
    // The checkpoint row never changes and cosignatures only accumulate, so two reads outside a
    // transaction give a consistent answer (at worst with a cosignature newer than the first read).
    const rows = await this.db.select().from(checkpoints).where(eq(checkpoints.size, size));
    const row = rows[0];
    if (row === undefined) return null;
    const cos: CosignatureRecord[] = await this.db
      .select({
        witness: cosignatures.witness,
        firstTime: cosignatures.firstTime,
        firstLine: cosignatures.firstLine,
        lastTime: cosignatures.lastTime,
        lastLine: cosignatures.lastLine,
      })
      .from(cosignatures)
      .where(eq(cosignatures.size, size))
      .orderBy(asc(cosignatures.witness));
    return { size: row.size, note: row.note, cosignatures: cos };
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | null> {
    this.live();
    const rows = await this.db.select({ size: checkpoints.size }).from(checkpoints).orderBy(desc(checkpoints.size)).limit(1);
    const size = rows[0]?.size;
    return size === undefined ? null : this.checkpointAt(size);
  }

  async readCheckpoint(size: number): Promise<StoredCheckpoint | null> {
    this.live();
    checkUint(size, 'size');
    return this.checkpointAt(size);
  }

  async addCosignature(c: CosignatureInput): Promise<void> {
    this.live();
    const size = checkUint(c.size, 'size');
    const witness = checkName(c.witness, 'witness');
    const time = checkUint(c.time, 'time');
    const line = checkLine(c.line, 'line');
    try {
      await this.db
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
        });
    } catch (err) {
      // 23503 foreign_key_violation: no checkpoint of that size.
      if (hasCode(err, '23503')) throw new StorageError('no-checkpoint', `no checkpoint of size ${size}`, { cause: err });
      throw err;
    }
  }

  private async quorumSize(minSize: number | null, q: QuorumQuery, order: 'asc' | 'desc'): Promise<number | null> {
    const { witnesses, quorum, maxTime } = checkQuorum(q);
    if (witnesses.length < quorum) return null;
    const conds: SQL[] = [inArray(cosignatures.witness, witnesses)];
    if (minSize !== null) conds.push(gte(cosignatures.size, minSize));
    if (maxTime !== undefined) conds.push(lte(cosignatures.firstTime, maxTime));
    const rows = await this.db
      .select({ size: cosignatures.size })
      .from(cosignatures)
      .where(and(...conds))
      .groupBy(cosignatures.size)
      .having(sql`count(*) >= ${quorum}`)
      .orderBy(order === 'asc' ? asc(cosignatures.size) : desc(cosignatures.size))
      .limit(1);
    return rows[0]?.size ?? null;
  }

  async earliestQuorumCheckpoint(minSize: number, q: QuorumQuery): Promise<StoredCheckpoint | null> {
    this.live();
    checkUint(minSize, 'minSize');
    const size = await this.quorumSize(minSize, q, 'asc');
    return size === null ? null : this.checkpointAt(size);
  }

  async latestQuorumCheckpoint(q: QuorumQuery): Promise<StoredCheckpoint | null> {
    this.live();
    const size = await this.quorumSize(null, q, 'desc');
    return size === null ? null : this.checkpointAt(size);
  }

  // --- witnesses --------------------------------------------------------------------------

  async setWitnessState(s: WitnessState): Promise<void> {
    this.live();
    const witness = checkName(s.witness, 'witness');
    const size = checkUint(s.size, 'size');
    const updatedAt = checkUint(s.updatedAt, 'updatedAt');
    await this.db.insert(witnessState).values({ witness, size, updatedAt }).onConflictDoUpdate({ target: witnessState.witness, set: { size, updatedAt } });
  }

  async readWitnessState(witness: string): Promise<WitnessState | null> {
    this.live();
    checkName(witness, 'witness');
    const rows = await this.db.select().from(witnessState).where(eq(witnessState.witness, witness));
    return rows[0] ?? null;
  }

  async readWitnessStates(): Promise<WitnessState[]> {
    this.live();
    return this.db.select().from(witnessState).orderBy(asc(witnessState.witness));
  }

  // --- request nonces ---------------------------------------------------------------------

  async rememberNonce(key: string, nonce: Uint8Array, expiresAt: number, now: number): Promise<boolean> {
    this.live();
    checkName(key, 'key');
    checkBytes(nonce, 'nonce', 1, MAX_NONCE_SIZE);
    checkUint(expiresAt, 'expiresAt');
    checkUint(now, 'now');
    // Inserts, or replaces a record expired at `now`; a live record makes this change nothing.
    const res = await this.db
      .insert(nonces)
      .values({ key, nonce, expiresAt })
      .onConflictDoUpdate({
        target: [nonces.key, nonces.nonce],
        set: { expiresAt: sql`excluded.expires_at` },
        setWhere: sql`${nonces.expiresAt} <= ${now}`,
      });
    return res.rowCount === 1;
  }

  async pruneNonces(now: number): Promise<number> {
    this.live();
    checkUint(now, 'now');
    const res = await this.db.delete(nonces).where(lte(nonces.expiresAt, now));
    return res.rowCount ?? 0;
  }

  // --- quotas -----------------------------------------------------------------------------

  private async quotaUsed(scope: string, key: string, period: number): Promise<number> {
    const rows = await this.db
      .select({ used: quotas.used })
      .from(quotas)
      .where(and(eq(quotas.scope, scope), eq(quotas.key, key), eq(quotas.period, period)));
    return rows[0]?.used ?? 0;
  }

  async chargeQuota(c: QuotaCharge): Promise<QuotaResult> {
    this.live();
    const scope = checkName(c.scope, 'scope');
    const key = checkName(c.key, 'key');
    const period = checkUint(c.period, 'period');
    const amount = checkUint(c.amount, 'amount');
    const limit = checkUint(c.limit, 'limit');
    if (amount > limit) return { allowed: false, used: await this.quotaUsed(scope, key, period) };
    const rows = await this.db
      .insert(quotas)
      .values({ scope, key, period, used: amount })
      .onConflictDoUpdate({
        target: [quotas.scope, quotas.key, quotas.period],
        set: { used: sql`${quotas.used} + excluded.used` },
        setWhere: sql`${quotas.used} + excluded.used <= ${limit}`,
      })
      .returning({ used: quotas.used });
    const row = rows[0];
    // Refused: report the count as it stands (read after the refusal, so it may have moved on).
    return row === undefined ? { allowed: false, used: await this.quotaUsed(scope, key, period) } : { allowed: true, used: row.used };
  }

  async readQuotas(scope: string, period: number): Promise<{ key: string; used: number }[]> {
    this.live();
    checkName(scope, 'scope');
    checkUint(period, 'period');
    return this.db
      .select({ key: quotas.key, used: quotas.used })
      .from(quotas)
      .where(and(eq(quotas.scope, scope), eq(quotas.period, period)))
      .orderBy(asc(quotas.key));
  }

  async pruneQuotas(scope: string, beforePeriod: number): Promise<number> {
    this.live();
    checkName(scope, 'scope');
    checkUint(beforePeriod, 'beforePeriod');
    const res = await this.db.delete(quotas).where(and(eq(quotas.scope, scope), lt(quotas.period, beforePeriod)));
    return res.rowCount ?? 0;
  }

  // --- blob metadata ----------------------------------------------------------------------

  async putBlobMeta(m: BlobMeta): Promise<boolean> {
    this.live();
    const digest = checkBytes(m.digest, 'digest', 32, 32);
    const size = checkUint(m.size, 'size');
    const createdAt = checkUint(m.createdAt, 'createdAt');
    const res = await this.db.insert(blobs).values({ digest, size, createdAt }).onConflictDoNothing();
    if (res.rowCount === 1) return true;
    const old = await this.getBlobMeta(digest);
    if (old !== null && old.size !== size) throw new StorageError('conflict', `blob is stored with size ${old.size}, not ${size}`);
    return false;
  }

  async getBlobMeta(digest: Uint8Array): Promise<BlobMeta | null> {
    this.live();
    checkBytes(digest, 'digest', 32, 32);
    const rows = await this.db.select().from(blobs).where(eq(blobs.digest, digest));
    return rows[0] ?? null;
  }

  /** Test and operator hook: the pool (no other module needs it). */
  get connectionPool(): pg.Pool {
    return this.pool;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.lock?.release();
    await this.pool.end();
  }
}
