// concord monitor against audit-fixture.ts logs: new releases and policies reported once,
// releases whose notice ended without endorsements, witnesses falling behind, and split views —
// over time, and between the log and a mirror — with both checkpoints as evidence.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Fetch, FetchResponse } from '@concord/client-sdk/client';
import { main } from '@concord/verifier/cli';
import type { CliIO } from '@concord/verifier/cli-common';
import { parseTrust } from '@concord/verifier/log-view';
import { Monitor } from '@concord/verifier/monitor';
import type { MonitorEvent } from '@concord/verifier/monitor';
import { StateDir } from '@concord/verifier/state-dir';
import { DAY, FakeLog, elements, now } from './audit-fixture.js';
import type { Indexed } from './audit-fixture.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function honest(): { log: FakeLog; T: number; contribs: Record<string, Indexed> } {
  const log = new FakeLog();
  const T = now();
  const all = elements(10);
  const contribs = { 'org-us': log.contribute('org-us', [...all, ...elements(2)]), 'org-fr': log.contribute('org-fr', all) };
  const rel = log.release(contribs);
  log.endorse('org-us', 'release', 1, rel.leaf);
  log.endorse('org-fr', 'release', 1, rel.leaf);
  log.checkpoint({ time: T - 4 * DAY });
  log.checkpoint({ time: T });
  return { log, T, contribs };
}

const types = (es: MonitorEvent[]): string[] => es.map((e) => e.type);

/** Routes requests for `mirror.url` to the mirror log, the rest to `log`. */
function both(log: FakeLog, mirror: FakeLog): Fetch {
  return (url, init) => (url.startsWith(mirror.url) ? mirror.fetch(url, init) : log.fetch(url, init));
}

function monitor(log: FakeLog, opts: { mirrors?: string[]; fetch?: Fetch; state?: StateDir } = {}): Monitor {
  return new Monitor({ url: log.url, trust: parseTrust(log.anchor), now, fetch: opts.fetch ?? log.fetch, mirrors: opts.mirrors ?? [], ...(opts.state !== undefined ? { state: opts.state } : {}) });
}

