// The log server on PostgreSQL (DATABASE_URL), end to end: init into a fresh database, sequence
// concurrent submissions (deduplicated), serve tiles that client-sdk authenticates against the
// signed checkpoint, refuse a second sequencer (advisory lock), serve reads read-only, and pick
// up where it left off after a restart. Like log-server/test/storage-postgres.test.ts: skipped
// without DATABASE_URL on a developer's machine, a failure in CI (.ci/run starts PostgreSQL);
// `scripts/pg-test-server.sh run -- npx vitest run test/log-server-postgres.test.ts`.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64 } from '@concord/client-sdk/bytes';
import { openCheckpoint } from '@concord/client-sdk/checkpoint';
import { signEntry } from '@concord/client-sdk/entries';
import { leafHash, rootFromLeafHashes } from '@concord/client-sdk/merkle';
import { generateKey, newSigner, newVerifier } from '@concord/client-sdk/note';
import { generateCosignatureKey } from '@concord/client-sdk/cosignature';
import { decodeEntryBundle, entryBundlesForSize, tileHashReader, tilePath, verifyEntryBundle } from '@concord/client-sdk/tiles';
import { initLog } from '@concord/log-server/init';
import type { InitResult } from '@concord/log-server/init';
import { openLog } from '@concord/log-server/log';
import { StorageError } from '@concord/log-server/storage/index';

const BASE_URL = process.env.DATABASE_URL;
const ORIGIN = 'pg.example/concord';

if (BASE_URL === undefined || BASE_URL === '') {
  describe('log server on PostgreSQL', () => {
    if (process.env.CI === 'true') {
      it('needs DATABASE_URL in CI (.ci/run starts a PostgreSQL server and sets it)', () => {
        expect.fail('DATABASE_URL is not set: the PostgreSQL log-server test cannot run');
      });
    } else {
      it.skip('needs DATABASE_URL: scripts/pg-test-server.sh run -- npx vitest run test/log-server-postgres.test.ts', () => {});
    }
  });
} else {
  const baseUrl = BASE_URL;
  const dbName = `concord_log_${process.pid}_${randomBytes(4).toString('hex')}`;
  const u = new URL(baseUrl);
  u.pathname = `/${dbName}`;
  const storeUrl = u.toString();
  const dir = mkdtempSync(path.join(tmpdir(), 'concord-pg-log-'));
  const orgs = ['org-a', 'org-b', 'org-c'].map((name) => ({ name, ...generateKey(name) }));
  let init: InitResult;

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: baseUrl });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${dbName}`);
    } finally {
      await admin.end();
    }
    const policy = {
      origin: ORIGIN,
      'hash-algorithm': 'pdq-256',
      'min-orgs': 2,
      'min-jurisdictions': 2,
      'endorsement-quorum': { orgs: 2, jurisdictions: 2 },
      'notice-period': 86_400,
      'max-checkpoint-age': 86_400,
      'max-release-age': 2_592_000,
      'max-entries': 1_000_000,
      'max-added': 10_000,
      'oprf-limit': 100_000,
      orgs: orgs.map((o, i) => ({ name: o.name, jurisdiction: ['US', 'FR', 'DE'][i], vkey: o.vkey })),
      witnesses: [1, 2, 3, 4].map((i) => ({ vkey: generateCosignatureKey(`w${i}.example`).vkey, url: `https://w${i}.example/` })),
      'witness-quorum': 3,
    };
    init = await initLog({ dataDir: dir, storeUrl, policyText: JSON.stringify(policy) });
  });

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    const admin = new pg.Client({ connectionString: baseUrl });
    await admin.connect();
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  });

  const entry = (i: number): Uint8Array => {
    const o = orgs[i % 3]!;
    return signEntry({ type: 'endorsement', org: o.name, subject: { kind: 'release', sequence: i + 1, leaf: new Uint8Array(randomBytes(32)) } }, newSigner(o.skey));
  };

  describe('log server on PostgreSQL', () => {
    it('sequences, serves authenticated tiles, refuses a second sequencer and resumes after a restart', async () => {
      const log = await openLog({ dataDir: dir, storeUrl, maxDelayMs: 2 });
      const submitted = Array.from({ length: 120 }, (_, i) => entry(i));
      const dup = submitted[7]!;
      const rs = await Promise.all([...submitted, dup, dup].map((b) => log.app.request('/add', { method: 'POST', body: b })));
      const bodies = (await Promise.all(rs.map((r) => r.json()))) as { index: number; leafHash: string }[];
      rs.forEach((r) => expect(r.status).toBe(200));
      expect(new Set(bodies.slice(0, 120).map((b) => b.index)).size).toBe(120);
      expect(bodies[120]!.index).toBe(bodies[7]!.index);
      expect(bodies[121]!.index).toBe(bodies[7]!.index);
      bodies.slice(0, 120).forEach((b, i) => expect(b.leafHash).toBe(toBase64(leafHash(submitted[i]!))));

      // A second sequencer is refused; a read-only server serves the same log.
      await expect(openLog({ dataDir: dir, storeUrl })).rejects.toSatisfy((e) => e instanceof StorageError && e.code === 'locked');
      const ro = await openLog({ dataDir: dir, storeUrl, readOnly: true });
      try {
        const note = new Uint8Array(await (await ro.app.request('/checkpoint')).arrayBuffer());
        const cp = openCheckpoint(note, newVerifier(init.logVkey), ORIGIN).checkpoint;
        expect(cp.size).toBe(121);
        // Every bundle, authenticated through tiles against the signed checkpoint.
        const reader = tileHashReader(cp, {
          readTiles: (tiles) => Promise.all(tiles.map(async (x) => new Uint8Array(await (await ro.app.request('/' + tilePath(x))).arrayBuffer()))),
        });
        const all: Uint8Array[] = [];
        for (const b of entryBundlesForSize(cp.size)) {
          const es = decodeEntryBundle(new Uint8Array(await (await ro.app.request('/' + tilePath(b))).arrayBuffer()), b.width);
          await verifyEntryBundle(b, es, reader);
          all.push(...es);
        }
        expect(toBase64(rootFromLeafHashes(all.map(leafHash)))).toBe(toBase64(cp.root));
        bodies.slice(0, 120).forEach((b, i) => expect(Buffer.from(all[b.index]!).equals(Buffer.from(submitted[i]!))).toBe(true));
        expect((await ro.app.request('/add', { method: 'POST', body: entry(500) })).status).toBe(503);
      } finally {
        await ro.close();
      }
      await log.close();

      // Restarted, it goes on from the stored state.
      const again = await openLog({ dataDir: dir, storeUrl, maxDelayMs: 2 });
      try {
        const r = (await (await again.app.request('/add', { method: 'POST', body: entry(1000) })).json()) as { index: number };
        expect(r.index).toBe(121);
        const retry = (await (await again.app.request('/add', { method: 'POST', body: dup })).json()) as { index: number };
        expect(retry.index).toBe(bodies[7]!.index);
      } finally {
        await again.close();
      }
    }, 60_000);
  });
}
