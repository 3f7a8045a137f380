// `concord-log release` (log-server/src/release.ts, cli.ts) against a real server listening on
// 127.0.0.1, with real contributions: four orgs in three jurisdictions blind their hashes through
// POST /oprf/evaluate, verify the proofs, upload their sets and log their contributions. The
// release's database is recomputed independently here — elements k·H(x) straight from the
// blinding key file, the rule counted by hand, sorted with Buffer.compare, the RFC 6962 root with
// node:crypto — and compared byte for byte: entries held by one org only, or by two orgs of one
// jurisdiction, are out; exclusions remove (and only what the intersection held); superseded and
// expired contributions are not selected (an expired latest one falls back to an older one);
// added/removed follow the previous release; the caps (max-entries, max-added, max-release-age)
// and an expiry inside the publication window are refused.
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fromBase64, toBase64, toHex } from '@concord/client-sdk/bytes';
import { LogClient } from '@concord/client-sdk/client';
import { formatDatabase, parseDatabase } from '@concord/client-sdk/database';
import { parseSignedEntry, signEntry } from '@concord/client-sdk/entries';
import type { ReleaseEntry } from '@concord/client-sdk/entries';
import { generateCosignatureKey } from '@concord/client-sdk/cosignature';
import { generateKey, newSigner } from '@concord/client-sdk/note';
import { blind, blindingInput, evaluate, formatEvaluateRequest, parseEvaluateResponse, verifyAndUnblind } from '@concord/client-sdk/oprf';
import { sha256 } from '@concord/client-sdk/sha256';
import { nodeListener } from '@concord/log-server/app';
import { cli } from '@concord/log-server/cli';
import { readBlindingKeyFile } from '@concord/log-server/keys';
import type { OpenLog } from '@concord/log-server/log';
import { buildRelease, parseExclusionFile, ReleaseError } from '@concord/log-server/release';
import type { ReleaseResult } from '@concord/log-server/release';
import { createTestLog, ORIGIN } from './helpers.js';
import type { Fixture, Party, TestLog } from './helpers.js';

const DAY = 86_400;
const T0 = 1_900_000_000;

function party(name: string): Party {
  const k = generateKey(name);
  return { name, ...k, signer: newSigner(k.skey) };
}

/** Four orgs in three jurisdictions (two in FR). */
function fixture(over: Record<string, unknown> = {}, orgSpec: [string, string][] = [['org-us', 'US'], ['org-fr', 'FR'], ['org-fr2', 'FR'], ['org-de', 'DE']]): Fixture {
  const orgs = orgSpec.map(([n]) => party(n));
  const auditor = party('press');
  const witnesses = [1, 2, 3, 4].map((i) => generateCosignatureKey(`w${i}.example`));
  const policy = {
    origin: ORIGIN,
    'hash-algorithm': 'pdq-256',
    'min-orgs': 2,
    'min-jurisdictions': 2,
    'endorsement-quorum': { orgs: 2, jurisdictions: 2 },
    'notice-period': DAY,
    'max-checkpoint-age': DAY,
    'max-release-age': 30 * DAY,
    'max-entries': 1000,
    'max-added': 2,
    'oprf-limit': 100_000,
    orgs: orgs.map((o, i) => ({ name: o.name, jurisdiction: orgSpec[i]![1], vkey: o.vkey })),
    auditors: [{ name: auditor.name, vkey: auditor.vkey }],
    witnesses: witnesses.map((w, i) => ({ vkey: w.vkey, url: `https://w${i + 1}.example/` })),
    'witness-quorum': 3,
    ...over,
  };
  return { orgs, auditor, witnesses, policyText: JSON.stringify(policy) };
}

// --- an independent reference -------------------------------------------------------------------

const h = (b: Buffer): Buffer => createHash('sha256').update(b).digest();
/** RFC 6962 MTH over leaves (each a 32-byte element), recursively. */
function mth(leaves: Buffer[]): Buffer {
  if (leaves.length === 0) return h(Buffer.alloc(0));
  if (leaves.length === 1) return h(Buffer.concat([Buffer.from([0]), leaves[0]!]));
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return h(Buffer.concat([Buffer.from([1]), mth(leaves.slice(0, k)), mth(leaves.slice(k))]));
}
const sortedUnique = (xs: Buffer[]): Buffer[] =>
  [...new Map(xs.map((x) => [x.toString('hex'), x])).values()].sort(Buffer.compare);

interface Served {
  t: TestLog;
  log: OpenLog;
  server: Server;
  url: string;
  close(): Promise<void>;
}

