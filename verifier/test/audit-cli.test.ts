// `concord audit` as a command: exit codes, the human report, --json, --state and progress
// output, against audit-fixture.ts logs (honest and misbehaving).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Fetch } from '@concord/client-sdk/client';
import { main } from '@concord/verifier/cli';
import type { CliIO } from '@concord/verifier/cli-common';
import { formatDatabase } from '@concord/client-sdk/database';
import { DAY, FakeLog, elements, now } from './audit-fixture.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function run(argv: string[], fetch: Fetch, opts: { isTTY?: boolean } = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIO = {
    stdout: (s) => void (out += s),
    stderr: (s) => void (err += s),
    env: {},
    fetch,
    now,
    isTTY: opts.isTTY ?? false,
    cwd: '/',
  };
  const code = await main(argv, io);
  return { code, out, err };
}

function build(opts: { badDatabase?: boolean } = {}): { log: FakeLog; trust: string; dir: string } {
  const log = new FakeLog();
  const T = now();
  const all = elements(30);
  const c = {
    'org-us': log.contribute('org-us', [...all, ...elements(4)]),
    'org-fr': log.contribute('org-fr', [...all, ...elements(2)]),
  };
  log.checkpoint({ time: T - 5 * DAY });
  const honestDb = log.intersection(c);
  const rel = log.release(c, opts.badDatabase === true ? { database: formatDatabase([...split(honestDb).slice(1)]) } : {});
  log.endorse('org-us', 'release', 1, rel.leaf);
  log.endorse('org-fr', 'release', 1, rel.leaf);
  log.checkpoint({ time: T - 4 * DAY });
  log.checkpoint({ time: T });
  const t = log.trustFile();
  cleanups.push(t.cleanup);
  return { log, trust: t.file, dir: t.dir };
}

function split(db: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < db.length; i += 32) out.push(db.slice(i, i + 32));
  return out;
}

describe('concord audit', () => {
  it('exits 0 on an honest log and prints the release with per-org and per-jurisdiction counts', async () => {
    const { log, trust } = build();
    const r = await run(['audit', '--log', log.url, '--trust', trust], log.fetch);
    expect(r.err).toContain('download');
    expect(r.code).toBe(0);
    expect(r.out).toContain(`Concord audit of ${log.origin}`);
    expect(r.out).toMatch(/release 1 \(entry 3, policy 1\) — OK/);
    expect(r.out).toMatch(/database: 30 elements \(\+30 −0\)/);
    expect(r.out).toMatch(/org-us\s+US\s+contributed\s+34\s+in database\s+30/);
    expect(r.out).toContain('per jurisdiction: FR 30, US 30');
    expect(r.out).toContain('endorsements: org-fr, org-us (FR, US): quorum met');
    expect(r.out).toContain('no findings');
  });

  it('exits 1 with the finding on a misbehaving log; --json carries the same report', async () => {
    const { log, trust } = build({ badDatabase: true });
    const human = await run(['audit', '--log', log.url, '--trust', trust], log.fetch);
    expect(human.code).toBe(1);
    expect(human.out).toContain('[not-intersection@release-1]');
    const j = await run(['audit', '--log', log.url, '--trust', trust, '--json'], log.fetch);
    expect(j.code).toBe(1);
    expect(j.err).toBe('');
    const report = JSON.parse(j.out) as { findings: { id: string; class: string }[]; releases: { status: string }[] };
    expect(report.findings.map((f) => f.id)).toEqual(['not-intersection@release-1']);
    expect(report.releases[0]!.status).toBe('failed');
  });

  it('--state: the second run reports what changed since the first', async () => {
    const { log, trust } = build();
    const state = mkdtempSync(path.join(tmpdir(), 'concord-audit-state-'));
    cleanups.push(() => rmSync(state, { recursive: true, force: true }));
    expect((await run(['audit', '--log', log.url, '--trust', trust, '--state', state], log.fetch)).code).toBe(0);
    log.endorse('org-us', 'release', 5, new Uint8Array(32));
    log.checkpoint({ time: now() });
    const r = await run(['audit', '--log', log.url, '--trust', trust, '--state', state], log.fetch);
    expect(r.code).toBe(0);
    expect(r.out).toContain('since the last audit: 1 new entries; no new releases; no policy changes');
  });

  it('a TTY gets a redrawn progress bar', async () => {
    const { log, trust } = build();
    const r = await run(['audit', '--log', log.url, '--trust', trust], log.fetch, { isTTY: true });
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/\r.*\[#+\] 100%/);
  });

  it('usage errors exit 2', async () => {
    const { log } = build();
    expect((await run(['audit', '--log', log.url], log.fetch)).code).toBe(2);
  });
});
