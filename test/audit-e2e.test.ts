// The auditor's tools end to end on a real served log (SQLite, a real HTTP listener, the real
// POST /oprf/evaluate and release bundles): three orgs contribute through `concord org
// contribute`, the operator releases with buildRelease (`concord-log release`), two orgs endorse
// with `concord org endorse`; then `concord audit` passes with the expected per-org and
// per-jurisdiction counts, fails on a byte flipped in transit, `concord check-image` answers
// through the operator's VOPRF with proofs `concord verify-proof` accepts offline, and `concord
// monitor --once` reports the release.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex, utf8 } from '@concord/client-sdk/bytes';
import type { Fetch } from '@concord/client-sdk/client';
import { buildRelease } from '@concord/log-server/release';
import { main } from '@concord/verifier/cli';
import type { CliIO } from '@concord/verifier/cli-common';
import { httpFetch, startLiveLog } from './live-log.js';
import type { LiveLog } from './live-log.js';

delete process.env.DATABASE_URL;

const now = (): number => Math.floor(Date.now() / 1000);
const raw = (i: number): Uint8Array => sha256(utf8(`synthetic image ${i}`));
const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);

// 0–9 US+FR (kept), 10–14 US+DE (kept), 15–19 FR only, 20–24 DE only (dropped).
const LISTS: Record<string, number[]> = {
  'org-us': range(0, 15),
  'org-fr': [...range(0, 10), ...range(15, 20)],
  'org-de': [...range(10, 15), ...range(20, 25)],
};


let live: LiveLog;
let dir: string;

async function run(argv: string[], fetch: Fetch = httpFetch): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIO = { stdout: (s) => void (out += s), stderr: (s) => void (err += s), env: {}, fetch, now, isTTY: false, cwd: dir };
  return { code: await main(argv, io), out, err };
}

const common = (): string[] => ['--log', live.url, '--trust', live.trustFile];

beforeAll(async () => {
  live = await startLiveLog({ config: { witnessPush: false } });
  dir = mkdtempSync(path.join(tmpdir(), 'concord-audit-e2e-'));
  const f = live.t.fixture;
  for (const o of f.orgs) {
    writeFileSync(path.join(dir, `${o.name}.key`), o.skey + '\n', { mode: 0o600 });
    writeFileSync(path.join(dir, `${o.name}.hashes`), LISTS[o.name]!.map((i) => toHex(raw(i))).join('\n') + '\n');
  }
  writeFileSync(path.join(dir, 'press.key'), f.auditor.skey + '\n', { mode: 0o600 });
  // Witnesses cosigned the setup three days ago (so the release's notice has ended), and the
  // head again now (its aliveAt).
  const past = now() - 3 * 86_400;
  await live.cosignLatest({ time: past });
  for (const o of f.orgs) {
    const r = await run(['org', 'contribute', '--org', o.name, '--key', `${o.name}.key`, '--hashes', `${o.name}.hashes`, ...common()]);
    if (r.code !== 0) throw new Error(`contribute ${o.name}: ${r.err}`);
    await live.cosignLatest({ time: past });
  }
  await buildRelease({ dataDir: live.t.dir, logUrl: live.url, fetch: httpFetch, expiresIn: 20 * 86_400 });
  await live.cosignLatest({ time: past });
  for (const name of ['org-us', 'org-fr']) {
    const r = await run(['org', 'endorse', '1', '--org', name, '--key', `${name}.key`, ...common()]);
    if (r.code !== 0) throw new Error(`endorse ${name}: ${r.err}`);
    await live.cosignLatest({ time: past });
  }
  await live.cosignLatest();
}, 120_000);

