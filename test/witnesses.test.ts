// Witnesses end to end: a real log (SQLite) pushing to four `concord witness serve`-equivalent
// servers (verifier's createWitnessApp on real listening ports, real fetch), quorum 3, one of
// them down; and a policy whose notice is measured by witness cosignature times only.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getRequestListener } from '@hono/node-server';
import Database from 'better-sqlite3';
import type { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { toHex } from '@concord/client-sdk/bytes';
import { openCheckpoint } from '@concord/client-sdk/checkpoint';
import type { Fetch, FetchInit } from '@concord/client-sdk/client';
import { aliveAt, newCosignatureVerifier, seenBy, verifyCosignatures } from '@concord/client-sdk/cosignature';
import { parseSignedEntry, signEntry } from '@concord/client-sdk/entries';
import type { ConcordEntry, PolicyEntry } from '@concord/client-sdk/entries';
import { leafHash } from '@concord/client-sdk/merkle';
import { generateKey, newSigner, newVerifier } from '@concord/client-sdk/note';
import { evaluateWitnessQuorum } from '@concord/client-sdk/policy';
import type { OpenLog } from '@concord/log-server/log';
import { createWitnessApp } from '../verifier/src/witness/app.js';
import { ORIGIN, createTestLog, endorsement, makeFixture, postEntry } from '../log-server/test/helpers.js';
import type { Fixture, TestLog } from '../log-server/test/helpers.js';

delete process.env.DATABASE_URL; // these logs are SQLite

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A fixture whose policy lists the witnesses at these submission prefixes (and other overrides). */
function fixtureWith(urls: string[], overrides: Record<string, unknown> = {}): Fixture {
  const f = makeFixture();
  const policy = JSON.parse(f.policyText) as Record<string, unknown>;
  policy.witnesses = f.witnesses.map((w, i) => ({ vkey: w.vkey, url: urls[i] }));
  Object.assign(policy, overrides);
  return { ...f, policyText: JSON.stringify(policy) };
}

/** An HTTP server whose handler (a witness app) is attached later; can stop and restart on its port. */
class WitnessHost {
  app: Hono | undefined;
  server: Server | undefined;
  port = 0;
  async listen(port = 0): Promise<void> {
    const listener = getRequestListener((req) => (this.app === undefined ? new Response('not ready', { status: 503 }) : this.app.fetch(req)));
    const server = createServer(listener);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }
  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s === undefined) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }
  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }
}

