// The log's witness pusher (log-server/src/witness-push.ts) against in-memory tlog-witness
// fakes written here from the C2SP text (independent of verifier/src/witness): cosignatures
// verified and stored, 409 answered from the witness's size with a proof the fake checks, bad
// and future-dated cosignatures refused, a hanging witness never blocking sequencing, backoff
// and recovery, state surviving a restart, and the URL rule.
import { afterEach, describe, expect, it } from 'vitest';
import { concatBytes, equalBytes, utf8 } from '@concord/client-sdk/bytes';
import { parseSignedEntry, signEntry } from '@concord/client-sdk/entries';
import type { ConcordEntry, PolicyEntry } from '@concord/client-sdk/entries';
import { leafHash } from '@concord/client-sdk/merkle';
import { openCheckpoint } from '@concord/client-sdk/checkpoint';
import { generateCosignatureKey, newCosignatureSigner, newCosignatureVerifier, verifyCosignatures } from '@concord/client-sdk/cosignature';
import type { Fetch, FetchInit } from '@concord/client-sdk/client';
import { MerkleError, verifyConsistency } from '@concord/client-sdk/merkle';
import { newVerifier, parseNote } from '@concord/client-sdk/note';
import { formatCosignatureResponse, parseAddCheckpointRequest } from '@concord/client-sdk/witness';
import { addCheckpointUrl } from '@concord/log-server/witness-push';
import type { OpenLog } from '@concord/log-server/log';
import { ORIGIN, createTestLog, endorsement, makeFixture, postEntry } from './helpers.js';
import type { TestLog } from './helpers.js';

type Mode = 'ok' | 'down' | 'hang' | 'bad-signature' | 'future' | 'other-key';

/** A tlog-witness for one log, in memory, with its own clock. */
class FakeWitness {
  size = 0;
  root: Uint8Array | undefined;
  mode: Mode = 'ok';
  clock = 1_900_000_000;
  readonly requests: { old: number; proof: number; size: number }[] = [];
  private readonly signer;
  readonly verifier;
  readonly logVerifier;

  constructor(
    readonly key: { skey: string; vkey: string },
    logVkey: string,
  ) {
    this.signer = newCosignatureSigner(key.skey);
    this.verifier = newCosignatureVerifier(key.vkey);
    this.logVerifier = newVerifier(logVkey);
  }

  handle(body: Uint8Array): Response {
    const req = parseAddCheckpointRequest(body);
    const cp = openCheckpoint(req.checkpoint, this.logVerifier, ORIGIN).checkpoint;
    this.requests.push({ old: req.oldSize, proof: req.proof.length, size: cp.size });
    if (req.oldSize > cp.size) return new Response('old > size\n', { status: 400 });
    if (req.oldSize !== this.size) return new Response(`${this.size}\n`, { status: 409, headers: { 'Content-Type': 'text/x.tlog.size' } });
    if (this.root !== undefined) {
      if (req.oldSize === cp.size) {
        if (!equalBytes(this.root, cp.root)) return new Response('fork\n', { status: 422 });
      } else {
        try {
          verifyConsistency(this.size, cp.size, req.proof, this.root, cp.root);
        } catch (e) {
          if (e instanceof MerkleError) return new Response('bad proof\n', { status: 422 });
          throw e;
        }
      }
    } else if (req.proof.length !== 0) return new Response('proof from 0 must be empty\n', { status: 422 });
    this.size = cp.size;
    this.root = cp.root;
    const text = parseNote(req.checkpoint).text;
    let sig = this.signer.cosign(text, this.mode === 'future' ? this.clock + 1000 : this.clock);
    if (this.mode === 'bad-signature') {
      const b = sig.signature.slice();
      b[b.length - 1]! ^= 1;
      sig = { ...sig, signature: b, line: `— ${sig.name} ${Buffer.from(concatBytes(new Uint8Array([sig.keyHash >>> 24, (sig.keyHash >>> 16) & 255, (sig.keyHash >>> 8) & 255, sig.keyHash & 255]), b)).toString('base64')}` };
    }
    if (this.mode === 'other-key') sig = newCosignatureSigner(generateCosignatureKey('stranger.example').skey).cosign(text, this.clock);
    return new Response(formatCosignatureResponse([sig]), { status: 200 });
  }
}