async function serve(f: Fixture, clock: () => number): Promise<Served> {
  const t = await createTestLog(f);
  const log = await t.open({ now: clock });
  const server = createServer(nodeListener(log.app, log.reader));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    t,
    log,
    server,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await log.close();
      t.cleanup();
    },
  };
}

function expectReleaseError(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  return p.then(
    () => {
      throw new Error(`expected ReleaseError ${code}`);
    },
    (err: unknown) => {
      expect(err).toBeInstanceOf(ReleaseError);
      expect((err as ReleaseError).code).toBe(code);
      if (message !== undefined) expect((err as Error).message).toMatch(message);
    },
  );
}

describe('concord-log release', () => {
  let clock = T0;
  let s: Served;
  let client: LogClient;
  let k: Uint8Array; // the blinding scalar, for the independent reference
  const [US, FR, FR2, DE] = [0, 1, 2, 3];
  // Raw PDQ hashes, by name.
  const raw = new Map<string, Buffer>();
  const hash = (name: string): Buffer => {
    let x = raw.get(name);
    if (x === undefined) raw.set(name, (x = randomBytes(32)));
    return x;
  };
  const element = (name: string): Buffer => Buffer.from(evaluate(k, blindingInput('pdq-256', hash(name))));
  /** Which raw hashes each org holds, per contribution. */
  const lists: Record<string, string[]>[] = [];
  const leaves = new Map<string, string>(); // "org seq" → leaf (base64)

  async function contribute(org: Party, names: string[], sequence: number, expires: number): Promise<number> {
    // The org's side of DESIGN.md "Blinding": blind, evaluate on the server, verify, unblind.
    const bl = names.map((n) => blind(blindingInput('pdq-256', hash(n))));
    const body = await client.oprfEvaluate(ORIGIN, formatEvaluateRequest(bl.map((b) => b.blinded)), org.signer);
    const ev = parseEvaluateResponse(body, bl.length);
    const els = verifyAndUnblind(fromBase64(s.t.init.blindingKey, 32), bl.map((b) => b.blind), bl.map((b) => b.blinded), ev);
    const set = formatDatabase(els);
    await client.putBlob(ORIGIN, set, org.signer);
    const sum = parseDatabase(set);
    const entry = signEntry(
      { type: 'contribution', org: org.name, sequence, policy: s.t.init.anchorLeaf, set: { root: sum.root, count: sum.count }, blob: sha256(set), expires },
      org.signer,
    );
    const r = await client.add(entry);
    leaves.set(`${org.name} ${sequence}`, toBase64(r.leafHash));
    return r.index;
  }

  /** The release entry at an index, parsed. */
  async function releaseAt(index: number): Promise<ReleaseEntry> {
    const [bytes] = await s.log.store.readEntries(index, index + 1);
    const e = parseSignedEntry(bytes!).entry;
    if (e.type !== 'release') throw new Error('not a release');
    return e;
  }

  async function blobBytes(digest: Uint8Array): Promise<Buffer> {
    const r = await fetch(`${s.url}/blob/sha256/${toHex(digest)}`);
    expect(r.status).toBe(200);
    return Buffer.from(await r.arrayBuffer());
  }

  /** The database the rule gives for {org: names}, minus `excluded` element names. */
  function reference(held: Record<string, string[]>, excluded: string[] = []): Buffer[] {
    const jur: Record<string, string> = { 'org-us': 'US', 'org-fr': 'FR', 'org-fr2': 'FR', 'org-de': 'DE' };
    const holders = new Map<string, Set<string>>();
    for (const [org, names] of Object.entries(held)) for (const n of names) (holders.get(n) ?? holders.set(n, new Set()).get(n)!).add(org);
    const kept: Buffer[] = [];
    for (const [n, orgs] of holders) {
      if (orgs.size >= 2 && new Set([...orgs].map((o) => jur[o])).size >= 2 && !excluded.includes(n)) kept.push(element(n));
    }
    return sortedUnique(kept);
  }

  const opts = (over: Partial<Parameters<typeof buildRelease>[0]> = {}): Parameters<typeof buildRelease>[0] => ({
    dataDir: s.t.dir,
    logUrl: s.url,
    now: () => clock,
    ...over,
  });

  beforeAll(async () => {
    s = await serve(fixture(), () => clock);
    client = new LogClient({ url: s.url, now: () => clock });
    k = readBlindingKeyFile(path.join(s.t.dir, 'blinding.key')).scalar;
    const orgs = s.t.fixture.orgs;
    // A: US+FR kept. B: US only. C: FR+FR (one jurisdiction). D: everyone. E: FR2+DE kept.
    // F: US+DE kept unless excluded. G: DE only. H1–H3: US+DE kept.
    const held: Record<string, string[]> = {
      'org-us': ['A', 'B', 'D', 'F', 'H1', 'H2', 'H3'],
      'org-fr': ['A', 'C', 'D'],
      'org-fr2': ['C', 'D', 'E'],
      'org-de': ['D', 'E', 'F', 'G', 'H1', 'H2', 'H3'],
    };
    lists.push(held);
    const year = T0 + 365 * DAY;
    await contribute(orgs[US]!, held['org-us']!, 1, year);
    await contribute(orgs[FR]!, held['org-fr']!, 1, year);
    await contribute(orgs[FR2]!, held['org-fr2']!, 1, year);
    await contribute(orgs[DE]!, held['org-de']!, 1, T0 + 1.5 * DAY); // expires before release 2
  });
  afterAll(async () => {
    await s?.close();
  });

  it('refuses an expiry inside the publication window, max-added without consent, and expires beyond max-release-age', async () => {
    // org-de's contribution expires 1.5 days from now: inside a 2-day window, auditors may or
    // may not select it, depending on when the release is published.
    await expectReleaseError(buildRelease(opts({ dryRun: true, acceptLongNotice: true, publicationWindow: 2 * DAY })), 'ambiguous-expiry', /org-de/);
    // 7 elements kept (A, D, E, F, H1–H3) > max-added 2: notice-period × ⌈7 / 2⌉ = 4 days.
    await expectReleaseError(buildRelease(opts({ dryRun: true, publicationWindow: 3_600 })), 'too-many-added', /345600 s/);
    await expectReleaseError(
      buildRelease(opts({ dryRun: true, publicationWindow: 3_600, acceptLongNotice: true, expiresIn: 30 * DAY + 1 })),
      'bad-expiry',
    );
    // Nothing was appended by any of these.
    expect(await s.log.store.size()).toBe(5);
  });

  let first: ReleaseResult;
  it('release 1: the intersection of four orgs, minus exclusions, equals an independent recomputation', async () => {
    const exclude = path.join(s.t.dir, 'exclude.txt');
    // F (in the intersection) in hex; B (held by one org: not in it) in base64; a comment.
    writeFileSync(exclude, `# false positives reported by devices\n${element('F').toString('hex')}\n\n${element('B').toString('base64')}\n`);
    first = await buildRelease(opts({ excludeFile: exclude, publicationWindow: 3_600, acceptLongNotice: true }));
    expect(first.index).toBe(5);
    const e = await releaseAt(first.index!);
    const want = reference(lists[0]!, ['F']);
    expect(want.length).toBe(6); // A, D, E, H1, H2, H3
    expect(e.sequence).toBe(1);
    expect(e.previous).toBeNull();
    expect(toBase64(e.policy)).toBe(toBase64(s.t.init.anchorLeaf));
    expect(e.database.count).toBe(6);
    expect(toBase64(e.database.root)).toBe(mth(want).toString('base64'));
    expect((await blobBytes(e.blob)).equals(Buffer.concat(want))).toBe(true);
    // The contribution lines: every org's only contribution, sorted by org name.
    expect(e.contributions.map((c) => `${c.org} ${toBase64(c.leaf)}`)).toEqual(
      ['org-de', 'org-fr', 'org-fr2', 'org-us'].map((o) => `${o} ${leaves.get(`${o} 1`)}`),
    );
    // Exclusions: only F, which the intersection held; B is reported as not applied.
    expect(e.exclude).not.toBeNull();
    expect(e.exclude!.count).toBe(1);
    expect((await blobBytes(e.exclude!.blob)).equals(element('F'))).toBe(true);
    expect(first.exclusion).toMatchObject({ listed: 2, applied: 1, notApplied: 1 });
    // The report: 10 distinct (A B C D E F G H1 H2 H3); B and G by one org; C in FR only; F excluded.
    expect(first.report).toEqual({ contributions: 4, distinct: 10, belowMinOrgs: 2, belowMinJurisdictions: 1, excluded: 1, kept: 6, excludeListed: 1 });
    expect([e.added, e.removed]).toEqual([6, 0]);
    expect(first.noticeRequired).toBe(3 * DAY);
    expect(e.expires).toBe(clock + 30 * DAY);
    expect(first.entry).toBe(new TextDecoder().decode((await s.log.store.readEntries(5, 6))[0]));
  });

  it('release 2: superseded and expired contributions are not selected; added/removed follow release 1', async () => {
    const orgs = s.t.fixture.orgs;
    clock = T0 + 2 * DAY; // org-de's only contribution has expired
    // org-us replaces its list: drops A, adds C (C is then held in FR and US).
    const us2 = ['B', 'C', 'D', 'F'];
    await contribute(orgs[US]!, us2, 2, T0 + 365 * DAY);
    // org-fr2's newer contribution is already expired: its older one is used.
    const fr2Index = await contribute(orgs[FR2]!, ['D'], 2, clock - 10);
    const r = await buildRelease(opts({ publicationWindow: 3_600 }));
    const e = await releaseAt(r.index!);
    const held = { 'org-us': us2, 'org-fr': lists[0]!['org-fr']!, 'org-fr2': lists[0]!['org-fr2']! };
    const want = reference(held);
    expect(want.length).toBe(2); // C, D
    expect(e.sequence).toBe(2);
    expect(toBase64(e.previous!)).toBe(first.leafHash);
    expect(toBase64(e.database.root)).toBe(mth(want).toString('base64'));
    expect(e.database.count).toBe(2);
    expect(e.contributions.map((c) => `${c.org} ${toBase64(c.leaf)}`)).toEqual([
      `org-fr ${leaves.get('org-fr 1')}`,
      `org-fr2 ${leaves.get('org-fr2 1')}`,
      `org-us ${leaves.get('org-us 2')}`,
    ]);
    expect(e.exclude).toBeNull();
    // added/removed against release 1's database, by set difference.
    const prev = new Set(reference(lists[0]!, ['F']).map((x) => x.toString('hex')));
    const next = new Set(want.map((x) => x.toString('hex')));
    const added = [...next].filter((x) => !prev.has(x)).length;
    const removed = [...prev].filter((x) => !next.has(x)).length;
    expect([added, removed]).toEqual([1, 5]);
    expect([e.added, e.removed]).toEqual([added, removed]);
    expect(r.noticeRequired).toBe(DAY);
    const why = new Map(r.rejected.map((x) => [`${x.org} ${x.index}`, x.reason]));
    expect(why.get(`org-fr2 ${fr2Index}`)).toBe('expired');
    expect(why.get('org-de 4')).toBe('expired');
    expect(why.get('org-us 1')).toBe('superseded');
  });

  it('the CLI prints the intersection report, or JSON', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    // The CLI reads the system clock: make it the test's.
    vi.useFakeTimers({ now: clock * 1000, toFake: ['Date'] });
    try {
      expect(await cli(['release', '--data', s.t.dir, '--log', s.url, '--dry-run', '--publication-window', '3600', '--json'])).toBe(0);
      const j = JSON.parse(String(log.mock.calls.at(-1)![0])) as ReleaseResult;
      expect(j.dryRun).toBe(true);
      expect(j.sequence).toBe(3);
      expect([j.added, j.removed]).toEqual([0, 0]);
      expect(await cli(['release', '--data', s.t.dir, '--log', s.url, '--dry-run', '--publication-window', '3600'])).toBe(0);
      const text = String(log.mock.calls.at(-1)![0]);
      expect(text).toMatch(/^DRY RUN: release 3/);
      expect(text).toContain('dropped, held by fewer than 2 orgs (min-orgs): 4'); // A, B, E, F
      expect(text).toContain('dropped, holders span fewer than 2 jurisdictions (min-jurisdictions): 0');
      expect(text).toContain('kept: 2');
      expect(await cli(['release', '--data', s.t.dir, '--log', s.url, '--expires-in', 'soon'])).toBe(2);
      expect(await cli(['release', '--data', s.t.dir, '--log', s.url, '--json', '--expires-in', String(31 * DAY)])).toBe(1);
      expect(JSON.parse(String(log.mock.calls.at(-1)![0]))).toMatchObject({ error: { code: 'bad-expiry' } });
    } finally {
      vi.useRealTimers();
      log.mockRestore();
    }
    // Dry runs append nothing.
    expect(await s.log.store.size()).toBe(9);
  });
});

