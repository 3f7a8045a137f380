// Organisations end to end on a real served log (SQLite, a real HTTP listener, the real
// POST /oprf/evaluate): four orgs in three jurisdictions contribute overlapping synthetic lists
// through `concord org contribute`; an honest release built here passes `concord org
// audit-release` and its database equals an independent recomputation (raw-hash membership
// counted here, elements k·H(x) computed directly with the blinding scalar); then every audit
// check is attacked by a release that tampers exactly that thing, and that check fails.
// Contribute aborts with nothing submitted on a forged DLEQ proof or an evaluation under
// another key; thresholds below 2 make a policy invalid; `org endorse` refuses a failing
// release and submits the endorsement of a passing one.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ristretto255_hasher } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { compareBytes, concatBytes, equalBytes, fromBase64, toBase64, toHex, utf8 } from '@concord/client-sdk/bytes';
import { LogClient } from '@concord/client-sdk/client';
import type { Fetch, FetchInit } from '@concord/client-sdk/client';
import { diffDatabases, formatDatabase, intersectContributions, parseDatabase } from '@concord/client-sdk/database';
import { parseSignedEntry, signEntry } from '@concord/client-sdk/entries';
import type { ContributionEntry, PolicyEntry, ReleaseEntry } from '@concord/client-sdk/entries';
import { generateKey, newSigner } from '@concord/client-sdk/note';
import type { Signer } from '@concord/client-sdk/note';
import { blindEvaluateBatch, generateKeyPair, parseEvaluateRequest, formatEvaluateResponse } from '@concord/client-sdk/oprf';
import { PolicyError, validatePolicy } from '@concord/client-sdk/policy';
import { readBlindingKeyFile } from '@concord/log-server/keys';
import { buildRelease } from '@concord/log-server/release';
import { main } from '@concord/verifier/cli';
import type { CliIO } from '@concord/verifier/cli-common';
import { openLogView, parseTrust } from '@concord/verifier/log-view';
import { auditRelease } from '@concord/verifier/release-audit';
import { createTestLog, makeFixture } from '../log-server/test/helpers.js';
import { httpFetch, startLiveLog } from './live-log.js';
import type { LiveLog } from './live-log.js';

delete process.env.DATABASE_URL;

interface Org {
  name: string;
  jurisdiction: string;
  skey: string;
  vkey: string;
  signer: Signer;
  keyFile: string;
}

const now = (): number => Math.floor(Date.now() / 1000);

// Raw pdq-256 hashes (32 bytes), by number.
const raw = (i: number): Uint8Array => sha256(utf8(`synthetic image ${i}`));
const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);

// Who holds what (raw hash numbers):
//   0–9    all four orgs                        kept
//   10–14  org-us + org-fr (US, FR)             kept
//   15–19  org-de1 + org-de2 (both DE)          dropped: two orgs, one jurisdiction
//   20–24  org-us only                          dropped: one org
//   25–29  org-fr + org-de1 (FR, DE)            kept
//   30–31  org-de2 only                         dropped: one org
const LISTS: Record<string, number[]> = {
  'org-us': [...range(0, 15), ...range(20, 25)],
  'org-fr': [...range(0, 15), ...range(25, 30)],
  'org-de1': [...range(0, 10), ...range(15, 20), ...range(25, 30)],
  'org-de2': [...range(0, 10), ...range(15, 20), ...range(30, 32)],
};
const JURISDICTION: Record<string, string> = { 'org-us': 'US', 'org-fr': 'FR', 'org-de1': 'DE', 'org-de2': 'DE' };

let live: LiveLog;
let dir: string;
let orgs: Map<string, Org>;
let k: bigint; // the blinding scalar, for the independent computation
let client: LogClient;

