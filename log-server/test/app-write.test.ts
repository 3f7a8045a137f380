// The write API: POST /add (answers after commit, deduplication — also of concurrent identical
// submissions —, release succession, the policy in force, per-author rate limits that survive a
// restart), PUT/GET /blob (Concord-Note authorisation, digest, size caps, replays), and the
// single-sequencer rule (a second server refuses to sequence; a read-only one serves reads).
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64 } from '@concord/client-sdk/bytes';
import { authorizationHeader, parseSignedEntry, signEntry } from '@concord/client-sdk/entries';
import type { PolicyEntry, ReleaseEntry } from '@concord/client-sdk/entries';
import { EMPTY_ROOT, leafHash } from '@concord/client-sdk/merkle';
import { generateKey, newSigner } from '@concord/client-sdk/note';
import type { Signer } from '@concord/client-sdk/note';
import { sha256 } from '@concord/client-sdk/sha256';
import type { OpenLog } from '@concord/log-server/log';
import { StorageError } from '@concord/log-server/storage/index';
import { createTestLog, endorsement, makeFixture, ORIGIN, postEntry } from './helpers.js';
import type { TestLog } from './helpers.js';

type Json = { index: number; leafHash: string; error?: { code: string; message: string } };

function release(policyLeaf: Uint8Array, over: Partial<ReleaseEntry> = {}): ReleaseEntry {
  return {
    type: 'release',
    sequence: 1,
    previous: null,
    policy: policyLeaf,
    contributions: [],
    exclude: null,
    database: { root: EMPTY_ROOT, count: 0 },
    added: 0,
    removed: 0,
    blob: sha256(new Uint8Array(0)),
    expires: 2_000_000_000,
    ...over,
  };
}