describe('release caps and checks', () => {
  it('refuses a database above max-entries, and a contribution whose blob does not match its set line', async () => {
    let clock = T0;
    const f = fixture({ 'max-entries': 2 }, [['org-us', 'US'], ['org-fr', 'FR'], ['org-de', 'DE']]);
    const s = await serve(f, () => clock);
    try {
      const client = new LogClient({ url: s.url, now: () => clock });
      const [a, b, c] = [randomBytes(32), randomBytes(32), randomBytes(32)];
      const add = async (org: Party, els: Buffer[], sequence: number, setOf?: Uint8Array): Promise<void> => {
        const set = formatDatabase(els);
        await client.putBlob(ORIGIN, set, org.signer);
        const sum = parseDatabase(setOf ?? set);
        await client.add(
          signEntry(
            { type: 'contribution', org: org.name, sequence, policy: s.t.init.anchorLeaf, set: { root: sum.root, count: sum.count }, blob: sha256(set), expires: T0 + 365 * DAY },
            org.signer,
          ),
        );
      };
      const [us, fr, de] = s.t.fixture.orgs as [Party, Party, Party];
      // Each set holds 2 (≤ max-entries), but every pair overlaps: the database would hold 3.
      await add(us, [a, b], 1);
      await add(fr, [a, c], 1);
      await add(de, [b, c], 1);
      const o = { dataDir: s.t.dir, logUrl: s.url, now: () => clock, acceptLongNotice: true };
      await expectReleaseError(buildRelease(o), 'too-many-entries', /3 elements.*max-entries is 2/);
      // org-de now logs a set line that its blob does not match.
      await add(de, [b], 2, formatDatabase([c]));
      await expectReleaseError(buildRelease(o), 'bad-contribution-blob', /org-de/);
      expect(await s.log.store.size()).toBe(5);
    } finally {
      await s.close();
    }
  });
});

