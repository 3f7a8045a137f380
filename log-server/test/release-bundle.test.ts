// GET /release/<n>/bundle and /release/latest/bundle against a real log (SQLite, real keys):
// entries go through POST /add, witness cosignatures are made with the fixture's real witness
// keys and recorded with store.addCosignature, and the bundles served are opened by
// client-sdk's device.openDatabase — directly, and end to end through LogClient (bundle, blob
// and the tiles consistency proof) with updateFromLog, including supersession by a subset.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes } from 'node:crypto';
import { BUNDLE_MEDIA_TYPE, parseBundle } from '@concord/client-sdk/bundle';
import { parseCheckpoint } from '@concord/client-sdk/checkpoint';
import { LogClient } from '@concord/client-sdk/client';
import type { Fetch } from '@concord/client-sdk/client';
import { newCosignatureSigner } from '@concord/client-sdk/cosignature';
import { formatDatabase, parseDatabase } from '@concord/client-sdk/database';
import { DeviceError, MemoryStore, openDatabase, updateFromLog } from '@concord/client-sdk/device';
import { signEntry } from '@concord/client-sdk/entries';
import type { ConcordEntry, ReleaseEntry } from '@concord/client-sdk/entries';
import { leafHash } from '@concord/client-sdk/merkle';
import { parseNote } from '@concord/client-sdk/note';
import type { OpenLog } from '@concord/log-server/log';
import { createTestLog, ORIGIN } from './helpers.js';
import type { TestLog } from './helpers.js';

const DAY = 86_400;
let t: TestLog;
let log: OpenLog;
let clock = 1_800_000_000;

beforeAll(async () => {
  t = await createTestLog();
  log = await t.open({ now: () => clock });
});
afterAll(async () => {
  await log?.close();
  t?.cleanup();
});

const get = (path: string) => log.app.request(path);

async function add(entry: ConcordEntry, signer: { name: string }): Promise<{ index: number; leaf: Uint8Array }> {
  const bytes = signEntry(entry, signer as never);
  const r = await log.app.request('/add', { method: 'POST', body: bytes });
  expect(r.status, await r.clone().text()).toBe(200);
  const j = (await r.json()) as { index: number };
  return { index: j.index, leaf: leafHash(bytes) };
}

/** Every witness (or those listed) cosigns the current latest checkpoint at `time`. */
async function cosign(time: number, which = [0, 1, 2, 3]): Promise<number> {
  const size = await log.store.size();
  const cp = (await log.store.readCheckpoint(size))!;
  const text = parseNote(cp.note).text;
  for (const i of which) {
    const w = t.fixture.witnesses[i]!;
    const line = newCosignatureSigner(w.skey).cosign(text, time).line;
    await log.store.addCosignature({ size, witness: w.vkey, time, line });
  }
  log.reader.invalidateCheckpoint();
  return size;
}

function db(n: number): Uint8Array {
  return formatDatabase(Array.from({ length: n }, () => new Uint8Array(randomBytes(32))));
}

const orgs = () => t.fixture.orgs; // org-us (US), org-fr (FR), org-de (DE)
let orgSeq = 0;

async function release(database: Uint8Array, prev: { sequence: number; leaf: Uint8Array } | null, removed = 0, added?: number) {
  orgSeq++;
  const contributions: { org: string; leaf: Uint8Array }[] = [];
  const { root, count } = parseDatabase(database);
  for (const o of orgs()) {
    const c = await add(
      { type: 'contribution', org: o.name, sequence: orgSeq, policy: t.init.anchorLeaf, set: { root, count }, blob: sha256(database), expires: clock + 60 * DAY },
      o.signer,
    );
    contributions.push({ org: o.name, leaf: c.leaf });
  }
  contributions.sort((a, b) => (a.org < b.org ? -1 : 1));
  const entry: ReleaseEntry = {
    type: 'release',
    sequence: prev === null ? 1 : prev.sequence + 1,
    previous: prev === null ? null : prev.leaf,
    policy: t.init.anchorLeaf,
    contributions,
    exclude: null,
    database: { root, count },
    added: added ?? count,
    removed,
    blob: sha256(database),
    expires: clock + 20 * DAY,
  };
  const r = await add(entry, t.operator);
  return { ...r, sequence: entry.sequence };
}

async function endorse(org: number, r: { sequence: number; leaf: Uint8Array }) {
  const o = orgs()[org]!;
  return add({ type: 'endorsement', org: o.name, subject: { kind: 'release', sequence: r.sequence, leaf: r.leaf } }, o.signer);
}

const trust = () => ({ anchor: t.init.anchor, origin: ORIGIN });
const fetchApp: Fetch = async (url, init) => log.app.request(url, init as RequestInit);