/** k·H(input) computed directly (RFC 9497 HashToGroup DST for VOPRF mode), not through oprf.ts. */
function element(i: number): Uint8Array {
  const dst = concatBytes(utf8('HashToGroup-OPRFV1-'), Uint8Array.of(1), utf8('-ristretto255-SHA512'));
  const p = ristretto255_hasher.hashToCurve(concatBytes(utf8('pdq-256'), Uint8Array.of(0), raw(i)), { DST: dst });
  return p.multiply(k).toBytes();
}

function leScalar(b: Uint8Array): bigint {
  let x = 0n;
  for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]!);
  return x;
}

function hashesFile(name: string, nums: readonly number[], extra = ''): string {
  const f = path.join(dir, name);
  writeFileSync(f, nums.map((i) => toHex(raw(i))).join('\n') + '\n' + extra);
  return f;
}

interface Run {
  code: number;
  out: string;
  err: string;
  calls: { method: string; url: string }[];
}


async function run(argv: string[], opts: { fetch?: Fetch } = {}): Promise<Run> {
  let out = '';
  let err = '';
  const calls: Run['calls'] = [];
  const base = opts.fetch ?? httpFetch;
  const io: CliIO = {
    stdout: (s) => void (out += s),
    stderr: (s) => void (err += s),
    env: {},
    fetch: (url, init) => {
      calls.push({ method: init?.method ?? 'GET', url });
      return base(url, init);
    },
    now,
    isTTY: false,
    cwd: dir,
  };
  const code = await main(argv, io);
  return { code, out, err, calls };
}

const common = (): string[] => ['--log', live.url, '--trust', live.trustFile];

async function auditJson(n: number): Promise<{ code: number; failed: string[]; checks: { id: string; ok: boolean; detail: string }[] }> {
  const r = await run(['org', 'audit-release', String(n), ...common(), '--json']);
  const j = JSON.parse(r.out) as { ok: boolean; checks: { id: string; ok: boolean; detail: string }[] };
  return { code: r.code, failed: j.checks.filter((c) => !c.ok).map((c) => c.id), checks: j.checks };
}

// --- the release builder of this test (the operator's side, written independently) -----------

interface Cited {
  org: string;
  leaf: Uint8Array;
  blob: Uint8Array;
}

/** The contribution each org's release line should cite (the selection rule, tracked by hand). */
const current = new Map<string, Cited>();
let lastRelease: { seq: number; leaf: Uint8Array; blob: Uint8Array } | undefined;

interface Draft {
  cite: Cited[];
  exclude: Uint8Array | null;
  database: Uint8Array;
  entry: Omit<ReleaseEntry, 'database' | 'blob' | 'exclude'> & { database?: { root: Uint8Array; count: number } };
}

/** Appends release n+1: honest unless `tamper` changes the draft. Returns its sequence. */
async function appendRelease(tamper: (d: Draft) => void = () => {}, opts: { cite?: Cited[]; exclude?: Uint8Array } = {}): Promise<number> {
  const cite = [...(opts.cite ?? [...current.values()])].sort((a, b) => (a.org < b.org ? -1 : 1));
  const x = intersectContributions(
    cite.map((c) => ({ org: c.org, jurisdiction: JURISDICTION[c.org]!, elements: c.blob })),
    { minOrgs: 2, minJurisdictions: 2 },
    opts.exclude ?? new Uint8Array(0),
  );
  const seq = (lastRelease?.seq ?? 0) + 1;
  const draft: Draft = {
    cite,
    exclude: opts.exclude ?? null,
    database: x.elements,
    entry: {
      type: 'release',
      sequence: seq,
      previous: lastRelease?.leaf ?? null,
      policy: parseTrust(live.anchor).leaf,
      contributions: cite.map((c) => ({ org: c.org, leaf: c.leaf })),
      added: 0,
      removed: 0,
      expires: now() + 7 * 86_400,
    },
  };
  const d0 = diffDatabases(lastRelease?.blob ?? new Uint8Array(0), draft.database);
  draft.entry.added = d0.added;
  draft.entry.removed = d0.removed;
  const before = draft.database;
  tamper(draft);
  if (draft.database !== before && draft.entry.added === d0.added && draft.entry.removed === d0.removed) {
    // A tampered database is announced consistently (its own diff), so only the tamper shows.
    const d = diffDatabases(lastRelease?.blob ?? new Uint8Array(0), draft.database);
    draft.entry.added = d.added;
    draft.entry.removed = d.removed;
  }
  const s = parseDatabase(draft.database);
  const digest = await client.putBlob(live.log.origin, draft.database, live.t.operator);
  let exclude: ReleaseEntry['exclude'] = null;
  if (draft.exclude !== null) {
    exclude = { blob: await client.putBlob(live.log.origin, draft.exclude, live.t.operator), count: draft.exclude.length / 32 };
  }
  const entry: ReleaseEntry = { ...draft.entry, database: draft.entry.database ?? { root: s.root, count: s.count }, blob: digest, exclude };
  const added = await client.add(signEntry(entry, live.t.operator));
  await live.cosignLatest();
  lastRelease = { seq, leaf: added.leafHash, blob: draft.database };
  return seq;
}