async function until(cond: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function get(l: OpenLog, p: string): Promise<{ status: number; body: Uint8Array }> {
  const res = await l.app.request(p);
  return { status: res.status, body: new Uint8Array(await res.arrayBuffer()) };
}

describe('a log with 4 witnesses, quorum 3', () => {
  it('reaches quorum with one witness down, serves the cosignatures and published checkpoints, and the returning witness catches up', async () => {
    const hosts = [new WitnessHost(), new WitnessHost(), new WitnessHost(), new WitnessHost()];
    for (const h of hosts) {
      await h.listen();
      cleanups.push(() => h.close());
    }
    // Witness 4 is down: its port is known (it is in the policy) but nothing listens there.
    await hosts[3]!.close();
    const fixture = fixtureWith(hosts.map((h) => h.url));
    const log = await createTestLog(fixture);
    cleanups.push(() => log.cleanup());
    const wdir = mkdtempSync(path.join(tmpdir(), 'concord-witnesses-'));
    cleanups.push(() => rmSync(wdir, { recursive: true, force: true }));
    const dbs = fixture.witnesses.map((_, i) => new Database(path.join(wdir, `w${i + 1}.db`)));
    cleanups.push(() => dbs.forEach((d) => d.close()));
    hosts.forEach((h, i) => {
      h.app = createWitnessApp({ db: dbs[i]!, skey: fixture.witnesses[i]!.skey, logs: [{ origin: ORIGIN, vkey: log.init.logVkey }] });
    });

    const l = await log.open({ witnessPush: { minBackoffMs: 50, maxBackoffMs: 200, timeoutMs: 3000 }, warn: () => {} });
    cleanups.push(() => l.close());
    const policy = parseSignedEntry(log.init.anchor).entry as PolicyEntry;
    const verifiers = fixture.witnesses.map((w) => newCosignatureVerifier(w.vkey));
    const now = (): number => Math.floor(Date.now() / 1000);

    const indexes: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await postEntry(l.app, endorsement(fixture.orgs[i % 3]!));
      expect(res.status).toBe(200);
      indexes.push(((await res.json()) as { index: number }).index);
    }
    const size = l.sequencer!.size;
    await until(async () => ((await l.store.latestCheckpoint())!.size === size && (await l.store.latestCheckpoint())!.cosignatures.length >= 3));

    // /checkpoint: signed by the log, cosigned by a quorum of the policy's witnesses.
    const cp = await get(l, '/checkpoint');
    expect(cp.status).toBe(200);
    expect(openCheckpoint(cp.body, newVerifier(log.init.logVkey), ORIGIN).checkpoint.size).toBe(size);
    const cos = verifyCosignatures(cp.body, verifiers, now());
    expect(new Set(cos.map((c) => c.witness))).toEqual(new Set(fixture.witnesses.slice(0, 3).map((w) => w.vkey)));
    expect(evaluateWitnessQuorum(policy, cos).met).toBe(true);

    // /checkpoint/published?entry=i: the earliest quorum-cosigned checkpoint containing entry i.
    for (const i of [0, indexes[0]!, indexes.at(-1)!]) {
      const pub = await get(l, `/checkpoint/published?entry=${i}`);
      expect(pub.status).toBe(200);
      const pcp = openCheckpoint(pub.body, newVerifier(log.init.logVkey), ORIGIN).checkpoint;
      expect(pcp.size).toBeGreaterThan(i);
      const pcos = verifyCosignatures(pub.body, verifiers, now());
      expect(evaluateWitnessQuorum(policy, pcos).met).toBe(true);
      // No smaller quorum-cosigned checkpoint contains entry i.
      for (let s = i + 1; s < pcp.size; s++) {
        const stored = await l.store.readCheckpoint(s);
        expect(stored === null || stored.cosignatures.length < 3).toBe(true);
      }
    }
    expect((await get(l, `/checkpoint/published?entry=${size}`)).status).toBe(404);

    // Each live witness holds the log's size; witness 4 has been retried, not waited for.
    for (const d of dbs.slice(0, 3)) expect((d.prepare('SELECT size FROM witness_state').get() as { size: number }).size).toBe(size);
    const w4status = l.witnesses!.status().find((s) => s.witness === fixture.witnesses[3]!.vkey)!;
    expect(w4status.failures).toBeGreaterThan(0);

    // Witness 4 returns on its port, with an empty database: it catches up to the latest checkpoint.
    await hosts[3]!.listen(hosts[3]!.port);
    await until(async () => (await l.store.latestCheckpoint())!.cosignatures.length === 4);
    expect((dbs[3]!.prepare('SELECT size FROM witness_state').get() as { size: number }).size).toBe(size);
    const all = verifyCosignatures((await get(l, '/checkpoint')).body, verifiers, now());
    expect(new Set(all.map((c) => c.witness)).size).toBe(4);
    expect((await l.store.readWitnessState(fixture.witnesses[3]!.vkey))?.size).toBe(size);

    // More entries: all four cosign the new checkpoint (consistency proofs from their sizes).
    expect((await postEntry(l.app, endorsement(fixture.orgs[0]!))).status).toBe(200);
    const size2 = l.sequencer!.size;
    await l.witnesses!.sync();
    const latest = (await l.store.latestCheckpoint())!;
    expect(latest.size).toBe(size2);
    expect(latest.cosignatures).toHaveLength(4);
  });
});

