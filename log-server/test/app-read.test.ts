// The read API's HTTP details: cache and CORS headers, gzip negotiation for bundles, 404 beyond
// the tree (and for widths and levels the tree does not have), full tiles served from memory,
// strict query parameters, /entry, and /checkpoint/published with real witness cosignatures.
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64 } from '@concord/client-sdk/bytes';
import { newCosignatureSigner, newCosignatureVerifier, verifyCosignatures } from '@concord/client-sdk/cosignature';
import { openCheckpoint } from '@concord/client-sdk/checkpoint';
import { leafHash } from '@concord/client-sdk/merkle';
import { newVerifier, parseNote } from '@concord/client-sdk/note';
import { acceptsGzip } from '@concord/log-server/app';
import type { OpenLog } from '@concord/log-server/log';
import type { Committed } from '@concord/log-server/sequencer';
import { createTestLog, endorsement, postEntry } from './helpers.js';
import type { TestLog } from './helpers.js';

let t: TestLog;
let log: OpenLog;
const commits: Committed[] = [];
const N = 300; // entries after the anchor: size 301 = one full level-0 tile + 0/001.p/45, 1/000.p/1

beforeAll(async () => {
  t = await createTestLog();
  log = await t.open({ onCommit: (c) => commits.push(c) });
  for (let i = 0; i < N; i += 50) {
    const rs = await Promise.all(Array.from({ length: 50 }, (_, j) => postEntry(log.app, endorsement(t.fixture.orgs[(i + j) % 3]!))));
    for (const r of rs) expect(r.status).toBe(200);
  }
});
afterAll(async () => {
  await log?.close();
  t?.cleanup();
});

const get = (path: string, headers: Record<string, string> = {}): Promise<Response> => Promise.resolve(log.app.request(path, { headers }));