describe('monitor', () => {
  it('reports each release and policy change once, as it appears', async () => {
    const { log, T, contribs } = honest();
    const m = monitor(log);
    const first = await m.poll();
    expect(types(first)).toEqual(['checkpoint', 'new-release']);
    expect(first[1]).toMatchObject({ type: 'new-release', sequence: 1, count: 10, added: 10, removed: 0, policy: 1 });
    expect(types(await m.poll())).toEqual(['checkpoint']);

    // Policy 2 raises min-orgs (removal only: in force once its quorum endorses it).
    const p2 = log.proposePolicy({ minOrgs: 3 });
    log.checkpoint({ time: T });
    expect(types(await m.poll())).toEqual(['checkpoint', 'policy-proposed']);
    log.endorse('org-us', 'policy', 2, p2.leaf);
    log.endorse('org-de', 'policy', 2, p2.leaf);
    log.currentPolicy = { entry: p2.entry, leaf: p2.leaf };
    const rel2 = log.release(contribs);
    log.checkpoint({ time: T });
    const third = await m.poll();
    expect(types(third)).toEqual(['checkpoint', 'new-release', 'policy-change']);
    expect(third[1]).toMatchObject({ sequence: 2, policy: 2, count: 0, removed: 10, index: rel2.index });
    expect(third[2]).toMatchObject({ sequence: 2, removalOnly: true, activeFrom: rel2.index });
  });

  it('a release whose notice period ended without its endorsement quorum, reported once', async () => {
    const log = new FakeLog();
    const T = now();
    const all = elements(5);
    const rel = log.release({ 'org-us': log.contribute('org-us', all), 'org-fr': log.contribute('org-fr', all) });
    log.endorse('org-us', 'release', 1, rel.leaf);
    log.checkpoint({ time: T - 2 * DAY });
    log.checkpoint({ time: T });
    const m = monitor(log);
    const events = await m.poll();
    const missing = events.find((e) => e.type === 'release-missing-endorsements');
    expect(missing).toMatchObject({ sequence: 1, endorsedBy: ['org-us'], required: { orgs: 2, jurisdictions: 2 }, noticeEnded: T - 2 * DAY + DAY });
    expect(types(await m.poll())).toEqual(['checkpoint']);
  });

  it('no missing-endorsements event while the notice period runs', async () => {
    const log = new FakeLog();
    const T = now();
    const all = elements(5);
    log.release({ 'org-us': log.contribute('org-us', all), 'org-fr': log.contribute('org-fr', all) });
    log.checkpoint({ time: T - 3600 });
    log.checkpoint({ time: T });
    expect(types(await monitor(log).poll())).toEqual(['checkpoint', 'new-release']);
  });

  it('a witness that did not cosign the head, or cosigned it long ago, is behind', async () => {
    const { log, T } = honest();
    log.checkpoint({ time: T, witnesses: 3 });
    const m = monitor(log);
    const behind = (await m.poll()).filter((e) => e.type === 'witness-behind');
    expect(behind).toEqual([{ type: 'witness-behind', witness: log.witnesses[3]!.vkey, lastCosigned: null, newest: T, size: log.entries.length }]);
    // Still behind: not reported again. Then a stale cosignature (2 h older than the newest).
    expect((await m.poll()).filter((e) => e.type === 'witness-behind')).toEqual([]);
    log.checkpoint({ time: T, witnessTimes: [T, T, T - 7200, T] });
    const m2 = monitor(log);
    expect((await m2.poll()).filter((e) => e.type === 'witness-behind')).toMatchObject([{ witness: log.witnesses[2]!.vkey, lastCosigned: T - 7200 }]);
  });

  it('split view over time: the log later serves a head inconsistent with one it served', async () => {
    const { log, T } = honest();
    const fork = log.fork(log.url);
    log.endorse('org-de', 'release', 9, new Uint8Array(32).fill(1));
    log.checkpoint({ time: T });
    fork.endorse('org-de', 'release', 9, new Uint8Array(32).fill(2));
    fork.endorse('org-de', 'release', 9, new Uint8Array(32).fill(3));
    fork.checkpoint({ time: T });
    let serving: FakeLog = log;
    const m = monitor(log, { fetch: (u, i) => serving.fetch(u, i) });
    expect(types(await m.poll())).not.toContain('split-view');
    serving = fork;
    const events = await m.poll();
    const split = events.find((e) => e.type === 'split-view');
    expect(split).toMatchObject({ type: 'split-view', source: log.url, evidence: { a: new TextDecoder().decode(log.head!), b: new TextDecoder().decode(fork.head!) } });
    // The first view stays the reference: still a split on the next poll.
    expect(types(await m.poll())).toContain('split-view');
  });

  it('split view with a mirror: ahead, behind or at the same size, both notes as evidence', async () => {
    const { log, T } = honest();
    const mirror = log.fork('http://mirror.example');
    mirror.endorse('org-de', 'release', 9, new Uint8Array(32).fill(2));
    mirror.checkpoint({ time: T });
    // Mirror ahead and forked.
    log.endorse('org-de', 'release', 9, new Uint8Array(32).fill(1));
    log.checkpoint({ time: T });
    const events = await monitor(log, { mirrors: [mirror.url], fetch: both(log, mirror) }).poll();
    const split = events.filter((e) => e.type === 'split-view');
    expect(split).toHaveLength(1);
    expect(split[0]).toMatchObject({ source: mirror.url, evidence: { a: new TextDecoder().decode(log.head!), b: new TextDecoder().decode(mirror.head!) } });
    // Mirror behind (smaller) and forked.
    log.endorse('org-de', 'release', 9, new Uint8Array(32).fill(3));
    log.checkpoint({ time: T });
    expect(types(await monitor(log, { mirrors: [mirror.url], fetch: both(log, mirror) }).poll())).toContain('split-view');
  });

  it('an honest mirror, ahead or behind, is consistent', async () => {
    const { log, T } = honest();
    const older = log.head!;
    log.endorse('org-de', 'release', 9, new Uint8Array(32).fill(1));
    log.checkpoint({ time: T });
    const mirror = log.fork('http://mirror.example');
    // The log serves its older head, the mirror the newer one (same entries).
    log.head = older;
    expect(types(await monitor(log, { mirrors: [mirror.url], fetch: both(log, mirror) }).poll())).not.toContain('split-view');
    // And the other way round.
    log.head = mirror.head;
    mirror.head = older;
    expect(types(await monitor(log, { mirrors: [mirror.url], fetch: both(log, mirror) }).poll())).not.toContain('split-view');
  });

  it('a mirror whose checkpoint is not signed by the log key is an error, not a split view', async () => {
    const { log } = honest();
    const mirrorUrl = 'http://mirror.example';
    const fetch: Fetch = async (u, i) => (u.startsWith(mirrorUrl) ? (new Response('not a checkpoint\n', { status: 200 }) as unknown as FetchResponse) : log.fetch(u, i));
    const events = await monitor(log, { mirrors: [mirrorUrl], fetch }).poll();
    expect(events.filter((e) => e.type === 'error')).toMatchObject([{ source: mirrorUrl }]);
    expect(types(events)).not.toContain('split-view');
  });
});

