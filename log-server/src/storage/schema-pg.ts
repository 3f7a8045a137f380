// PostgreSQL schema: drizzle table definitions (used for queries) and the DDL that creates them.
// The same tables as schema-sqlite.ts, in PostgreSQL's types: bigint for every index, size and
// time (JavaScript numbers ≤ 2^53 − 1, read back through drizzle's { mode: 'number' }), bytea
// for bytes. Constraint names are explicit because the driver maps unique violations to
// StorageError codes by name (postgres.ts). storage-postgres.test.ts checks that these
// definitions and the created tables agree column by column.
//
// Migrations: PG_MIGRATIONS[v − 1] upgrades schema version v − 1 to v, in one transaction.

import { bigint, customType, index, integer, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';

/**
 * bytea ⇄ Uint8Array. drizzle-orm 0.45's pg-core has no bytea column; node-postgres binds
 * Buffers (and other ArrayBuffer views) as bytea and parses bytea results into Buffers.
 */
const bytea = customType<{ data: Uint8Array; driverData: Buffer }>({
  dataType: () => 'bytea',
  toDriver: (v) => (Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength)),
  fromDriver: (v) => new Uint8Array(v),
});

const big = (name: string) => bigint(name, { mode: 'number' });

export const meta = pgTable('meta', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
});

export const entries = pgTable('entries', {
  idx: big('idx').primaryKey(),
  leafHash: bytea('leaf_hash').notNull().unique('entries_leaf_hash_unique'),
  data: bytea('data').notNull(),
});

export const tiles = pgTable(
  'tiles',
  {
    level: integer('level').notNull(),
    n: big('n').notNull(),
    width: integer('width').notNull(),
    data: bytea('data').notNull(),
  },
  (t) => [primaryKey({ name: 'tiles_pkey', columns: [t.level, t.n] })],
);

export const checkpoints = pgTable('checkpoints', {
  size: big('size').primaryKey(),
  note: bytea('note').notNull(),
});

export const cosignatures = pgTable(
  'cosignatures',
  {
    size: big('size').notNull(),
    witness: text('witness').notNull(),
    firstTime: big('first_time').notNull(),
    firstLine: text('first_line').notNull(),
    lastTime: big('last_time').notNull(),
    lastLine: text('last_line').notNull(),
  },
  (t) => [primaryKey({ name: 'cosignatures_pkey', columns: [t.size, t.witness] })],
);

export const nonces = pgTable(
  'nonces',
  {
    key: text('key').notNull(),
    nonce: bytea('nonce').notNull(),
    expiresAt: big('expires_at').notNull(),
  },
  (t) => [primaryKey({ name: 'nonces_pkey', columns: [t.key, t.nonce] }), index('nonces_expires_at').on(t.expiresAt)],
);

export const quotas = pgTable(
  'quotas',
  {
    scope: text('scope').notNull(),
    key: text('key').notNull(),
    period: big('period').notNull(),
    used: big('used').notNull(),
  },
  (t) => [primaryKey({ name: 'quotas_pkey', columns: [t.scope, t.key, t.period] })],
);

export const witnessState = pgTable('witness_state', {
  witness: text('witness').primaryKey(),
  size: big('size').notNull(),
  updatedAt: big('updated_at').notNull(),
});

export const blobs = pgTable('blobs', {
  digest: bytea('digest').primaryKey(),
  size: big('size').notNull(),
  createdAt: big('created_at').notNull(),
});

export const PG_TABLES = { meta, entries, tiles, checkpoints, cosignatures, nonces, quotas, witnessState, blobs };

export const PG_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (
    key   text CONSTRAINT meta_pkey PRIMARY KEY,
    value text NOT NULL
  );

  CREATE TABLE entries (
    idx       bigint CONSTRAINT entries_pkey PRIMARY KEY CHECK (idx >= 0),
    leaf_hash bytea NOT NULL CHECK (octet_length(leaf_hash) = 32),
    data      bytea NOT NULL CHECK (octet_length(data) <= 65535),
    CONSTRAINT entries_leaf_hash_unique UNIQUE (leaf_hash)
  );

  CREATE TABLE tiles (
    level integer NOT NULL CHECK (level BETWEEN 0 AND 63),
    n     bigint NOT NULL CHECK (n >= 0),
    width integer NOT NULL CHECK (width BETWEEN 1 AND 256),
    data  bytea NOT NULL CHECK (octet_length(data) = width * 32),
    CONSTRAINT tiles_pkey PRIMARY KEY (level, n)
  );

  -- One signed checkpoint per size, forever: the primary key is the "never two roots" rule.
  CREATE TABLE checkpoints (
    size bigint CONSTRAINT checkpoints_pkey PRIMARY KEY CHECK (size >= 0),
    note bytea NOT NULL
  );

  CREATE TABLE cosignatures (
    size       bigint NOT NULL REFERENCES checkpoints (size),
    witness    text NOT NULL,
    first_time bigint NOT NULL,
    first_line text NOT NULL,
    last_time  bigint NOT NULL,
    last_line  text NOT NULL,
    CONSTRAINT cosignatures_pkey PRIMARY KEY (size, witness),
    CHECK (first_time <= last_time)
  );

  CREATE TABLE nonces (
    key        text NOT NULL,
    nonce      bytea NOT NULL,
    expires_at bigint NOT NULL,
    CONSTRAINT nonces_pkey PRIMARY KEY (key, nonce)
  );
  CREATE INDEX nonces_expires_at ON nonces (expires_at);

  CREATE TABLE quotas (
    scope  text NOT NULL,
    key    text NOT NULL,
    period bigint NOT NULL,
    used   bigint NOT NULL CHECK (used >= 0),
    CONSTRAINT quotas_pkey PRIMARY KEY (scope, key, period)
  );

  CREATE TABLE witness_state (
    witness    text CONSTRAINT witness_state_pkey PRIMARY KEY,
    size       bigint NOT NULL CHECK (size >= 0),
    updated_at bigint NOT NULL
  );

  CREATE TABLE blobs (
    digest     bytea CONSTRAINT blobs_pkey PRIMARY KEY CHECK (octet_length(digest) = 32),
    size       bigint NOT NULL CHECK (size >= 0),
    created_at bigint NOT NULL
  );
  `,
];
