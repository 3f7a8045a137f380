// SQLite schema: drizzle table definitions (used for queries) and the DDL that creates them.
//
// The DDL is written out rather than generated, so that creating a log needs no tool
// (drizzle-kit) at run time and the exact constraints — STRICT tables, CHECKs, constraint names
// the driver maps to error codes — are visible in one place. storage-sqlite.test.ts checks that
// these drizzle definitions and the created tables agree column by column.
//
// Migrations: SQLITE_MIGRATIONS[v − 1] upgrades schema version v − 1 to v; `meta.schema_version`
// records the version. Creating a log runs them all; opening one requires the current version.

import { customType, index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';

/**
 * BLOB ⇄ Uint8Array. better-sqlite3 binds and returns Buffers (drizzle's own blob column hands
 * them through); callers of the store see plain Uint8Arrays, copies of what was read.
 */
const bytes = customType<{ data: Uint8Array; driverData: Buffer }>({
  dataType: () => 'blob',
  toDriver: (v) => (Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength)),
  fromDriver: (v) => new Uint8Array(v),
});

const int = (name: string) => integer(name, { mode: 'number' });

export const meta = sqliteTable('meta', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
});

export const entries = sqliteTable('entries', {
  idx: int('idx').primaryKey(),
  leafHash: bytes('leaf_hash').notNull().unique('entries_leaf_hash_unique'),
  data: bytes('data').notNull(),
});

export const tiles = sqliteTable(
  'tiles',
  {
    level: int('level').notNull(),
    n: int('n').notNull(),
    width: int('width').notNull(),
    data: bytes('data').notNull(),
  },
  (t) => [primaryKey({ columns: [t.level, t.n] })],
);

export const checkpoints = sqliteTable('checkpoints', {
  size: int('size').primaryKey(),
  note: bytes('note').notNull(),
});

export const cosignatures = sqliteTable(
  'cosignatures',
  {
    size: int('size').notNull(),
    witness: text('witness').notNull(),
    firstTime: int('first_time').notNull(),
    firstLine: text('first_line').notNull(),
    lastTime: int('last_time').notNull(),
    lastLine: text('last_line').notNull(),
  },
  (t) => [primaryKey({ columns: [t.size, t.witness] })],
);

export const nonces = sqliteTable(
  'nonces',
  {
    key: text('key').notNull(),
    nonce: bytes('nonce').notNull(),
    expiresAt: int('expires_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.key, t.nonce] }), index('nonces_expires_at').on(t.expiresAt)],
);

export const quotas = sqliteTable(
  'quotas',
  {
    scope: text('scope').notNull(),
    key: text('key').notNull(),
    period: int('period').notNull(),
    used: int('used').notNull(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.key, t.period] })],
);

export const witnessState = sqliteTable('witness_state', {
  witness: text('witness').primaryKey(),
  size: int('size').notNull(),
  updatedAt: int('updated_at').notNull(),
});

export const blobs = sqliteTable('blobs', {
  digest: bytes('digest').primaryKey(),
  size: int('size').notNull(),
  createdAt: int('created_at').notNull(),
});

export const SQLITE_TABLES = { meta, entries, tiles, checkpoints, cosignatures, nonces, quotas, witnessState, blobs };

export const SQLITE_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) STRICT;

  -- INTEGER PRIMARY KEY aliases the rowid: entries are stored in index order.
  CREATE TABLE entries (
    idx       INTEGER PRIMARY KEY CHECK (idx >= 0),
    leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32),
    data      BLOB NOT NULL CHECK (length(data) <= 65535),
    CONSTRAINT entries_leaf_hash_unique UNIQUE (leaf_hash)
  ) STRICT;

  CREATE TABLE tiles (
    level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 63),
    n     INTEGER NOT NULL CHECK (n >= 0),
    width INTEGER NOT NULL CHECK (width BETWEEN 1 AND 256),
    data  BLOB NOT NULL CHECK (length(data) = width * 32),
    PRIMARY KEY (level, n)
  ) STRICT;

  -- One signed checkpoint per size, forever: the primary key is the "never two roots" rule.
  CREATE TABLE checkpoints (
    size INTEGER PRIMARY KEY CHECK (size >= 0),
    note BLOB NOT NULL
  ) STRICT;

  CREATE TABLE cosignatures (
    size       INTEGER NOT NULL REFERENCES checkpoints (size),
    witness    TEXT NOT NULL,
    first_time INTEGER NOT NULL,
    first_line TEXT NOT NULL,
    last_time  INTEGER NOT NULL,
    last_line  TEXT NOT NULL,
    PRIMARY KEY (size, witness),
    CHECK (first_time <= last_time)
  ) STRICT;

  CREATE TABLE nonces (
    key        TEXT NOT NULL,
    nonce      BLOB NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (key, nonce)
  ) STRICT;
  CREATE INDEX nonces_expires_at ON nonces (expires_at);

  CREATE TABLE quotas (
    scope  TEXT NOT NULL,
    key    TEXT NOT NULL,
    period INTEGER NOT NULL,
    used   INTEGER NOT NULL CHECK (used >= 0),
    PRIMARY KEY (scope, key, period)
  ) STRICT;

  CREATE TABLE witness_state (
    witness    TEXT PRIMARY KEY,
    size       INTEGER NOT NULL CHECK (size >= 0),
    updated_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE blobs (
    digest     BLOB PRIMARY KEY CHECK (length(digest) = 32),
    size       INTEGER NOT NULL CHECK (size >= 0),
    created_at INTEGER NOT NULL
  ) STRICT;
  `,
];