/** A contribution entry made here (not through the CLI), e.g. with a chosen expiry or policy. */
async function contributeDirectly(org: Org, blob: Uint8Array, fields: Partial<ContributionEntry>): Promise<Cited> {
  const view = await openLogView({ url: live.url, trust: parseTrust(live.anchor), now: now() });
  let top = 0;
  for (let i = 0; i < view.entries.length; i++) {
    const e = view.parsed(i).entry;
    if (e.type === 'contribution' && e.org === org.name) top = Math.max(top, e.sequence);
  }
  const s = parseDatabase(blob);
  const entry: ContributionEntry = {
    type: 'contribution',
    org: org.name,
    sequence: top + 1,
    policy: parseTrust(live.anchor).leaf,
    set: { root: s.root, count: s.count },
    blob: await client.putBlob(live.log.origin, blob, org.signer),
    expires: now() + 86_400,
    ...fields,
  };
  const added = await client.add(signEntry(entry, org.signer));
  await live.cosignLatest();
  return { org: org.name, leaf: added.leafHash, blob };
}

async function logSize(): Promise<number> {
  return live.log.store.size();
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'concord-orgs-'));
  orgs = new Map();
  for (const name of Object.keys(LISTS)) {
    const key = generateKey(name);
    const keyFile = path.join(dir, `${name}.key`);
    writeFileSync(keyFile, key.skey + '\n', { mode: 0o600 });
    orgs.set(name, { name, jurisdiction: JURISDICTION[name]!, ...key, signer: newSigner(key.skey), keyFile });
  }
  const fixture = makeFixture({
    orgs: [...orgs.values()].map((o) => ({ name: o.name, jurisdiction: o.jurisdiction, vkey: o.vkey })),
  });
  live = await startLiveLog({ fixture });
  await live.cosignLatest();
  k = leScalar(readBlindingKeyFile(path.join(live.t.dir, 'blinding.key')).scalar);
  client = new LogClient({ url: live.url });
});