describe('policy notice measured by witness cosignatures', () => {
  it('a quorum-endorsed, non-removal policy 2 takes force only once aliveAt(F) − seenBy(P) ≥ notice-period', async () => {
    const NOTICE = 100;
    const fixture = fixtureWith(['https://w1.example/', 'https://w2.example/', 'https://w3.example/', 'https://w4.example/'], { 'notice-period': NOTICE });
    const log: TestLog = await createTestLog(fixture);
    cleanups.push(() => log.cleanup());
    const T0 = 1_900_000_000;
    let witnessClock = T0;
    // The log's own clock is far ahead: notice must not be measured with it.
    const logClock = T0 + 10_000_000;
    const dbs = fixture.witnesses.map(() => new Database(':memory:'));
    cleanups.push(() => dbs.forEach((d) => d.close()));
    const apps = fixture.witnesses.map((w, i) => createWitnessApp({ db: dbs[i]!, skey: w.skey, logs: [{ origin: ORIGIN, vkey: log.init.logVkey }], now: () => witnessClock }));
    const fetch: Fetch = async (url: string, init?: FetchInit) => {
      const m = /^https:\/\/w([1-4])\.example\/add-checkpoint$/.exec(url);
      if (m === null) throw new TypeError(`no route to ${url}`);
      return apps[Number(m[1]) - 1]!.request('/add-checkpoint', { method: 'POST', body: init!.body as Uint8Array });
    };
    const config = { now: () => logClock, witnessPush: { fetch, recosignSeconds: 1e6 }, warn: () => {} };
    let l = await log.open(config);
    cleanups.push(() => l.close());

    // Policy 2 adds an org (not removal-only), signed by the operator, endorsed by 2 orgs in 2 jurisdictions.
    const p1 = parseSignedEntry(log.init.anchor).entry as PolicyEntry;
    const gb = { name: 'org-gb', ...generateKey('org-gb') };
    const p2: PolicyEntry = {
      ...p1,
      sequence: 2,
      previous: log.init.anchorLeaf,
      orgs: [...p1.orgs, { name: gb.name, jurisdiction: 'GB', vkey: gb.vkey }].sort((a, b) => (a.name < b.name ? -1 : 1)),
    };
    const p2bytes = signEntry(p2, log.operator);
    const p2leaf = leafHash(p2bytes);
    expect((await postEntry(l.app, p2bytes)).status).toBe(200);
    for (const org of fixture.orgs.slice(0, 2)) {
      const e: ConcordEntry = { type: 'endorsement', org: org.name, subject: { kind: 'policy', sequence: 2, leaf: p2leaf } };
      expect((await postEntry(l.app, signEntry(e, org.signer))).status).toBe(200);
    }
    expect(l.state.pending()?.entry.sequence).toBe(2);
    expect(l.state.current()?.entry.sequence).toBe(1);
    const byGb = (): Uint8Array => {
      const e: ConcordEntry = { type: 'endorsement', org: gb.name, subject: { kind: 'release', sequence: 1 + Math.floor(Math.random() * 1e9), leaf: new Uint8Array(32).fill(1) } };
      return signEntry(e, newSigner(gb.skey));
    };
    expect((await postEntry(l.app, byGb())).status).not.toBe(200); // org-gb is not an org of policy 1

    // P is cosigned at T0 by all four witnesses: seenBy(P) = T0.
    await l.witnesses!.sync();
    const P = (await l.store.latestCheckpoint())!;
    expect(P.cosignatures).toHaveLength(4);
    expect(seenBy(P.cosignatures.map((c) => ({ witness: c.witness, time: c.firstTime })), 3)).toBe(T0);

    // One second short: re-cosigned at T0 + 99, aliveAt(F) − seenBy(P) = 99 < 100.
    witnessClock = T0 + NOTICE - 1;
    await l.witnesses!.sync();
    expect(await l.state.checkNotice(l.store, logClock)).toBe(false);
    expect(l.state.current()?.entry.sequence).toBe(1);
    expect(l.state.pending()?.entry.sequence).toBe(2);
    expect((await postEntry(l.app, byGb())).status).not.toBe(200);

    // Only three witnesses re-cosign at T0 + 100 (one is down): aliveAt = 3rd largest latest time.
    witnessClock = T0 + NOTICE;
    const down = apps[3]!;
    apps[3] = { request: async () => new Response('down', { status: 503 }) } as unknown as Hono;
    await l.witnesses!.sync();
    apps[3] = down;
    const F = (await l.store.latestCheckpoint())!;
    expect(aliveAt(F.cosignatures.map((c) => ({ witness: c.witness, time: c.lastTime })), 3)).toBe(T0 + NOTICE);
    await l.state.checkNotice(l.store, logClock); // (also triggered by the cosignatures; this waits for it)
    expect(l.state.current()?.entry.sequence).toBe(2);
    const activeFrom = l.state.current()!.activeFrom;
    expect(activeFrom).toBe(l.sequencer!.size);
    expect(activeFrom).toBeGreaterThanOrEqual(F.size);

    // Now org-gb may write; its entry is governed by policy 2.
    const res = await postEntry(l.app, byGb());
    expect(res.status).toBe(200);
    const { index } = (await res.json()) as { index: number };
    expect(index).toBeGreaterThanOrEqual(activeFrom);
    expect(l.state.policyAt(index)?.entry.sequence).toBe(2);
    expect(l.state.policyAt(activeFrom - 1)?.entry.sequence).toBe(1);

    // The decision is persisted (witness_state, "policy-notice <leaf hex>"), so a read-only
    // replica and a restarted server agree on it.
    expect((await l.store.readWitnessState(`policy-notice ${toHex(p2leaf)}`))?.size).toBe(activeFrom);
    const replica = await log.open({ readOnly: true, now: () => logClock, warn: () => {} });
    try {
      expect(replica.state.current()?.entry.sequence).toBe(2);
      expect(replica.state.current()!.activeFrom).toBe(activeFrom);
    } finally {
      await replica.close();
    }

    // The decision survives a restart: same policy, same first index.
    await l.close();
    l = await log.open(config);
    expect(l.state.current()?.entry.sequence).toBe(2);
    expect(l.state.current()!.activeFrom).toBe(activeFrom);
    expect(l.state.policyAt(activeFrom - 1)?.entry.sequence).toBe(1);
  });

  it('never takes force on the log clock alone, nor with fewer than a quorum of witnesses', async () => {
    const fixture = fixtureWith(['https://w1.example/', 'https://w2.example/', 'https://w3.example/', 'https://w4.example/'], { 'notice-period': 100 });
    const log = await createTestLog(fixture);
    cleanups.push(() => log.cleanup());
    const T0 = 1_900_000_000;
    const clocks = [T0, T0, T0, T0];
    const dbs = fixture.witnesses.map(() => new Database(':memory:'));
    cleanups.push(() => dbs.forEach((d) => d.close()));
    const apps = fixture.witnesses.map((w, i) => createWitnessApp({ db: dbs[i]!, skey: w.skey, logs: [{ origin: ORIGIN, vkey: log.init.logVkey }], now: () => clocks[i]! }));
    const fetch: Fetch = async (url: string, init?: FetchInit) => {
      const i = Number(/w([1-4])\.example/.exec(url)![1]) - 1;
      return apps[i]!.request('/add-checkpoint', { method: 'POST', body: init!.body as Uint8Array });
    };
    let logClock = T0;
    const l = await log.open({ now: () => logClock, witnessPush: { fetch, recosignSeconds: 1e6 }, warn: () => {} });
    cleanups.push(() => l.close());
    const p1 = parseSignedEntry(log.init.anchor).entry as PolicyEntry;
    const p2: PolicyEntry = { ...p1, sequence: 2, previous: log.init.anchorLeaf, auditors: [] , minOrgs: 2, maxAdded: p1.maxAdded + 1 };
    const p2bytes = signEntry(p2, log.operator);
    expect((await postEntry(l.app, p2bytes)).status).toBe(200);
    for (const org of fixture.orgs.slice(1, 3)) {
      const e: ConcordEntry = { type: 'endorsement', org: org.name, subject: { kind: 'policy', sequence: 2, leaf: leafHash(p2bytes) } };
      expect((await postEntry(l.app, signEntry(e, org.signer))).status).toBe(200);
    }
    await l.witnesses!.sync();
    // The log's clock runs a year ahead: nothing changes.
    logClock = T0 + 365 * 86_400;
    expect(await l.state.checkNotice(l.store, logClock)).toBe(false);
    // Two witnesses (below quorum 3) far ahead, two at T0 + 50: aliveAt = 3rd largest = T0 + 50.
    clocks[0] = clocks[1] = T0 + 10_000;
    clocks[2] = clocks[3] = T0 + 50;
    await l.witnesses!.sync();
    expect(await l.state.checkNotice(l.store, logClock)).toBe(false);
    expect(l.state.current()?.entry.sequence).toBe(1);
    // A third witness reaches T0 + 100: noticed.
    clocks[2] = T0 + 100;
    await l.witnesses!.sync();
    await l.state.checkNotice(l.store, logClock);
    expect(l.state.current()?.entry.sequence).toBe(2);
  });
});