interface Net {
  fetch: Fetch;
  witnesses: FakeWitness[];
  urls: string[];
}

/** The fetch the pusher uses: routes https://wN.example/add-checkpoint to witness N. */
function network(log: TestLog): Net {
  const witnesses = log.fixture.witnesses.map((k) => new FakeWitness(k, log.init.logVkey));
  const urls: string[] = [];
  const fetch: Fetch = async (url: string, init?: FetchInit) => {
    urls.push(url);
    const m = /^https:\/\/w([1-9])\.example\/add-checkpoint$/.exec(url);
    if (m === null) throw new TypeError(`fetch failed: no route to ${url}`);
    const w = witnesses[Number(m[1]) - 1];
    if (w === undefined) throw new TypeError(`fetch failed: no route to ${url}`);
    if (w.mode === 'down') throw new TypeError('fetch failed: connection refused');
    if (w.mode === 'hang') {
      return new Promise((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true });
      });
    }
    return w.handle(init!.body as Uint8Array);
  };
  return { fetch, witnesses, urls };
}

const logs: { log: TestLog; open: OpenLog[] }[] = [];
afterEach(async () => {
  for (const { log, open } of logs.splice(0)) {
    for (const o of open) await o.close();
    log.cleanup();
  }
});

async function setup(opts: { fixture?: ReturnType<typeof makeFixture> } = {}): Promise<{ log: TestLog; net: Net; open(o?: object): Promise<OpenLog> }> {
  const log = await createTestLog(opts.fixture);
  const net = network(log);
  const rec = { log, open: [] as OpenLog[] };
  logs.push(rec);
  return {
    log,
    net,
    open: async (o = {}) => {
      const l = await log.open({ witnessPush: { fetch: net.fetch, minBackoffMs: 20, maxBackoffMs: 100, timeoutMs: 2000 }, warn: () => {}, now: () => net.witnesses[0]!.clock, ...o });
      rec.open.push(l);
      return l;
    },
  };
}

async function checkpointNote(l: OpenLog): Promise<Uint8Array> {
  const res = await l.app.request('/checkpoint');
  expect(res.status).toBe(200);
  return new Uint8Array(await res.arrayBuffer());
}