afterAll(async () => {
  await live?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('org contribute, audit-release, endorse on a real log', () => {
  it('four orgs contribute through the real VOPRF; each blob is exactly k·H(x) of its list', async () => {
    for (const [name, nums] of Object.entries(LISTS)) {
      const org = orgs.get(name)!;
      // A duplicate line is blinded once and appears once.
      const file = hashesFile(`${name}.hex`, [...nums, nums[0]!]);
      const r = await run(['org', 'contribute', '--org', name, '--key', org.keyFile, '--hashes', file, ...common(), '--json']);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      const j = JSON.parse(r.out) as { sequence: number; index: number; leafHash: string; set: { count: number; root: string }; blob: string; duplicates: number };
      expect(j.sequence).toBe(1);
      expect(j.duplicates).toBe(1);
      expect(j.set.count).toBe(nums.length);
      // Independent: the blob is the sorted set of k·H(x) computed directly.
      const want = formatDatabase(nums.map(element));
      const blob = await client.blob(hexDigest(j.blob), 1 << 20);
      expect(equalBytes(blob, want)).toBe(true);
      expect(j.set.root).toBe(toBase64(parseDatabase(want).root));
      // Only blinded elements crossed the wire: the org's raw hashes are in no request.
      const oprf = r.calls.filter((c) => c.url.endsWith('/oprf/evaluate'));
      expect(oprf.length).toBe(1);
      await live.cosignLatest();
      current.set(name, { org: name, leaf: fromBase64(j.leafHash), blob });
    }
  });

  it('an honest release passes every check, and its database is the independent recomputation', async () => {
    const seq = await appendRelease();
    const a = await auditJson(seq);
    expect(a.failed).toEqual([]);
    expect(a.code).toBe(0);
    expect(a.checks.find((c) => c.id === 'publication')!.detail).toMatch(/^published at \d+ \(seenBy of checkpoint \d+, containing entry \d+\)$/);
    expect(a.checks.map((c) => c.id)).toEqual([
      'release-found', 'release-signature', 'release-policy', 'policy-valid', 'previous-release', 'publication',
      'contribution-signatures', 'contribution-selection', 'contribution-blobs', 'exclusions', 'database-blob',
      'intersection', 'added-removed', 'caps', 'expiry',
    ]);
    // Independent recomputation from raw-hash membership: ≥ 2 orgs in ≥ 2 jurisdictions.
    const kept: number[] = [];
    for (let i = 0; i < 32; i++) {
      const holders = Object.keys(LISTS).filter((o) => LISTS[o]!.includes(i));
      if (holders.length >= 2 && new Set(holders.map((o) => JURISDICTION[o])).size >= 2) kept.push(i);
    }
    expect(kept).toEqual([...range(0, 15), ...range(25, 30)]);
    const want = formatDatabase(kept.map(element));
    expect(equalBytes(lastRelease!.blob, want)).toBe(true);
    // Held by two DE orgs only (15–19) and by one org only (20–24, 30–31): absent.
    expect(lastRelease!.blob.length / 32).toBe(kept.length);
    for (const i of [15, 19, 20, 24, 30, 31]) expect(has(lastRelease!.blob, element(i))).toBe(false);
    const r = await run(['org', 'audit-release', String(seq), ...common()]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/all 15 checks passed/);
    expect(r.out).toMatch(/ok {4}intersection +recomputed from 4 contributions: 32 distinct, 7 below min-orgs, 5 below min-jurisdictions, 0 excluded, 20 kept/);
  });

  it('an honest exclusion removes an element and passes', async () => {
    const gone = element(3);
    const seq = await appendRelease(() => {}, { exclude: formatDatabase([gone]) });
    const a = await auditJson(seq);
    expect(a.failed).toEqual([]);
    expect(has(lastRelease!.blob, gone)).toBe(false);
    expect(a.checks.find((c) => c.id === 'added-removed')!.detail).toMatch(/added 0, removed 1/);
  });

  it('an older contribution cited instead of the latest fails contribution-selection', async () => {
    const us = orgs.get('org-us')!;
    const old = current.get('org-us')!;
    // org-us contributes again through the CLI (its list plus two hashes only it holds).
    const file = hashesFile('us2.hex', [...LISTS['org-us']!, 40, 41]);
    const r = await run(['org', 'contribute', '--org', 'org-us', '--key', us.keyFile, '--hashes', file, ...common(), '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { sequence: number; leafHash: string; blob: string };
    expect(j.sequence).toBe(2);
    await live.cosignLatest();
    current.set('org-us', { org: 'org-us', leaf: fromBase64(j.leafHash), blob: await client.blob(hexDigest(j.blob), 1 << 20) });
    const seq = await appendRelease(() => {}, { cite: [...current.values()].map((c) => (c.org === 'org-us' ? old : c)) });
    const a = await auditJson(seq);
    expect(a.code).toBe(1);
    expect(a.failed).toEqual(['contribution-selection']);
    expect(a.checks.find((c) => c.id === 'contribution-selection')!.detail).toMatch(/org-us: release cites entry \d+ \(sequence 1\) \[superseded\], the rule selects entry \d+ \(sequence 2\)/);
    // The CLI names the failing check.
    const t = await run(['org', 'audit-release', String(seq), ...common()]);
    expect(t.code).toBe(1);
    expect(t.err).toMatch(/FAILED: contribution-selection/);
    expect(t.out).toMatch(/FAIL {2}contribution-selection/);
    // org endorse refuses it, and submits nothing.
    const size = await logSize();
    const e = await run(['org', 'endorse', String(seq), '--org', 'org-fr', '--key', orgs.get('org-fr')!.keyFile, ...common()]);
    expect(e.code).toBe(1);
    expect(e.err).toMatch(/refusing to endorse release \d+: FAILED: contribution-selection/);
    expect(await logSize()).toBe(size);
    expect(e.calls.some((c) => c.method === 'POST')).toBe(false);
  });

  it('an expired contribution selected fails contribution-selection', async () => {
    const fr = orgs.get('org-fr')!;
    const expired = await contributeDirectly(fr, current.get('org-fr')!.blob, { expires: now() - 60 });
    // The rule falls back to org-fr's first contribution; this release cites the expired one.
    const seq = await appendRelease(() => {}, { cite: [...current.values()].map((c) => (c.org === 'org-fr' ? expired : c)) });
    const a = await auditJson(seq);
    expect(a.failed).toEqual(['contribution-selection']);
    expect(a.checks.find((c) => c.id === 'contribution-selection')!.detail).toMatch(/org-fr: release cites entry \d+ \(sequence 2\) \[expired\], the rule selects entry \d+ \(sequence 1\)/);
    // And the honest release after it (citing org-fr's first) passes.
    const ok = await appendRelease();
    expect((await auditJson(ok)).failed).toEqual([]);
    // ...but org-fr will not endorse it: its own latest contribution is not the one used.
    const e = await run(['org', 'endorse', String(ok), '--org', 'org-fr', '--key', fr.keyFile, ...common()]);
    expect(e.code).toBe(1);
    expect(e.err).toMatch(/FAILED: own-contribution$/m);
    expect(e.out).toMatch(/FAIL {2}own-contribution +org-fr's latest contribution before the release is sequence 2/);
  });

  it('a contribution made under a policy with another blinding key fails contribution-selection', async () => {
    // Policy 2 with a new blinding key is logged (signed by the operator) but never takes force;
    // org-de2 contributes under it anyway.
    const p1 = parseTrust(live.anchor).policy;
    const p2: PolicyEntry = { ...p1, sequence: 2, previous: parseTrust(live.anchor).leaf, blindingKey: generateKeyPair().publicKey };
    const p2bytes = signEntry(p2, live.t.operator);
    await client.add(p2bytes);
    await live.cosignLatest();
    const p2leaf = parseSignedEntry(p2bytes).leafHash;
    const de2 = orgs.get('org-de2')!;
    const other = await contributeDirectly(de2, current.get('org-de2')!.blob, { policy: p2leaf });
    const seq = await appendRelease(() => {}, { cite: [...current.values()].map((c) => (c.org === 'org-de2' ? other : c)) });
    const a = await auditJson(seq);
    expect(a.failed).toEqual(['contribution-selection']);
    expect(a.checks.find((c) => c.id === 'contribution-selection')!.detail).toMatch(/org-de2: release cites entry \d+ \(sequence 2\) \[unknown-policy\]/);
  });

  it('an extra element in the database fails intersection (and endorse refuses)', async () => {
    const seq = await appendRelease((d) => {
      d.database = formatDatabase([...chunks(d.database), element(20)]); // held by org-us only
    });
    const a = await auditJson(seq);
    expect(a.failed).toEqual(['intersection']);
    expect(a.checks.find((c) => c.id === 'intersection')!.detail).toMatch(/has 1 elements not in it and lacks 0/);
    const size = await logSize();
    const e = await run(['org', 'endorse', String(seq), '--org', 'org-us', '--key', orgs.get('org-us')!.keyFile, ...common(), '--json']);
    expect(e.code).toBe(1);
    expect(JSON.parse(e.out)).toMatchObject({ endorsed: false, ok: false });
    expect(await logSize()).toBe(size);
  });

  it('an exclusion that adds instead of removes fails exclusions', async () => {
    const added = element(21); // org-us only: not in the intersection
    const seq = await appendRelease(
      (d) => {
        d.database = formatDatabase([...chunks(d.database), added]);
      },
      { exclude: formatDatabase([added]) },
    );
    const a = await auditJson(seq);
    expect(a.failed).toContain('exclusions');
    expect(a.failed).toEqual(['exclusions', 'intersection']);
    expect(a.checks.find((c) => c.id === 'exclusions')!.detail).toMatch(/exclusion adds instead of removes: 1 of the 1 excluded elements are in the database/);
  });

  it('wrong added / removed counts fail added-removed', async () => {
    const seq = await appendRelease((d) => {
      d.entry.added += 1;
    });
    const a = await auditJson(seq);
    expect(a.failed).toEqual(['added-removed']);
    const seq2 = await appendRelease((d) => {
      d.entry.removed += 2;
    });
    expect((await auditJson(seq2)).failed).toEqual(['added-removed']);
  });

  it('a release built by the operator tool (concord-log release, with an exclusion file) passes the audit', async () => {
    // Independent implementations: log-server's release builder and this audit must agree.
    const excludeFile = path.join(dir, 'exclude.txt');
    writeFileSync(excludeFile, `# false positives\n${toHex(element(5))}\n${toHex(element(20))}\n`);
    const r = await buildRelease({ dataDir: live.t.dir, logUrl: live.url, excludeFile, expiresIn: 7 * 86_400 });
    await live.cosignLatest();
    expect(r.exclusion).toMatchObject({ listed: 2, applied: 1, notApplied: 1 });
    const a = await auditJson(r.sequence);
    expect(a.failed).toEqual([]);
    expect(a.code).toBe(0);
    // Its database: the independent recomputation minus element 5 (org-us's extra 40–41 are its alone).
    const blob = await client.blob(hexDigest(r.database.blob), 1 << 20);
    const kept = [...range(0, 15), ...range(25, 30)].filter((i) => i !== 5);
    expect(equalBytes(blob, formatDatabase(kept.map(element)))).toBe(true);
    expect(r.selected.map((x) => `${x.org}#${x.sequence}`)).toEqual(['org-de1#1', 'org-de2#1', 'org-fr#1', 'org-us#2']);
    lastRelease = { seq: r.sequence, leaf: fromBase64(r.leafHash), blob };
  });

  it('expires more than max-release-age after publication fails expiry', async () => {
    const seq = await appendRelease((d) => {
      d.entry.expires = now() + 30 * 86_400 + 3600; // max-release-age is 30 days
    });
    const a = await auditJson(seq);
    expect(a.failed).toEqual(['expiry']);
    expect(a.checks.find((c) => c.id === 'expiry')!.detail).toMatch(/release-expires-too-late/);
  });

  it('a wrong database count fails database-blob', async () => {
    const seq = await appendRelease((d) => {
      const s = parseDatabase(d.database);
      d.entry.database = { root: s.root, count: s.count + 1 };
    });
    const a = await auditJson(seq);
    expect(a.failed).toEqual(['database-blob']);
    expect(a.checks.find((c) => c.id === 'database-blob')!.detail).toMatch(/blob holds 20 elements .* the release says 21/);
  });

  it('a contribution whose blob does not match its set line fails contribution-blobs', async () => {
    const fr = orgs.get('org-fr')!;
    const blob = current.get('org-fr')!.blob;
    const s0 = parseDatabase(blob);
    const lying = await contributeDirectly(fr, blob, { set: { root: s0.root, count: s0.count + 1 } });
    current.set('org-fr', lying);
    const seq = await appendRelease();
    const a = await auditJson(seq);
    expect(a.failed).toContain('contribution-blobs');
    expect(a.checks.find((c) => c.id === 'contribution-blobs')!.detail).toMatch(/org-fr \(entry \d+\): .*too-large|org-fr \(entry \d+\): blob holds/);
    expect(a.checks.find((c) => c.id === 'intersection')!.detail).toMatch(/^not checked: no valid blob or no org line for org-fr/);
    // The selection itself is right (the lying entry is org-fr's latest valid one).
    expect(a.failed).not.toContain('contribution-selection');
  });

  it('org endorse submits the endorsement of a release whose audit passes, once', async () => {
    const size = await logSize();
    const r = await run(['org', 'endorse', '1', '--org', 'org-de1', '--key', orgs.get('org-de1')!.keyFile, ...common(), '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { endorsed: boolean; index: number; ok: boolean };
    expect(j).toMatchObject({ endorsed: true, ok: true, index: size });
    await live.cosignLatest();
    const entries = await live.log.store.readEntries(size, size + 1);
    const e = parseSignedEntry(entries[0]!).entry;
    const view = await openLogView({ url: live.url, trust: parseTrust(live.anchor), now: now() });
    const release1 = [...view.entries.keys()].map((i) => view.parsed(i)).find((s) => s.entry.type === 'release' && s.entry.sequence === 1)!;
    expect(e).toEqual({ type: 'endorsement', org: 'org-de1', subject: { kind: 'release', sequence: 1, leaf: release1.leafHash } });
    // Again: already endorsed, nothing submitted.
    const again = await run(['org', 'endorse', '1', '--org', 'org-de1', '--key', orgs.get('org-de1')!.keyFile, ...common()]);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/already endorsed release 1/);
    expect(await logSize()).toBe(size + 1);
  });

  it('thresholds below 2 make the policy invalid: refused at init, as a trust anchor, and by the audit', async () => {
    await expect(createTestLog(makeFixture({ 'min-orgs': 1 }))).rejects.toThrow(/min-orgs/);
    const p = { ...parseTrust(live.anchor).policy, minJurisdictions: 1 };
    expect(() => validatePolicy(p, live.log.origin)).toThrow(PolicyError);
    // A view whose policy (as a hostile source might present it) has min-orgs 1.
    const view = await openLogView({ url: live.url, trust: parseTrust(live.anchor), now: now() });
    const chain = Object.create(view.chain) as typeof view.chain;
    chain.policyAt = (i: number) => {
      const q = view.chain.policyAt(i);
      return q === undefined ? undefined : { ...q, entry: { ...q.entry, minOrgs: 1 } };
    };
    const a = await auditRelease({ ...view, chain }, 1, { now: now() });
    const failed = a.checks.filter((c) => !c.ok).map((c) => c.id);
    expect(failed).toEqual(['policy-valid', 'intersection']);
    expect(a.checks.find((c) => c.id === 'policy-valid')!.detail).toMatch(/min-orgs-too-low/);
    // The same view with max-entries below the database's count fails caps.
    const capped = Object.create(view.chain) as typeof view.chain;
    capped.policyAt = (i: number) => {
      const q = view.chain.policyAt(i);
      return q === undefined ? undefined : { ...q, entry: { ...q.entry, maxEntries: 5 } };
    };
    const c = await auditRelease({ ...view, chain: capped }, 1, { now: now() });
    expect(c.checks.find((x) => x.id === 'caps')!.ok).toBe(false);
  });
});

describe('contribute fails closed', () => {
  /** A fetch whose /oprf/evaluate is answered by `evaluate` (a fake OPRF server). */
  function fakeOprf(evaluate: (blinded: Uint8Array[]) => string): Fetch {
    return async (url: string, init?: FetchInit) => {
      if (url.endsWith('/oprf/evaluate')) {
        const body = parseEvaluateRequest(init!.body as Uint8Array);
        return new Response(evaluate(body), { status: 200, headers: { 'Content-Type': 'application/json' } }) as never;
      }
      return httpFetch(url, init);
    };
  }

  const real = (): { scalar: Uint8Array; publicKey: Uint8Array } => readBlindingKeyFile(path.join(live.t.dir, 'blinding.key'));

  it('a forged DLEQ proof aborts the contribution: nothing is uploaded or submitted', async () => {
    const size = await logSize();
    const file = hashesFile('forged.hex', range(100, 110));
    const fetch = fakeOprf((blinded) => {
      const ev = blindEvaluateBatch(real().scalar, real().publicKey, blinded);
      const proof = ev.proof.slice();
      proof[40]! ^= 1; // s changes: the proof no longer verifies
      return formatEvaluateResponse({ evaluated: ev.evaluated, proof });
    });
    const r = await run(['org', 'contribute', '--org', 'org-fr', '--key', orgs.get('org-fr')!.keyFile, '--hashes', file, ...common()], { fetch });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/\[oprf\].*bad-proof.*nothing was submitted/);
    expect(r.calls.filter((c) => c.method === 'PUT' || (c.method === 'POST' && c.url.endsWith('/add')))).toEqual([]);
    expect(await logSize()).toBe(size);
  });

  it('an evaluation under another blinding key (a valid proof for the wrong key) aborts it too', async () => {
    const size = await logSize();
    const other = generateKeyPair();
    const file = hashesFile('otherkey.hex', range(200, 210));
    const fetch = fakeOprf((blinded) => formatEvaluateResponse(blindEvaluateBatch(other.secretKey, other.publicKey, blinded)));
    const r = await run(['org', 'contribute', '--org', 'org-de1', '--key', orgs.get('org-de1')!.keyFile, '--hashes', file, ...common()], { fetch });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad-proof/);
    expect(r.calls.filter((c) => c.method === 'PUT' || (c.method === 'POST' && c.url.endsWith('/add')))).toEqual([]);
    expect(await logSize()).toBe(size);
  });

  it('the same fake server with the real key and an honest proof is accepted, in batches of at most 1,000', async () => {
    const file = hashesFile('honest-fake.hex', range(300, 1301));
    const batches: number[] = [];
    const fetch = fakeOprf((blinded) => {
      batches.push(blinded.length);
      return formatEvaluateResponse(blindEvaluateBatch(real().scalar, real().publicKey, blinded));
    });
    const r = await run(['org', 'contribute', '--org', 'org-de1', '--key', orgs.get('org-de1')!.keyFile, '--hashes', file, ...common(), '--json'], { fetch });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(batches.sort((a, b) => a - b)).toEqual([1, 1000]);
    const j = JSON.parse(r.out) as { blob: string; set: { count: number } };
    expect(j.set.count).toBe(1001);
    expect(equalBytes(await client.blob(hexDigest(j.blob), 1 << 20), formatDatabase(range(300, 1301).map(element)))).toBe(true);
  });
});

// --- small helpers ------------------------------------------------------------------------------

function hexDigest(blobField: string): Uint8Array {
  return new Uint8Array(Buffer.from(blobField.slice('sha256:'.length), 'hex'));
}
function chunks(blob: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < blob.length; i += 32) out.push(blob.slice(i, i + 32));
  return out;
}
function has(blob: Uint8Array, e: Uint8Array): boolean {
  return chunks(blob).some((x) => compareBytes(x, e) === 0);
}
