// The SQLite driver: the shared conformance suite, then what is SQLite's own — explicit
// creation, durability settings, the lock file, and the drizzle definitions agreeing with the
// created tables.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getTableConfig } from 'drizzle-orm/sqlite-core';
import { afterAll, describe, expect, it } from 'vitest';
import { createStore, openStore, parseStoreUrl, StorageError } from '@concord/log-server/storage/index';
import { SqliteStore, sqliteLockPath } from '@concord/log-server/storage/sqlite';
import { SQLITE_TABLES } from '@concord/log-server/storage/schema-sqlite';
import { runStorageConformance } from './storage-conformance.js';

const root = mkdtempSync(path.join(tmpdir(), 'concord-storage-sqlite-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const newPath = () => path.join(root, `log-${counter++}`, 'log.db');

describe('SQLite storage conformance', () => {
  runStorageConformance(async () => {
    const file = newPath();
    const url = `sqlite:${file}`;
    return { store: await createStore(url, { create: true }), url };
  });
});

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof StorageError) return err.code;
    throw err;
  }
  return 'no error';
}

describe('SQLite driver', () => {
  it('parses storage URLs', () => {
    expect(parseStoreUrl('sqlite:data/log.db')).toEqual({ backend: 'sqlite', location: 'data/log.db' });
    expect(parseStoreUrl('sqlite:///abs/log.db')).toEqual({ backend: 'sqlite', location: '/abs/log.db' });
    expect(parseStoreUrl('file:/abs/log.db')).toEqual({ backend: 'sqlite', location: '/abs/log.db' });
    expect(parseStoreUrl('./data/log.db')).toEqual({ backend: 'sqlite', location: './data/log.db' });
    expect(parseStoreUrl('postgres://u:p@h:5432/d')).toEqual({ backend: 'postgres', location: 'postgres://u:p@h:5432/d' });
    expect(parseStoreUrl('postgresql://h/d').backend).toBe('postgres');
    for (const bad of ['', 'mysql://h/d', 'sqlite:']) expect(() => parseStoreUrl(bad), bad).toThrow(StorageError);
  });

  it('never creates a log implicitly, and never creates over an existing file', async () => {
    const file = newPath();
    expect(await code(openStore(`sqlite:${file}`))).toBe('not-found');
    expect(existsSync(file)).toBe(false);
    expect(existsSync(path.dirname(file))).toBe(false);
    const store = await createStore(file, { create: true });
    await store.close();
    expect(await code(createStore(file, { create: true }))).toBe('exists');
    // Creation leaves only the database (no temporary file, no journal once closed).
    expect(readdirSync(path.dirname(file)).sort()).toEqual(['log.db']);
    const again = await openStore(file);
    expect(await again.size()).toBe(0);
    await again.close();
    // A file that is not a Concord log is not opened, and not modified.
    const junk = newPath();
    await createStore(path.join(path.dirname(junk), 'unused.db'), { create: true }).then((s) => s.close());
    writeFileSync(junk, 'not a database, just text that is long enough to have a header of some sort');
    expect(await code(openStore(junk))).toBe('not-found');
    expect(await code(createStore(junk, { create: true }))).toBe('exists');
  });

  it('refuses a database with another schema version', async () => {
    const file = newPath();
    const store = (await createStore(file, { create: true })) as SqliteStore;
    store.connection.prepare("UPDATE meta SET value = '999' WHERE key = 'schema_version'").run();
    await store.close();
    expect(await code(openStore(file))).toBe('schema-version');
  });

  it('runs in WAL mode with synchronous=FULL, foreign keys on and a busy timeout', async () => {
    const store = (await createStore(newPath(), { create: true })) as SqliteStore;
    const db = store.connection;
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    await store.close();
  });

  it('keeps the sequencer lock in a file beside the database', async () => {
    const file = newPath();
    const store = await createStore(file, { create: true });
    expect(existsSync(sqliteLockPath(file))).toBe(false);
    const lock = await store.acquireSequencerLock();
    expect(sqliteLockPath(file)).toBe(`${file}-sequencer`);
    expect(existsSync(sqliteLockPath(file))).toBe(true);
    await lock.release();
    await store.close();
  });

  it('has tables exactly as the drizzle definitions describe them', async () => {
    const store = (await createStore(newPath(), { create: true })) as SqliteStore;
    const db = store.connection;
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
    const defs = Object.values(SQLITE_TABLES).map((t) => getTableConfig(t));
    expect(tables).toEqual(defs.map((d) => d.name).sort());
    for (const def of defs) {
      const info = db.prepare(`PRAGMA table_info(${def.name})`).all() as { name: string; type: string; notnull: number; pk: number }[];
      const pkCols = def.primaryKeys.flatMap((pk) => pk.columns.map((c) => c.name));
      expect(
        info.map((c) => ({ name: c.name, type: c.type.toLowerCase(), notNull: c.notnull === 1 || c.pk > 0, pk: c.pk > 0 })),
        def.name,
      ).toEqual(
        def.columns.map((c) => ({ name: c.name, type: c.getSQLType().toLowerCase(), notNull: c.notNull || c.primary, pk: c.primary || pkCols.includes(c.name) })),
      );
    }
    await store.close();
  });
});