describe('a contribution sequenced between reading the log and appending the release', () => {
  it('is detected: the release is logged but reported as raced', async () => {
    const clock = T0;
    const s = await serve(fixture({}, [['org-us', 'US'], ['org-fr', 'FR'], ['org-de', 'DE']]), () => clock);
    try {
      const client = new LogClient({ url: s.url, now: () => clock });
      const [us, fr, de] = s.t.fixture.orgs as [Party, Party, Party];
      const shared = randomBytes(32);
      const contribution = async (org: Party, sequence: number): Promise<Uint8Array> => {
        const set = formatDatabase([shared, randomBytes(32)]);
        await client.putBlob(ORIGIN, set, org.signer);
        const sum = parseDatabase(set);
        return signEntry(
          { type: 'contribution', org: org.name, sequence, policy: s.t.init.anchorLeaf, set: { root: sum.root, count: sum.count }, blob: sha256(set), expires: T0 + 365 * DAY },
          org.signer,
        );
      };
      await client.add(await contribution(us, 1));
      await client.add(await contribution(fr, 1));
      const late = await contribution(de, 1);
      // The network delivers org-de's contribution just before the release.
      const racing: typeof fetch = async (url, init) => {
        const body = init?.body;
        if (String(url).endsWith('/add') && body instanceof Uint8Array && Buffer.from(body).toString().startsWith('concord/release/v1\n')) {
          await client.add(late);
        }
        return fetch(url, init);
      };
      await expectReleaseError(
        buildRelease({ dataDir: s.t.dir, logUrl: s.url, now: () => clock, fetch: racing as never }),
        'raced',
        /release 1 was logged at index 4.*since index 3/,
      );
      const [bytes] = await s.log.store.readEntries(4, 5);
      const e = parseSignedEntry(bytes!).entry as ReleaseEntry;
      expect(e.type).toBe('release');
      expect(e.contributions.map((c) => c.org)).toEqual(['org-fr', 'org-us']);
    } finally {
      await s.close();
    }
  });
});

describe('parseExclusionFile', () => {
  it('reads hex and base64 elements, skips comments and blank lines, sorts and dedupes, and names bad lines', () => {
    const [x, y] = [randomBytes(32), randomBytes(32)];
    const blob = parseExclusionFile(`# c\n${x.toString('hex')}\n\n${y.toString('base64')}\r\n${x.toString('base64')}\n`);
    expect(Buffer.from(blob).equals(Buffer.concat(sortedUnique([x, y])))).toBe(true);
    expect(parseExclusionFile('').length).toBe(0);
    for (const [text, line] of [
      [`${x.toString('hex').toUpperCase()}\n`, 1],
      [`# ok\n${x.toString('hex').slice(2)}\n`, 2],
      [`${x.toString('base64').replace('=', 'A')}\n`, 1],
      [` ${x.toString('hex')}\n`, 1],
      [`${randomBytes(31).toString('base64')}\n`, 1],
    ] as const) {
      expect(() => parseExclusionFile(text)).toThrow(new RegExp(`line ${line}:`));
    }
  });
});