describe('POST /add', () => {
  let t: TestLog;
  let log: OpenLog;
  const NOW = 1_900_000_000;
  beforeAll(async () => {
    t = await createTestLog();
    log = await t.open({ now: () => NOW, addPerMinute: 1000 });
  });
  afterAll(async () => {
    await log?.close();
    t?.cleanup();
  });

  it('answers {index, leafHash} once the entry is in the log at that index', async () => {
    const e = endorsement(t.fixture.orgs[0]!);
    const r = await postEntry(log.app, e);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json');
    const body = (await r.json()) as Json;
    expect(body.leafHash).toBe(toBase64(leafHash(e)));
    expect(log.sequencer!.size).toBe(body.index + 1);
    const [stored] = await log.store.readEntries(body.index, body.index + 1);
    expect(Buffer.from(stored!).equals(Buffer.from(e))).toBe(true);
  });

  it('gives identical entries one index, also when submitted concurrently', async () => {
    const e = endorsement(t.fixture.orgs[1]!);
    const others = Array.from({ length: 10 }, () => endorsement(t.fixture.orgs[2]!));
    const before = log.sequencer!.size;
    const rs = await Promise.all([...Array.from({ length: 20 }, () => postEntry(log.app, e)), ...others.map((o) => postEntry(log.app, o))]);
    const bodies = (await Promise.all(rs.map((r) => r.json()))) as Json[];
    rs.forEach((r) => expect(r.status).toBe(200));
    const dupIndexes = new Set(bodies.slice(0, 20).map((b) => b.index));
    expect(dupIndexes.size).toBe(1);
    expect(log.sequencer!.size).toBe(before + 11);
    // Later, the same bytes again: the same index, nothing appended.
    const again = (await (await postEntry(log.app, e)).json()) as Json;
    expect(again.index).toBe([...dupIndexes][0]);
    expect(log.sequencer!.size).toBe(before + 11);
    const all = await log.store.readEntries(0, log.sequencer!.size);
    expect(new Set(all.map((x) => Buffer.from(x).toString('hex'))).size).toBe(all.length);
  });

  it('sequences releases in order, refuses a second release of one sequence, and keeps answering retries', async () => {
    const anchorLeaf = t.init.anchorLeaf;
    const r1a = signEntry(release(anchorLeaf), t.operator);
    const r1b = signEntry(release(anchorLeaf, { expires: 2_000_000_001 }), t.operator);
    const [a, b] = await Promise.all([postEntry(log.app, r1a), postEntry(log.app, r1b)]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    const loser = a.status === 409 ? a : b;
    expect(((await loser.json()) as Json).error!.code).toBe('bad-release-sequence');
    const winner = a.status === 200 ? r1a : r1b;
    const winnerIndex = ((await (a.status === 200 ? a : b).json()) as Json).index;
    const r2 = signEntry(release(anchorLeaf, { sequence: 2, previous: leafHash(winner) }), t.operator);
    expect((await postEntry(log.app, r2)).status).toBe(200);
    // A retry of release 1 is answered with its index although release 1 could not be added now.
    const retry = await postEntry(log.app, winner);
    expect(retry.status).toBe(200);
    expect(((await retry.json()) as Json).index).toBe(winnerIndex);
    // Wrong policy, wrong author.
    const wrongPolicy = signEntry(release(new Uint8Array(randomBytes(32)), { sequence: 3, previous: leafHash(r2) }), t.operator);
    expect(((await (await postEntry(log.app, wrongPolicy)).json()) as Json).error!.code).toBe('wrong-policy');
    const byOrg = signEntry(release(anchorLeaf, { sequence: 3, previous: leafHash(r2) }), t.fixture.orgs[0]!.signer);
    const r = await postEntry(log.app, byOrg);
    expect(r.status).toBe(403);
    expect(((await r.json()) as Json).error!.code).toBe('wrong-author');
  });

  it('applies policy 2 once its endorsement quorum is in the log', async () => {
    const anchor = parseSignedEntry(t.init.anchor).entry as PolicyEntry;
    const p2 = signEntry({ ...anchor, sequence: 2, previous: t.init.anchorLeaf, orgs: anchor.orgs.filter((o) => o.name !== 'org-de') }, t.operator);
    const p2leaf = leafHash(p2);
    const endorse = (i: number): Uint8Array => {
      const o = t.fixture.orgs[i]!;
      return signEntry({ type: 'endorsement', org: o.name, subject: { kind: 'policy', sequence: 2, leaf: p2leaf } }, o.signer);
    };
    // The policy first (requests sent together may be sequenced in any order: their signature
    // checks finish in any order), then both endorsements concurrently: each chain-changing entry
    // ends its batch, so they get distinct batches and the second completes the quorum.
    const rp = await postEntry(log.app, p2);
    expect(rp.status).toBe(200);
    const p2index = ((await rp.json()) as Json).index!;
    expect(log.state.current()?.entry.sequence).toBe(1);
    const rs = await Promise.all([postEntry(log.app, endorse(0)), postEntry(log.app, endorse(1))]);
    for (const r of rs) expect(r.status).toBe(200);
    const indexes = ((await Promise.all(rs.map((r) => r.json()))) as Json[]).map((j) => j.index!);
    expect(Math.min(...indexes)).toBeGreaterThan(p2index);
    expect(new Set(indexes).size).toBe(2);
    expect(log.state.current()?.entry.sequence).toBe(2);
    const r = await postEntry(log.app, endorsement(t.fixture.orgs[2]!));
    expect(r.status).toBe(403);
    expect(((await r.json()) as Json).error!.code).toBe('unknown-org');
  });
});

describe('rate limits', () => {
  it('limits submissions per author key per minute, across a restart', async () => {
    const t = await createTestLog();
    try {
      const now = 1_900_000_040; // 20 s into a minute
      let log = await t.open({ now: () => now, addPerMinute: 5 });
      const [a, b] = t.fixture.orgs as [TestLog['fixture']['orgs'][number], TestLog['fixture']['orgs'][number]];
      for (let i = 0; i < 3; i++) expect((await postEntry(log.app, endorsement(a))).status).toBe(200);
      await log.close();
      log = await t.open({ now: () => now, addPerMinute: 5 });
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await postEntry(log.app, endorsement(a))).status);
      // Units leased before the restart count as used: at most 5 in the window, possibly fewer.
      expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(2);
      expect(statuses.at(-1)).toBe(429);
      const r = await postEntry(log.app, endorsement(a));
      expect(r.status).toBe(429);
      expect(r.headers.get('retry-after')).toBe('40');
      expect(((await r.json()) as Json).error!.code).toBe('rate-limited');
      expect((await postEntry(log.app, endorsement(b))).status).toBe(200); // another key
      const used = await log.store.readQuotas('add', Math.floor(now / 60));
      expect(used.find((q) => q.key === a.vkey)!.used).toBeLessThanOrEqual(5);
      await log.close();
      // The next window starts afresh.
      log = await t.open({ now: () => now + 60, addPerMinute: 5 });
      expect((await postEntry(log.app, endorsement(a))).status).toBe(200);
      await log.close();
    } finally {
      t.cleanup();
    }
  });
});