describe('headers', () => {
  it('tiles and bundles are immutable, CORS-open octet streams; the checkpoint is no-store', async () => {
    for (const p of ['/tile/0/000', '/tile/0/001.p/45', '/tile/1/000.p/1', '/tile/entries/000', '/tile/entries/001.p/45']) {
      const r = await get(p);
      expect(r.status, p).toBe(200);
      expect(r.headers.get('cache-control'), p).toBe('public, max-age=604800, immutable');
      expect(r.headers.get('access-control-allow-origin'), p).toBe('*');
      expect(r.headers.get('content-type'), p).toBe('application/octet-stream');
    }
    const cp = await get('/checkpoint');
    expect(cp.headers.get('cache-control')).toBe('no-store');
    expect(cp.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(cp.headers.get('access-control-allow-origin')).toBe('*');
    const err = await get('/tile/0/999');
    expect(err.status).toBe(404);
    expect(err.headers.get('access-control-allow-origin')).toBe('*');
    expect(await err.json()).toMatchObject({ error: { code: 'not-found' } });
  });

  it('gzips entry bundles when the client accepts gzip, never hash tiles', async () => {
    const plain = new Uint8Array(await (await get('/tile/entries/000')).arrayBuffer());
    const r = await get('/tile/entries/000', { 'accept-encoding': 'br, gzip;q=0.8' });
    expect(r.headers.get('content-encoding')).toBe('gzip');
    expect(r.headers.get('vary')).toBe('Accept-Encoding');
    const z = new Uint8Array(await r.arrayBuffer());
    expect(z.length).toBeLessThan(plain.length);
    expect(Buffer.from(gunzipSync(z)).equals(Buffer.from(plain))).toBe(true);
    expect((await get('/tile/entries/000', { 'accept-encoding': 'gzip;q=0' })).headers.get('content-encoding')).toBeNull();
    expect((await get('/tile/0/000', { 'accept-encoding': 'gzip' })).headers.get('content-encoding')).toBeNull();
    expect([acceptsGzip(undefined), acceptsGzip('identity'), acceptsGzip('*'), acceptsGzip('GZIP'), acceptsGzip('x-gzip;q=0.1'), acceptsGzip('*;q=0, gzip;q=0')]).toEqual([
      false,
      false,
      true,
      true,
      true,
      false,
    ]);
  });

  it('answers the CORS preflight', async () => {
    const r = await log.app.request('/add', { method: 'OPTIONS' });
    expect(r.status).toBe(204);
    expect(r.headers.get('access-control-allow-origin')).toBe('*');
    expect(r.headers.get('access-control-allow-headers')).toContain('Authorization');
  });
});

describe('the tree and beyond', () => {
  it('serves exactly the tiles the tree has, and 404 beyond', async () => {
    const size = log.sequencer!.size;
    expect(size).toBe(N + 1);
    const ok = ['/tile/0/000', '/tile/0/000.p/1', '/tile/0/000.p/255', '/tile/0/001.p/45', '/tile/0/001.p/7', '/tile/1/000.p/1', '/tile/entries/001.p/45', '/tile/entries/000.p/3'];
    const beyond = ['/tile/0/001', '/tile/0/001.p/46', '/tile/0/002.p/1', '/tile/1/000', '/tile/1/000.p/2', '/tile/2/000.p/1', '/tile/entries/001', '/tile/entries/001.p/46', '/tile/entries/x001/000', '/tile/63/000.p/1'];
    for (const p of ok) expect((await get(p)).status, p).toBe(200);
    for (const p of beyond) {
      const r = await get(p);
      expect(r.status, p).toBe(404);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('not-found');
    }
    // A partial tile of an older width is the prefix of the wider one (both immutable).
    const wide = new Uint8Array(await (await get('/tile/0/001.p/45')).arrayBuffer());
    const narrow = new Uint8Array(await (await get('/tile/0/001.p/7')).arrayBuffer());
    expect(Buffer.from(narrow).equals(Buffer.from(wide.subarray(0, 7 * 32)))).toBe(true);
  });

  it('serves repeated tile requests from memory, not from storage', async () => {
    let reads = 0;
    const store = log.store as unknown as { readTiles: (...a: unknown[]) => Promise<unknown>; readEntryBundle: (...a: unknown[]) => Promise<unknown> };
    const readTiles = store.readTiles.bind(store);
    const readEntryBundle = store.readEntryBundle.bind(store);
    store.readTiles = (...a) => (reads++, readTiles(...a));
    store.readEntryBundle = (...a) => (reads++, readEntryBundle(...a));
    try {
      const first = await get('/tile/0/000.p/200'); // not requested before
      expect(first.status).toBe(200);
      await first.arrayBuffer();
      expect(reads).toBe(1);
      for (let i = 0; i < 20; i++) {
        for (const p of ['/tile/0/000', '/tile/0/000.p/200', '/tile/entries/000']) await (await get(p)).arrayBuffer();
      }
      expect(reads).toBe(1);
    } finally {
      store.readTiles = readTiles;
      store.readEntryBundle = readEntryBundle;
    }
  });

  it('serves entries as JSON, and refuses non-canonical indexes and parameters', async () => {
    const r = await get('/entry/5');
    expect(r.status).toBe(200);
    const body = (await r.json()) as { index: number; leafHash: string; entry: string };
    expect(body.index).toBe(5);
    expect(body.leafHash).toBe(toBase64(leafHash(new TextEncoder().encode(body.entry))));
    expect(body.entry.startsWith('concord/endorsement/v1\n')).toBe(true);
    const e0 = (await (await get('/entry/0')).json()) as { entry: string };
    expect(new TextEncoder().encode(e0.entry)).toEqual(t.init.anchor);
    expect((await get('/entry/301')).status).toBe(404);
    for (const p of ['/entry/05', '/entry/-1', '/entry/1e3', '/entry/x', '/entry/99999999999999999999']) expect((await get(p)).status, p).toBe(400);
    for (const p of [
      '/proof/inclusion?index=1',
      '/proof/inclusion?index=01&size=5',
      '/proof/inclusion?index=1&size=5&size=5',
      '/proof/inclusion?index=5&size=5',
      '/proof/consistency?old=6&new=5',
      '/proof/consistency?old=&new=5',
      '/checkpoint/published',
      '/checkpoint/published?entry=+1',
    ]) {
      expect((await get(p)).status, p).toBe(400);
    }
    expect((await get('/proof/inclusion?index=1&size=302')).status).toBe(404);
    expect((await get('/proof/consistency?old=1&new=302')).status).toBe(404);
    expect((await get('/proof/consistency?old=0&new=5')).status).toBe(200);
    expect((await get('/nothing/here')).status).toBe(404);
  });
});

describe('/checkpoint/published', () => {
  it('is the earliest checkpoint holding the entry with a witness quorum of the policy, with its cosignatures', async () => {
    const witnesses = t.fixture.witnesses;
    const now = Math.floor(Date.now() / 1000);
    // No cosignatures yet: nothing is published.
    expect((await get('/checkpoint/published?entry=3')).status).toBe(404);
    const mid = commits.find((c) => c.size > 100)!; // a checkpoint containing entries 0..size−1
    const text = new TextDecoder().decode(mid.note).split('\n\n')[0]! + '\n';
    const cosign = async (i: number, size: number, time: number): Promise<void> => {
      const c = commits.find((x) => x.size === size)!;
      const body = new TextDecoder().decode(c.note).split('\n\n')[0]! + '\n';
      const line = newCosignatureSigner(witnesses[i]!.skey).cosign(body, time).line;
      await log.store.addCosignature({ size, witness: witnesses[i]!.vkey, time, line });
      log.reader.invalidateCheckpoint();
    };
    await cosign(0, mid.size, now - 10);
    await cosign(1, mid.size, now - 5);
    expect((await get('/checkpoint/published?entry=3')).status).toBe(404); // 2 < quorum 3
    await cosign(2, mid.size, now - 1);
    await cosign(2, mid.size, now); // a later cosignature by the same witness
    const r = await get('/checkpoint/published?entry=3');
    expect(r.status).toBe(200);
    const note = new Uint8Array(await r.arrayBuffer());
    const cp = openCheckpoint(note, newVerifier(t.init.logVkey), t.init.origin);
    expect(cp.checkpoint.size).toBe(mid.size);
    expect(parseNote(note).text).toBe(text);
    const counted = verifyCosignatures(note, witnesses.map((w) => newCosignatureVerifier(w.vkey)), now);
    expect(new Set(counted.map((c) => c.witness)).size).toBe(3);
    expect(counted.length).toBe(4); // witness 3's earliest and latest
    // Entries of that checkpoint are published there; later ones are not (yet).
    expect((await get(`/checkpoint/published?entry=${mid.size - 1}`)).status).toBe(200);
    expect((await get(`/checkpoint/published?entry=${mid.size}`)).status).toBe(404);
    expect((await get(`/checkpoint/published?entry=${N + 5}`)).status).toBe(404);
    // Cosignatures dated more than 300 s ahead of the server's clock do not count.
    const later = commits.at(-1)!;
    await cosign(0, later.size, now);
    await cosign(1, later.size, now);
    await cosign(3, later.size, now + 3600);
    expect((await get(`/checkpoint/published?entry=${later.size - 1}`)).status).toBe(404);
    await cosign(2, later.size, now);
    expect((await get(`/checkpoint/published?entry=${later.size - 1}`)).status).toBe(200);
    // The latest checkpoint is served with its cosignatures too.
    const latest = new Uint8Array(await (await get('/checkpoint')).arrayBuffer());
    expect(parseNote(latest).signatures.length).toBe(5);
  });
});