afterAll(async () => {
  await live?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('auditor tools on a real log', () => {
  it('concord audit passes and reports the counts', async () => {
    const r = await run(['audit', ...common(), '--json']);
    const report = JSON.parse(r.out) as {
      findings: unknown[];
      releases: { sequence: number; status: string; noticed: boolean; database: { count: number }; jurisdictions: Record<string, number>; contributions: { org: string; contributed: number; inDatabase: number }[]; endorsements: { orgs: string[]; quorum: boolean } }[];
    };
    expect(report.findings).toEqual([]);
    expect(r.code).toBe(0);
    const rel = report.releases[0]!;
    expect(rel).toMatchObject({ sequence: 1, status: 'ok', noticed: true, database: { count: 15 }, jurisdictions: { DE: 5, FR: 10, US: 15 }, endorsements: { orgs: ['org-fr', 'org-us'], quorum: true } });
    expect(rel.contributions.map((c) => [c.org, c.contributed, c.inDatabase])).toEqual([
      ['org-de', 10, 5],
      ['org-fr', 15, 10],
      ['org-us', 15, 15],
    ]);
  });

  it('concord audit fails when a proxy flips a byte of an entry bundle', async () => {
    const proxy: Fetch = async (url, init) => {
      const res = await httpFetch(url, init);
      if (!/\/tile\/entries\//.test(url)) return res;
      const body = new Uint8Array(await res.arrayBuffer());
      body[body.length - 7]! ^= 0x20;
      return new Response(body, { status: res.status }) as never;
    };
    const r = await run(['audit', ...common(), '--json'], proxy);
    expect(r.code).toBe(1);
    expect((JSON.parse(r.out) as { findings: { class: string }[] }).findings.map((f) => f.class)).toEqual(['tampered-data']);
  });

  it('concord check-image through the real VOPRF, and verify-proof offline', async () => {
    const hashes = [3, 12, 17, 99].map((i) => toHex(raw(i)));
    const r = await run(['check-image', ...common(), '--key', 'press.key', ...hashes.flatMap((h) => ['--hash', h]), '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { results: { hash: string; member: boolean }[] };
    expect(j.results.map((x) => x.member)).toEqual([true, true, false, false]);
    for (const h of hashes) {
      const v = await run(['verify-proof', '--proof', `${h}.proof.json`, '--trust', live.trustFile]);
      expect(v.code).toBe(0);
    }
    const stats = (await (globalThis.fetch(`${live.url}/oprf/stats`).then((r) => r.json()))) as { keys: { name: string; used: number }[] };
    expect(stats.keys.find((k) => k.name === 'press')?.used).toBe(4);
  });

  it('concord monitor --once reports the release', async () => {
    const r = await run(['monitor', ...common(), '--once']);
    expect(r.code).toBe(0);
    const types = r.out.trim().split('\n').map((l) => (JSON.parse(l) as { type: string }).type);
    expect(types).toContain('new-release');
    expect(types).not.toContain('split-view');
  });
});

describe('concord verify-bundle on a real bundle', () => {
  it('accepts the release, check by check, and stores the device state', async () => {
    const bundle = new Uint8Array(await (await httpFetch(`${live.url}/release/latest/bundle`)).arrayBuffer());
    writeFileSync(path.join(dir, 'bundle.json'), bundle);
    // The database blob, by the release's digest (from the log, checked by the client).
    const view = JSON.parse((await run(['check-image', ...common(), '--key', 'press.key', '--hash', toHex(raw(3)), '--out', 'db-probe', '--json'])).out) as { release: number };
    expect(view.release).toBe(1);
    const entry = JSON.parse(readFileSync(path.join(dir, 'db-probe', `${toHex(raw(3))}.proof.json`), 'utf8')) as { release: { entry: string } };
    const hex = /blob sha256:([0-9a-f]{64})/.exec(Buffer.from(entry.release.entry, 'base64').toString('utf8'))![1]!;
    const db = new Uint8Array(await (await httpFetch(`${live.url}/blob/sha256/${hex}`)).arrayBuffer());
    writeFileSync(path.join(dir, 'database.bin'), db);
    const args = ['verify-bundle', '--bundle', 'bundle.json', '--database', 'database.bin', '--trust', live.trustFile];
    const r = await run([...args, '--state', 'device-state']);
    expect(r.err).toBe('');
    expect(r.out.split('\n').filter((l) => l.startsWith('✓'))).toHaveLength(14);
    expect(r.out).toContain('accepted: release 1, 15 elements');
    expect(r.code).toBe(0);
    // The same bundle again: the stored release, no rollback.
    expect((await run([...args, '--state', 'device-state'])).code).toBe(0);

    // A database one element short: every check before the database's passes, it fails.
    writeFileSync(path.join(dir, 'short.bin'), db.subarray(32));
    const bad = await run(['verify-bundle', '--bundle', 'bundle.json', '--database', 'short.bin', '--trust', live.trustFile, '--json']);
    expect(bad.code).toBe(1);
    const j = JSON.parse(bad.out) as { checks: { id: string; status: string; code?: string }[] };
    expect(j.checks.map((c) => c.status)).toEqual([...Array(12).fill('passed'), 'failed', 'not-reached']);
    expect(j.checks[12]).toMatchObject({ id: 'database', code: 'database-count' });

    // A device clock two days ahead: F is stale.
    const stale = await run([...args, '--now', String(now() + 2 * 86_400), '--json']);
    expect(stale.code).toBe(1);
    expect((JSON.parse(stale.out) as { checks: { status: string; code?: string }[] }).checks.find((c) => c.status === 'failed')?.code).toBe('stale-checkpoint');
  });
});