describe('one sequencer per log', () => {
  it('refuses a second sequencing server; a read-only one serves reads and follows the log', async () => {
    const t = await createTestLog();
    const first = await t.open();
    try {
      let err: unknown;
      try {
        await t.open();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).code).toBe('locked');
      const ro = await t.open({ readOnly: true });
      try {
        expect(ro.sequencer).toBeUndefined();
        const r = await postEntry(ro.app, endorsement(t.fixture.orgs[0]!));
        expect(r.status).toBe(503);
        expect(((await r.json()) as Json).error!.code).toBe('read-only');
        const added = (await (await postEntry(first.app, endorsement(t.fixture.orgs[0]!))).json()) as Json;
        expect(added.index).toBe(1);
        // The read-only server sees the new entry as soon as it is asked for it.
        expect((await ro.app.request('/tile/entries/000.p/2')).status).toBe(200);
        expect((await ro.app.request('/entry/1')).status).toBe(200);
        const cp = await (await ro.app.request('/checkpoint')).text();
        expect(cp.split('\n')[1]).toBe('2');
      } finally {
        await ro.close();
      }
    } finally {
      await first.close();
      t.cleanup();
    }
  });
});

describe('blobs', () => {
  let t: TestLog;
  let log: OpenLog;
  const NOW = 1_900_000_000;
  beforeAll(async () => {
    t = await createTestLog(makeFixture({ 'max-entries': 100 })); // policy cap: 3,200 bytes
    log = await t.open({ now: () => NOW, maxBlobBytes: 10_000 });
  });
  afterAll(async () => {
    await log?.close();
    t?.cleanup();
  });

  const hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
  function auth(
    signer: Signer,
    digestHex: string,
    over: Partial<{ origin: string; method: string; path: string; time: number; nonce: Uint8Array; body: Uint8Array }> = {},
  ): string {
    return authorizationHeader(
      {
        origin: over.origin ?? ORIGIN,
        method: over.method ?? 'PUT',
        path: over.path ?? `/blob/sha256/${digestHex}`,
        bodySha256: Buffer.from(digestHex, 'hex'),
        time: over.time ?? NOW,
        nonce: over.nonce ?? new Uint8Array(randomBytes(16)),
      },
      signer,
    );
  }
  const put = (digestHex: string, body: Uint8Array | ReadableStream<Uint8Array> | null, authorization?: string, extra: Record<string, string> = {}): Promise<Response> =>
    Promise.resolve(
      log.app.request(`/blob/sha256/${digestHex}`, {
        method: 'PUT',
        body,
        headers: { ...(authorization ? { authorization } : {}), ...extra },
        ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
      } as RequestInit),
    );
  const code = async (r: Response): Promise<string> => ((await r.json()) as Json).error!.code;
  const tmpFiles = (): string[] => readdirSync(path.join(t.dir, 'blobs', 'tmp'));

  it('stores an authorised upload and serves it immutably', async () => {
    const body = new Uint8Array(randomBytes(3000));
    const h = hex(body);
    const r = await put(h, body, auth(t.fixture.orgs[0]!.signer, h));
    expect(r.status).toBe(201);
    expect(await r.json()).toEqual({ digest: `sha256:${h}`, size: 3000 });
    const g = await log.app.request(`/blob/sha256/${h}`);
    expect(g.status).toBe(200);
    expect(g.headers.get('cache-control')).toBe('public, max-age=604800, immutable');
    expect(g.headers.get('content-length')).toBe('3000');
    expect(Buffer.from(await g.arrayBuffer()).equals(Buffer.from(body))).toBe(true);
    expect((await log.store.getBlobMeta(Buffer.from(h, 'hex')))?.size).toBe(3000);
    // Auditors and the operator may upload too; an upload of a stored blob answers 200.
    expect((await put(h, body, auth(t.fixture.auditor.signer, h))).status).toBe(200);
    expect((await put(h, body, auth(t.operator, h))).status).toBe(200);
    expect((await log.app.request(`/blob/sha256/${'0'.repeat(64)}`)).status).toBe(404);
    expect(tmpFiles()).toEqual([]);
  });

  it('refuses a body that does not hash to its name, storing nothing', async () => {
    const body = new Uint8Array(randomBytes(100));
    const h = hex(new Uint8Array(randomBytes(100)));
    const r = await put(h, body, auth(t.fixture.orgs[1]!.signer, h));
    expect(r.status).toBe(400);
    expect(await code(r)).toBe('digest-mismatch');
    expect((await log.app.request(`/blob/sha256/${h}`)).status).toBe(404);
    expect(await log.store.getBlobMeta(Buffer.from(h, 'hex'))).toBeNull();
    expect(tmpFiles()).toEqual([]);
  });

  it('refuses bodies above the caps, announced or streamed', async () => {
    const big = new Uint8Array(randomBytes(3201)); // policy cap: 32 × max-entries = 3,200
    const h = hex(big);
    const r = await put(h, big, auth(t.fixture.orgs[1]!.signer, h));
    expect(r.status).toBe(413);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 4; i++) c.enqueue(big.subarray(i * 1000, Math.min(3201, (i + 1) * 1000)));
        c.enqueue(big.subarray(4000));
        c.close();
      },
    });
    const s = await put(h, stream, auth(t.fixture.orgs[1]!.signer, h));
    expect(s.status).toBe(413);
    expect(await code(s)).toBe('too-large');
    expect((await log.app.request(`/blob/sha256/${h}`)).status).toBe(404);
    expect(tmpFiles()).toEqual([]);
  });

  it('refuses missing, malformed, mismatched, stale, replayed and unknown authorisations', async () => {
    const body = new Uint8Array(randomBytes(50));
    const h = hex(body);
    const org = t.fixture.orgs[2]!.signer;
    const stranger = newSigner(generateKey('org-xx').skey);
    const cases: [string | undefined, string][] = [
      [undefined, 'unauthenticated'],
      ['Bearer abc', 'bad-authorization'],
      ['Concord-Note !!!', 'bad-authorization'],
      [auth(org, h, { origin: 'other.example/log' }), 'request-mismatch'],
      [auth(org, h, { method: 'POST' }), 'request-mismatch'],
      [auth(org, h, { path: `/blob/sha256/${h}?x=1` }), 'request-mismatch'],
      [auth(org, h, { time: NOW - 301 }), 'stale-request'],
      [auth(org, h, { time: NOW + 301 }), 'stale-request'],
      [auth(stranger, h), 'unknown-requester'],
      [`Concord-Note ${toBase64(signEntry({ type: 'endorsement', org: 'org-de', subject: { kind: 'release', sequence: 1, leaf: new Uint8Array(32) } }, org))}`, 'unknown-type'],
    ];
    for (const [header, want] of cases) {
      const r = await put(h, body, header);
      expect(r.status, want).toBe(401);
      expect(await code(r), want).toBe(want);
    }
    // A bit flipped in the signature.
    const good = auth(org, h);
    const raw = Buffer.from(good.slice('Concord-Note '.length), 'base64');
    raw[raw.length - 3]! ^= 0x10;
    const flipped = await put(h, body, `Concord-Note ${raw.toString('base64')}`);
    expect(flipped.status).toBe(401);
    expect(await code(flipped)).not.toBe('unauthenticated');
    // Within the skew: accepted once; the same note again is a replay.
    const once = auth(org, h, { time: NOW - 299 });
    expect((await put(h, body, once)).status).toBe(201);
    const replay = await put(h, body, once);
    expect(replay.status).toBe(401);
    expect(await code(replay)).toBe('replayed-request');
    expect((await put('ABC', body, once)).status).toBe(400);
    expect((await put('0'.repeat(63), body, once)).status).toBe(400);
  });
});