describe('GET /release/<n>/bundle', () => {
  it('serves bundles devices accept, with P and F picked from the stored cosignatures', async () => {
    const d1 = db(40);
    const r1 = await release(d1, null);
    expect((await get('/release/1/bundle')).status).toBe(404); // nothing cosigned yet
    await endorse(0, r1);
    const quorumAt = (await endorse(1, r1)).index;
    const t0 = clock;
    // Two witnesses only: no quorum, still nothing to serve.
    await cosign(t0, [0, 1]);
    expect((await get('/release/1/bundle')).status).toBe(404);
    const pSize = await cosign(t0, [2]);
    expect(pSize).toBe(quorumAt + 1);

    const r = await get('/release/1/bundle');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe(BUNDLE_MEDIA_TYPE);
    expect(r.headers.get('access-control-allow-origin')).toBe('*');
    const early = new Uint8Array(await r.arrayBuffer());
    // Published just now: not yet noticed.
    let err: unknown;
    try {
      await openDatabase({ database: d1, bundle: early, trust: trust(), store: new MemoryStore(), now: clock });
    } catch (e) {
      err = e;
    }
    expect((err as DeviceError).code).toBe('not-noticed');

    // A day later the log has grown and every witness cosigns it.
    clock += DAY + 30;
    await endorse(2, r1);
    const fSize = await cosign(clock);
    const bytes = new Uint8Array(await (await get('/release/latest/bundle')).arrayBuffer());
    const b = parseBundle(bytes);
    expect(b.tree.size).toBe(fSize);
    expect(parseCheckpoint(parseNote(b.published.checkpoint).text).size).toBe(pSize);
    expect(b.endorsements.length).toBe(3);
    expect(b.release.proof.index).toBe(r1.index);
    const v = await openDatabase({ database: d1, bundle: bytes, trust: trust(), store: new MemoryStore(), now: clock + 5 });
    expect(v.sequence).toBe(1);
    expect(v.count).toBe(40);
    expect(v.publishedAt).toBe(t0);
    expect(v.endorsers.map((e) => e.jurisdiction)).toEqual(['DE', 'FR', 'US']);
    // The same bundle by number.
    expect(new Uint8Array(await (await get('/release/1/bundle')).arrayBuffer())).toEqual(bytes);
  });

  it('end to end through LogClient: blob, bundle, tiles consistency, supersession by a subset', async () => {
    const client = new LogClient({ url: 'http://log.test', fetch: fetchApp, now: () => clock });
    const b1 = parseBundle(new Uint8Array(await (await get('/release/1/bundle')).arrayBuffer()));
    const d1Digest = b1.database.blob;
    // Upload release 1's database (the previous test kept it only in the release entry's digest).
    expect((await get(`/blob/sha256/${Buffer.from(d1Digest).toString('hex')}`)).status).toBe(404);
    const store = new MemoryStore();
    // Without the blob, the device cannot update.
    await expect(updateFromLog({ client, trust: trust(), store, now: clock })).rejects.toThrow();
    expect(await store.get()).toBeUndefined();

    const d = db(30);
    const prev = b1.release.signed.entry as ReleaseEntry;
    const r2 = await release(d, { sequence: prev.sequence, leaf: b1.release.signed.leafHash }, 40, 30);
    await endorse(0, r2);
    await endorse(2, r2);
    clock += 100;
    await cosign(clock);
    clock += DAY + 1;
    await endorse(1, r2);
    await cosign(clock);
    await client.putBlob(ORIGIN, d, t.operator);
    const v2 = await updateFromLog({ client, trust: trust(), store, now: clock + 1 });
    expect(v2.sequence).toBe(2);
    expect(v2.acceptedWithoutNotice).toBe(false);

    // Release 3: a subset of release 2, served before its notice: accepted at once.
    const d3 = d.slice(32 * 5);
    const r3 = await release(d3, { sequence: 2, leaf: r2.leaf }, 5, 0);
    await endorse(1, r3);
    await endorse(2, r3);
    clock += 50;
    await cosign(clock);
    await client.putBlob(ORIGIN, d3, t.operator);
    const before = (await store.get())!;
    const v3 = await updateFromLog({ client, trust: trust(), store, now: clock + 1 });
    expect(v3.sequence).toBe(3);
    expect(v3.count).toBe(25);
    expect(v3.acceptedWithoutNotice).toBe(true);
    const after = (await store.get())!;
    expect(parseCheckpoint(parseNote(after.checkpoint).text).size).toBeGreaterThan(parseCheckpoint(parseNote(before.checkpoint).text).size);
    // Asking for release 2 again is a rollback.
    await expect(updateFromLog({ client, trust: trust(), store, now: clock + 2, which: 2 })).rejects.toThrow(expect.objectContaining({ code: 'rollback' }));
  });

  it('refuses malformed release names and unknown releases', async () => {
    for (const p of ['/release/01/bundle', '/release/0/bundle', '/release/x/bundle', '/release/-1/bundle', '/release/1e2/bundle']) {
      expect((await get(p)).status, p).toBe(400);
    }
    expect((await get('/release/99/bundle')).status).toBe(404);
    expect((await get('/release/latest/bundle/')).status).toBe(404);
  });
});