describe('concord monitor', () => {
  async function run(argv: string[], fetch: Fetch, cwd: string): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const io: CliIO = { stdout: (s) => void (out += s), stderr: (s) => void (err += s), env: {}, fetch, now, isTTY: false, cwd };
    return { code: await main(argv, io), out, err };
  }

  it('--once prints JSON lines, posts them to the webhook, remembers them in --state', async () => {
    const { log } = honest();
    const t = log.trustFile();
    cleanups.push(t.cleanup);
    const state = mkdtempSync(path.join(tmpdir(), 'concord-monitor-'));
    cleanups.push(() => rmSync(state, { recursive: true, force: true }));
    const posted: string[] = [];
    const fetch: Fetch = async (u, i) => {
      if (u === 'http://hook.example/events') {
        posted.push(new TextDecoder().decode(i?.body as Uint8Array));
        return new Response('', { status: 204 }) as unknown as FetchResponse;
      }
      return log.fetch(u, i);
    };
    const argv = ['monitor', '--log', log.url, '--trust', t.file, '--webhook', 'http://hook.example/events', '--state', state, '--once'];
    const r = await run(argv, fetch, t.dir);
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n').map((l) => JSON.parse(l) as { type: string; log: string });
    expect(lines.map((l) => l.type)).toEqual(['checkpoint', 'new-release']);
    expect(lines.every((l) => l.log === log.url)).toBe(true);
    expect(posted.map((p) => (JSON.parse(p) as { type: string }).type)).toEqual(['checkpoint', 'new-release']);
    // A restarted monitor with the same state does not report the release again.
    const again = await run(argv, fetch, t.dir);
    expect(again.out.trim().split('\n').map((l) => (JSON.parse(l) as { type: string }).type)).toEqual(['checkpoint']);
    expect(StateDir.open(state).readCheckpoint()).toEqual(log.head);
  });

  it('--once exits 1 on a split view with a mirror', async () => {
    const { log, T } = honest();
    const t = log.trustFile();
    cleanups.push(t.cleanup);
    const mirror = log.fork('http://mirror.example');
    mirror.endorse('org-de', 'release', 9, new Uint8Array(32).fill(2));
    mirror.checkpoint({ time: T });
    log.endorse('org-de', 'release', 9, new Uint8Array(32).fill(1));
    log.checkpoint({ time: T });
    const r = await run(['monitor', '--log', log.url, '--trust', t.file, '--mirror', mirror.url, '--once'], both(log, mirror), t.dir);
    expect(r.code).toBe(1);
    expect(r.out).toContain('"type":"split-view"');
  });

  it('runs until interrupted', async () => {
    const { log } = honest();
    const t = log.trustFile();
    cleanups.push(t.cleanup);
    const ac = new AbortController();
    let polls = 0;
    const fetch: Fetch = async (u, i) => {
      if (u.endsWith('/checkpoint') && ++polls === 3) ac.abort();
      return log.fetch(u, i);
    };
    const io: CliIO = { stdout: () => {}, stderr: () => {}, env: {}, fetch, now, isTTY: false, cwd: t.dir, signal: ac.signal };
    const code = await main(['monitor', '--log', log.url, '--trust', t.file, '--interval', '0.01'], io);
    expect(code).toBe(0);
    expect(polls).toBe(3);
  });
});