async function until(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('addCheckpointUrl', () => {
  it('appends /add-checkpoint to the submission prefix, with or without its trailing slash', () => {
    expect(addCheckpointUrl('https://w1.example/')).toBe('https://w1.example/add-checkpoint');
    expect(addCheckpointUrl('https://w1.example')).toBe('https://w1.example/add-checkpoint');
    expect(addCheckpointUrl('https://example.org/witness/w1/')).toBe('https://example.org/witness/w1/add-checkpoint');
    expect(addCheckpointUrl('http://127.0.0.1:8081/x')).toBe('http://127.0.0.1:8081/x/add-checkpoint');
  });
});

describe('witness pusher', () => {
  it('pushes each checkpoint to every witness, verifies and stores the cosignatures, serves them at /checkpoint', async () => {
    const { log, net, open } = await setup();
    const l = await open();
    await l.witnesses!.sync();
    for (const org of log.fixture.orgs) expect((await postEntry(l.app, endorsement(org))).status).toBe(200);
    await l.witnesses!.sync();
    const size = l.sequencer!.size;
    expect(size).toBeGreaterThanOrEqual(2);
    for (const w of net.witnesses) expect(w.size).toBe(size);
    expect(net.urls.every((u) => /^https:\/\/w[1-4]\.example\/add-checkpoint$/.test(u))).toBe(true);

    const note = await checkpointNote(l);
    const cos = verifyCosignatures(note, net.witnesses.map((w) => w.verifier), net.witnesses[0]!.clock);
    expect(new Set(cos.map((c) => c.witness))).toEqual(new Set(log.fixture.witnesses.map((w) => w.vkey)));
    expect(openCheckpoint(note, newVerifier(log.init.logVkey), ORIGIN).checkpoint.size).toBe(size);
    // witness_state records what each witness acknowledged.
    const states = await l.store.readWitnessStates();
    for (const w of log.fixture.witnesses) expect(states.find((s) => s.witness === w.vkey)?.size).toBe(size);
    // Every request after the first of each witness carried a proof from the previous size.
    for (const w of net.witnesses) {
      for (const r of w.requests.slice(1)) {
        expect(r.old).toBeGreaterThan(0);
        expect(r.old === r.size ? r.proof === 0 : r.proof > 0).toBe(true);
      }
    }
  });

  it('answers a 409 by resending from the size the witness reports, with the right consistency proof', async () => {
    const { log, net, open } = await setup();
    let l = await open({ witnessPush: false });
    for (const org of log.fixture.orgs) expect((await postEntry(l.app, endorsement(org))).status).toBe(200);
    const mid = await l.store.latestCheckpoint();
    for (const org of log.fixture.orgs) expect((await postEntry(l.app, endorsement(org))).status).toBe(200);
    const size = l.sequencer!.size;
    await l.close();
    // Witness 1 already cosigned the middle checkpoint (through another path); the log does not know.
    const w1 = net.witnesses[0]!;
    expect(w1.handle(concatBytes(utf8('old 0\n\n'), mid!.note)).status).toBe(200);
    w1.requests.length = 0;
    l = await open();
    await l.witnesses!.sync();
    expect(w1.requests[0]).toEqual({ old: 0, proof: 0, size });
    expect(w1.requests[1]!.old).toBe(mid!.size);
    expect(w1.requests[1]!.proof).toBeGreaterThan(0);
    expect(w1.size).toBe(size);
    expect((await l.store.readWitnessState(log.fixture.witnesses[0]!.vkey))?.size).toBe(size);
  });

  it('never stores a cosignature that does not verify, one by another key, or one dated in the future', async () => {
    const { log, net, open } = await setup();
    net.witnesses[0]!.mode = 'bad-signature';
    net.witnesses[1]!.mode = 'other-key';
    net.witnesses[2]!.mode = 'future';
    const l = await open();
    await l.witnesses!.sync();
    const latest = (await l.store.latestCheckpoint())!;
    expect(latest.cosignatures.map((c) => c.witness)).toEqual([log.fixture.witnesses[3]!.vkey]);
    const status = l.witnesses!.status();
    const byKey = (i: number) => status.find((s) => s.witness === log.fixture.witnesses[i]!.vkey)!;
    expect(byKey(0).failures).toBeGreaterThan(0);
    expect(byKey(0).lastError).toMatch(/invalid cosignature/);
    expect(byKey(1).lastError).toMatch(/no cosignature by the witness key/);
    expect(byKey(2).lastError).toMatch(/future/);
    expect(byKey(3).failures).toBe(0);
  });

  it('a hanging witness never blocks sequencing, and close() aborts it promptly', async () => {
    const { log, net, open } = await setup();
    net.witnesses[3]!.mode = 'hang';
    const l = await open({ witnessPush: { fetch: net.fetch, timeoutMs: 60_000, minBackoffMs: 20, maxBackoffMs: 100 } });
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) expect((await postEntry(l.app, endorsement(log.fixture.orgs[i % 3]!))).status).toBe(200);
    expect(performance.now() - t0).toBeLessThan(5000);
    await until(async () => (await l.store.latestCheckpoint())!.cosignatures.length === 3);
    expect(net.witnesses.slice(0, 3).every((w) => w.size === l.sequencer!.size)).toBe(true);
    const t1 = performance.now();
    await l.close();
    expect(performance.now() - t1).toBeLessThan(2000);
  });

  it('retries a dead witness with backoff and catches it up when it returns', async () => {
    const { log, net, open } = await setup();
    const w4 = net.witnesses[3]!;
    w4.mode = 'down';
    const warnings: string[] = [];
    const l = await open({ warn: (m: string) => warnings.push(m) });
    for (const org of log.fixture.orgs) expect((await postEntry(l.app, endorsement(org))).status).toBe(200);
    const before = net.urls.length;
    await new Promise((r) => setTimeout(r, 400));
    const attempts = net.urls.slice(before).filter((u) => u.startsWith('https://w4.')).length;
    // Backoff 20 → 40 → 80 → 100 ms (with jitter): a handful of attempts in 400 ms, not hundreds.
    expect(attempts).toBeGreaterThanOrEqual(1);
    expect(attempts).toBeLessThan(20);
    expect(warnings.filter((m) => m.includes('w4.example'))).toHaveLength(1);
    w4.mode = 'ok';
    await until(() => w4.size === l.sequencer!.size);
    await until(() => warnings.some((m) => /w4\.example.*is back/.test(m)));
    await until(async () => ((await l.store.latestCheckpoint())!.cosignatures.length === 4));
  });

  it('remembers what each witness acknowledged across a restart', async () => {
    const { log, net, open } = await setup();
    let l = await open();
    await l.witnesses!.sync();
    const size = l.sequencer!.size;
    await l.close();
    for (const w of net.witnesses) w.requests.length = 0;
    l = await open({ witnessPush: { fetch: net.fetch, recosignSeconds: 3600 } });
    expect((await postEntry(l.app, endorsement(log.fixture.orgs[0]!))).status).toBe(200);
    await l.witnesses!.sync();
    for (const w of net.witnesses) {
      expect(w.requests.length).toBeGreaterThan(0);
      expect(w.requests.every((r) => r.old >= size)).toBe(true); // never "old 0" again
      expect(w.size).toBe(l.sequencer!.size);
    }
  });

  it('re-cosigning an unchanged checkpoint advances the latest cosignature time (aliveAt)', async () => {
    const { net, open } = await setup();
    const l = await open();
    await l.witnesses!.sync();
    const t0 = net.witnesses[0]!.clock;
    for (const w of net.witnesses) w.clock = t0 + 50;
    await l.witnesses!.sync();
    const latest = (await l.store.latestCheckpoint())!;
    expect(latest.cosignatures).toHaveLength(4);
    for (const c of latest.cosignatures) {
      expect(c.firstTime).toBe(t0);
      expect(c.lastTime).toBe(t0 + 50);
    }
  });

  it('pushes to the witnesses of a pending successor policy too, and stops pushing to a witness the new policy drops', async () => {
    const fixture = makeFixture({ 'notice-period': 10 });
    const { log, net, open } = await setup({ fixture });
    const w5key = generateCosignatureKey('w5.example');
    net.witnesses.push(new FakeWitness(w5key, log.init.logVkey));
    const l = await open({ witnessPush: { fetch: net.fetch, minBackoffMs: 20, maxBackoffMs: 100, recosignSeconds: 1e6 } });
    await l.witnesses!.sync();
    // Policy 2 replaces w4 with w5 (not removal-only: it needs notice).
    const p1 = parseSignedEntry(log.init.anchor).entry as PolicyEntry;
    const w4 = log.fixture.witnesses[3]!.vkey;
    const p2: PolicyEntry = {
      ...p1,
      sequence: 2,
      previous: log.init.anchorLeaf,
      witnesses: [...p1.witnesses.filter((w) => w.vkey !== w4), { vkey: w5key.vkey, url: 'https://w5.example/' }].sort((a, b) => (a.vkey < b.vkey ? -1 : 1)),
    };
    const p2bytes = signEntry(p2, log.operator);
    expect((await postEntry(l.app, p2bytes)).status).toBe(200);
    for (const org of log.fixture.orgs.slice(0, 2)) {
      const e: ConcordEntry = { type: 'endorsement', org: org.name, subject: { kind: 'policy', sequence: 2, leaf: leafHash(p2bytes) } };
      expect((await postEntry(l.app, signEntry(e, org.signer))).status).toBe(200);
    }
    expect(l.state.pending()?.entry.sequence).toBe(2);
    await l.witnesses!.sync();
    expect(new Set(l.witnesses!.status().map((s) => s.witness))).toEqual(new Set([...log.fixture.witnesses.map((w) => w.vkey), w5key.vkey]));
    expect(net.witnesses[4]!.size).toBe(l.sequencer!.size);
    // Ten seconds of witness time later the notice is complete and policy 2 is in force.
    for (const w of net.witnesses) w.clock += 10;
    await l.witnesses!.sync();
    await l.state.checkNotice(l.store, net.witnesses[0]!.clock);
    expect(l.state.current()?.entry.sequence).toBe(2);
    expect((await postEntry(l.app, endorsement(log.fixture.orgs[2]!))).status).toBe(200);
    const w4requests = net.witnesses[3]!.requests.length;
    await l.witnesses!.sync();
    expect(new Set(l.witnesses!.status().map((s) => s.witness))).toEqual(new Set(p2.witnesses.map((w) => w.vkey)));
    expect(net.witnesses[3]!.requests.length).toBe(w4requests);
    expect(net.witnesses[4]!.size).toBe(l.sequencer!.size);
  });
});
