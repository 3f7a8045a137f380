// The notice rule end to end (client-sdk policy.ts, NoticedFrom): a policy that needs notice
// governs from the size of its notice checkpoint N, the one checkpoint the log designates
// (GET /checkpoint/noticed?policy=<index>, and the bundle's `noticed` link). On a real served
// log (SQLite, an HTTP listener, the fixture's witnesses cosigning at chosen times):
//   - policy 2 adds an org (org-gb, GB), so it needs policy 1's notice (one day); policy 1's
//     quorum endorses it; its P is cosigned four days ago;
//   - a checkpoint is then re-cosigned a day later, proving the notice by itself — but an entry
//     was already admitted beyond it, so the server does not decide there (the earliest proving
//     checkpoint is NOT N); nor at the next one when an entry is admitted while the decision is
//     being persisted (retracted); it decides at the next quorum checkpoint, which becomes N;
//   - until then the server refuses a release and an org-gb entry under policy 2;
//   - contributions (org-gb's included) and a release under policy 2, endorsed by policy 2's
//     quorum (org-gb and org-us): the server admits it, a device accepts the served bundle
//     (updateFromLog), `concord audit` passes with no findings and places policy 2 exactly where
//     the server did, and the verifying page's logic (verify-core on Node) marks it verified;
//   - a log whose server let policy 2 govern before its notice was proven (its persisted notice
//     decision forged to a checkpoint cosigned half a day after P): device, audit and page
//     all refuse the release.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes } from 'node:crypto';
import * as bytes from '@concord/client-sdk/bytes';
import * as checkpoint from '@concord/client-sdk/checkpoint';
import * as client from '@concord/client-sdk/client';
import * as cosignature from '@concord/client-sdk/cosignature';
import * as entries from '@concord/client-sdk/entries';
import * as merkle from '@concord/client-sdk/merkle';
import * as note from '@concord/client-sdk/note';
import * as policy from '@concord/client-sdk/policy';
import { parseBundle } from '@concord/client-sdk/bundle';
import { LogClient } from '@concord/client-sdk/client';
import { newCosignatureSigner } from '@concord/client-sdk/cosignature';
import { formatDatabase, intersectContributions, parseDatabase } from '@concord/client-sdk/database';
import { DeviceError, MemoryStore, updateFromLog } from '@concord/client-sdk/device';
import { parseSignedEntry, signEntry } from '@concord/client-sdk/entries';
import type { ConcordEntry, PolicyEntry, ReleaseEntry } from '@concord/client-sdk/entries';
import { leafHash } from '@concord/client-sdk/merkle';
import { generateKey, newSigner, parseNote } from '@concord/client-sdk/note';
import type { Signer } from '@concord/client-sdk/note';
import { checkRoot, parseClaims, verifyLog } from '@concord/log-server/dashboard/verify-core';
import type { Sdk, VerifyReport } from '@concord/log-server/dashboard/verify-core';
import { NOTICE_RETRACTED, NOTICE_STATE_PREFIX } from '@concord/log-server/log-state';
import { runAudit } from '@concord/verifier/audit';
import { openLogView } from '@concord/verifier/log-view';
import { buildRelease } from '@concord/log-server/release';
import type { AuditReport } from '@concord/verifier/audit';
import { parseTrust } from '@concord/verifier/log-view';
import { ORIGIN, makeFixture } from '../log-server/test/helpers.js';
import { httpFetch, startLiveLog } from './live-log.js';
import type { LiveLog } from './live-log.js';

delete process.env.DATABASE_URL;

const DAY = 86_400;
const now = (): number => Math.floor(Date.now() / 1000);
const sdk: Sdk = { bytes, checkpoint, client, cosignature, entries, merkle, note, policy };

interface Org {
  readonly name: string;
  readonly jurisdiction: string;
  readonly signer: Signer;
}

/** A served log with policy 2 (adds org-gb) endorsed by policy 1's quorum, P cosigned at T − 4 days. */
class World {
  readonly T = now();
  gb!: Org;
  p2!: { bytes: Uint8Array; leaf: Uint8Array; index: number; quorumIndex: number };
  pSize = 0;

  constructor(readonly live: LiveLog) {}

  static async start(): Promise<World> {
    const w = new World(await startLiveLog({ fixture: makeFixture(), config: { witnessPush: false } }));
    await w.cosign(w.T - 6 * DAY);
    const p1 = parseSignedEntry(w.live.anchor).entry as PolicyEntry;
    const k = generateKey('org-gb');
    w.gb = { name: 'org-gb', jurisdiction: 'GB', signer: newSigner(k.skey) };
    const p2: PolicyEntry = {
      ...p1,
      sequence: 2,
      previous: w.live.t.init.anchorLeaf,
      orgs: [...p1.orgs, { name: 'org-gb', jurisdiction: 'GB', vkey: k.vkey }].sort((a, b) => (a.name < b.name ? -1 : 1)),
    };
    expect(policy.isRemovalOnly(p1, p2)).toBe(false);
    const p2bytes = signEntry(p2, w.live.t.operator);
    const index = (await w.add(p2bytes)).index;
    let quorumIndex = 0;
    for (const o of w.orgs().slice(0, 2)) {
      quorumIndex = (await w.add(signEntry({ type: 'endorsement', org: o.name, subject: { kind: 'policy', sequence: 2, leaf: leafHash(p2bytes) } }, o.signer))).index;
    }
    w.p2 = { bytes: p2bytes, leaf: leafHash(p2bytes), index, quorumIndex };
    expect(w.state.pending()?.entry.sequence).toBe(2);
    w.pSize = await w.cosign(w.T - 4 * DAY); // P: seenBy(P) = T − 4 days
    expect(w.pSize).toBe(quorumIndex + 1);
    return w;
  }

  get state() {
    return this.live.log.state;
  }

  /** org-us (US), org-fr (FR), org-de (DE), as policy 1 lists them. */
  orgs(): Org[] {
    return this.live.t.fixture.orgs.map((o, i) => ({ name: o.name, jurisdiction: ['US', 'FR', 'DE'][i]!, signer: o.signer }));
  }

  async post(b: Uint8Array): Promise<Response> {
    return this.live.log.app.request('/add', { method: 'POST', body: b });
  }

  async add(b: Uint8Array): Promise<{ index: number; leaf: Uint8Array }> {
    const r = await this.post(b);
    expect(r.status, await r.clone().text()).toBe(200);
    return { index: ((await r.json()) as { index: number }).index, leaf: leafHash(b) };
  }

  /** The listed witnesses cosign the checkpoint of `size` (default: the latest) at `time`. */
  async cosign(time: number, size?: number, which = [0, 1, 2, 3]): Promise<number> {
    const s = size ?? (await this.live.log.store.size());
    const cp = (await this.live.log.store.readCheckpoint(s))!;
    const text = parseNote(cp.note).text;
    for (const i of which) {
      const wk = this.live.t.fixture.witnesses[i]!;
      await this.live.log.store.addCosignature({ size: s, witness: wk.vkey, time, line: newCosignatureSigner(wk.skey).cosign(text, time).line });
    }
    this.live.log.reader.invalidateCheckpoint();
    return s;
  }

  /** A filler entry valid under both policies: org-de endorses a made-up release. */
  async filler(): Promise<number> {
    const de = this.orgs()[2]!;
    const e: ConcordEntry = { type: 'endorsement', org: de.name, subject: { kind: 'release', sequence: 999, leaf: new Uint8Array(randomBytes(32)) } };
    return (await this.add(signEntry(e, de.signer))).index;
  }

  async noticed(): Promise<{ status: number; size: number | undefined }> {
    const r = await httpFetch(`${this.live.url}/checkpoint/noticed?policy=${this.p2.index}`);
    const body = new Uint8Array(await r.arrayBuffer());
    return { status: r.status, size: r.status === 200 ? checkpoint.parseCheckpoint(parseNote(body).text).size : undefined };
  }

  /** A release entry naming policy 2 (contributions as given). */
  releaseEntry(contributions: { org: string; leaf: Uint8Array }[], db: Uint8Array, summary: { root: Uint8Array; count: number }): ReleaseEntry {
    return {
      type: 'release',
      sequence: 1,
      previous: null,
      policy: this.p2.leaf,
      contributions: [...contributions].sort((a, b) => (a.org < b.org ? -1 : 1)),
      exclude: null,
      database: { root: summary.root, count: summary.count },
      added: summary.count,
      removed: 0,
      blob: sha256(db),
      expires: this.T + 10 * DAY,
    };
  }

  /**
   * Under policy 2: four orgs contribute (blobs uploaded), the operator releases the
   * intersection, org-gb and org-us endorse; cosigned at T − 2 days (the release's P) and now (F).
   */
  async releaseUnderPolicy2(): Promise<{ index: number; db: Uint8Array }> {
    const c = new LogClient({ url: this.live.url, fetch: httpFetch });
    const el = Array.from({ length: 6 }, () => new Uint8Array(randomBytes(32)));
    const lists: Record<string, number[]> = { 'org-us': [0, 1, 2, 3], 'org-fr': [0, 1, 4], 'org-de': [2, 4, 5], 'org-gb': [0, 3] };
    const all = [...this.orgs(), this.gb];
    const contribs: { org: string; jurisdiction: string; elements: Uint8Array; leaf: Uint8Array }[] = [];
    for (const o of all) {
      const blob = formatDatabase(lists[o.name]!.map((i) => el[i]!));
      await c.putBlob(ORIGIN, blob, o.signer);
      const { root, count } = parseDatabase(blob);
      const e: ConcordEntry = { type: 'contribution', org: o.name, sequence: 1, policy: this.p2.leaf, set: { root, count }, blob: sha256(blob), expires: this.T + 20 * DAY };
      const { leaf } = await this.add(signEntry(e, o.signer));
      contribs.push({ org: o.name, jurisdiction: o.jurisdiction, elements: blob, leaf });
    }
    const inter = intersectContributions(contribs, { minOrgs: 2, minJurisdictions: 2 });
    expect(inter.count).toBe(5); // every element but the one only org-de holds
    await c.putBlob(ORIGIN, inter.elements, this.live.t.operator);
    const rel = this.releaseEntry(contribs, inter.elements, inter);
    const r = await this.add(signEntry(rel, this.live.t.operator));
    for (const o of [this.gb, this.orgs()[0]!]) {
      await this.add(signEntry({ type: 'endorsement', org: o.name, subject: { kind: 'release', sequence: 1, leaf: r.leaf } }, o.signer));
    }
    await this.cosign(this.T - 2 * DAY);
    await this.cosign(now());
    return { index: r.index, db: inter.elements };
  }

  async device(): Promise<unknown> {
    try {
      return await updateFromLog({
        client: new LogClient({ url: this.live.url, fetch: httpFetch }),
        trust: { anchor: this.live.anchor, origin: ORIGIN },
        store: new MemoryStore(),
        now: now(),
      });
    } catch (err) {
      if (err instanceof DeviceError) return err;
      throw err;
    }
  }

  audit(): Promise<AuditReport> {
    return runAudit({ url: this.live.url, trust: parseTrust(this.live.anchor), now: now(), fetch: httpFetch });
  }

  async page(): Promise<VerifyReport> {
    const res = await httpFetch(`${this.live.url}/dashboard.json`);
    const claims = parseClaims(JSON.parse(bytes.fromUtf8(new Uint8Array(await res.arrayBuffer()))));
    return verifyLog(sdk, { url: this.live.url, origin: ORIGIN, anchor: leafHash(this.live.anchor), now: now(), fetch: httpFetch, claims });
  }
}

const worlds: World[] = [];
afterAll(async () => {
  for (const w of worlds) await w.live.close();
});

describe('a policy that needs notice, on a real log', () => {
  let w: World;
  let activeFrom: number;
  let release: { index: number; db: Uint8Array };

  beforeAll(async () => {
    w = await World.start();
    worlds.push(w);
  }, 60_000);

  it('the server refuses policy 2 before its notice, and decides N only where nothing was admitted beyond it', async () => {
    const { T } = w;
    // Quorum met, notice not proven: a release claiming policy 2 is refused, so is org-gb.
    const empty = formatDatabase([]);
    const early = w.releaseEntry([], empty, parseDatabase(empty));
    const r1 = await w.post(signEntry(early, w.live.t.operator));
    expect(r1.status).toBe(409);
    expect(((await r1.json()) as { error: { code: string } }).error.code).toBe('wrong-policy');
    const byGb = signEntry({ type: 'endorsement', org: 'org-gb', subject: { kind: 'release', sequence: 5, leaf: new Uint8Array(32) } }, w.gb.signer);
    expect((await w.post(byGb)).status).not.toBe(200);

    // An entry is admitted beyond P; then P itself is re-cosigned a day and 10 s after its
    // first cosignatures: P alone proves the notice, but the server cannot govern from P's size
    // (the entry at P's size was admitted under policy 1). No decision yet.
    const fillerIndex = await w.filler();
    expect(fillerIndex).toBe(w.pSize);
    await w.cosign(T - 3 * DAY + 10, w.pSize);
    expect(await w.state.checkNotice(w.live.log.store, now())).toBe(false);
    expect(w.state.current()?.entry.sequence).toBe(1);
    expect(await w.noticed()).toEqual({ status: 404, size: undefined });
    const r2 = await w.post(signEntry(early, w.live.t.operator));
    expect(((await r2.json()) as { error: { code: string } }).error.code).toBe('wrong-policy');

    // The head is cosigned, but an entry is admitted while the decision is being persisted: the
    // decision is retracted (NOTICE_RETRACTED), and survives no reload.
    const store = w.live.log.store;
    const key = NOTICE_STATE_PREFIX + bytes.toHex(w.p2.leaf);
    expect(await w.cosign(T - 3 * DAY + 20)).toBe(w.pSize + 1);
    let raced = false;
    const racing = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop !== 'setWitnessState') return Reflect.get(target, prop, receiver) as unknown;
        return async (st: Parameters<typeof store.setWitnessState>[0]) => {
          if (!raced) {
            raced = true;
            await w.filler();
          }
          return target.setWitnessState(st);
        };
      },
    });
    expect(await w.state.checkNotice(racing, now())).toBe(false);
    expect(raced).toBe(true);
    expect((await store.readWitnessState(key))?.size).toBe(NOTICE_RETRACTED);
    await w.state.loadNotices(store);
    expect(w.state.current()?.entry.sequence).toBe(1);
    expect(w.state.pending()?.entry.sequence).toBe(2);
    expect(await w.noticed()).toEqual({ status: 404, size: undefined });

    // The new head (nothing beyond it) is cosigned: N = the head, and policy 2 governs from its size.
    const nSize = await w.cosign(T - 3 * DAY + 30);
    expect(nSize).toBe(w.pSize + 2);
    expect(await w.state.checkNotice(w.live.log.store, now())).toBe(true);
    expect(w.state.current()?.entry.sequence).toBe(2);
    activeFrom = w.state.current()!.activeFrom;
    expect(activeFrom).toBe(nSize);
    expect(w.state.policyAt(activeFrom - 1)?.entry.sequence).toBe(1);
    expect((await w.live.log.store.readWitnessState(NOTICE_STATE_PREFIX + bytes.toHex(w.p2.leaf)))?.size).toBe(nSize);
    expect(await w.noticed()).toEqual({ status: 200, size: nSize });
    // Not a policy entry that needed notice: nothing to serve.
    expect((await httpFetch(`${w.live.url}/checkpoint/noticed?policy=0`)).status).toBe(404);
    expect((await httpFetch(`${w.live.url}/checkpoint/noticed?policy=${w.p2.quorumIndex}`)).status).toBe(404);
  });

  it('a release under policy 2, endorsed by its quorum: admitted, accepted by a device, audited clean, verified by the page', async () => {
    release = await w.releaseUnderPolicy2();
    expect(release.index).toBeGreaterThan(activeFrom);
    expect(w.state.policyAt(release.index)?.entry.sequence).toBe(2);

    // The served bundle carries N exactly, and the device accepts it.
    const bundle = parseBundle(new Uint8Array(await (await httpFetch(`${w.live.url}/release/latest/bundle`)).arrayBuffer()));
    expect(bundle.policies).toHaveLength(2);
    const noticed = bundle.policies[1]!.noticed!;
    expect(checkpoint.parseCheckpoint(parseNote(noticed.checkpoint).text).size).toBe(activeFrom);
    expect(checkpoint.parseCheckpoint(parseNote(bundle.policies[1]!.published!.checkpoint).text).size).toBe(w.pSize);
    const v = await w.device();
    expect(v).not.toBeInstanceOf(DeviceError);
    expect(v).toMatchObject({ sequence: 1, count: 5, policy: { sequence: 2 }, release: { index: release.index } });
    expect((v as { endorsers: unknown }).endorsers).toEqual([
      { jurisdiction: 'GB', orgs: ['org-gb'] },
      { jurisdiction: 'US', orgs: ['org-us'] },
    ]);

    // An auditor's log view and the operator's release builder place policy 2 there too
    // (client-sdk notice.ts): the next release would name policy 2.
    const view = await openLogView({ url: w.live.url, trust: parseTrust(w.live.anchor), now: now(), fetch: httpFetch });
    expect(view.chain.policyAt(activeFrom - 1)?.entry.sequence).toBe(1);
    expect(view.chain.policyAt(activeFrom)?.entry.sequence).toBe(2);
    expect(view.policy.entry.sequence).toBe(2);
    const next = await buildRelease({ dataDir: w.live.t.dir, logUrl: w.live.url, fetch: httpFetch, dryRun: true, expiresIn: 5 * DAY });
    expect(next.policy.sequence).toBe(2);
    expect(next.sequence).toBe(2);

    // concord audit: no findings, policy 2 placed where the server placed it.
    const a = await w.audit();
    expect(a.findings).toEqual([]);
    expect(a.policies.map((p) => [p.sequence, p.activeFrom])).toEqual([
      [1, 0],
      [2, activeFrom],
    ]);
    expect(a.releases.map((r) => [r.sequence, r.policy, r.status])).toEqual([[1, 2, 'ok']]);

    // The verifying page: the chain follows policy 2, the release is verified.
    const p = await w.page();
    expect(p.error).toBeUndefined();
    expect(p.ok).toBe(true);
    expect(p.checkpoint?.policySequence).toBe(2);
    expect(p.releases.map((r) => [r.sequence, r.index, r.problems, r.noticed, r.endorsementQuorumMet])).toEqual([[1, release.index, [], true, true]]);
    expect(checkRoot(sdk, p, bytes.toHex(parseDatabase(release.db).root)).outcome).toBe('verified');
    expect(p.falseClaims).toEqual([]);
  });
});

describe('a log that let policy 2 govern before its notice', () => {
  let w: World;
  beforeAll(async () => {
    w = await World.start();
    worlds.push(w);
    await w.filler();
    // Half a day after P: not noticed (one day needed).
    const head = await w.cosign(w.T - 3.5 * DAY);
    expect(await w.state.checkNotice(w.live.log.store, now())).toBe(false);
    // The operator forges the notice decision to this checkpoint and the server follows it.
    await w.live.log.store.setWitnessState({ witness: NOTICE_STATE_PREFIX + bytes.toHex(w.p2.leaf), size: head, updatedAt: now() });
    await w.state.loadNotices(w.live.log.store);
    expect(w.state.current()?.entry.sequence).toBe(2);
    expect(await w.noticed()).toEqual({ status: 200, size: head });
  }, 60_000);

  it('device, audit and page refuse its release under policy 2', async () => {
    const release = await w.releaseUnderPolicy2();
    const v = await w.device();
    expect(v).toBeInstanceOf(DeviceError);
    expect((v as DeviceError).code).toBe('policy-not-noticed');

    const a = await w.audit();
    // Policy 2 never took force for the auditor: the release names a policy whose notice had
    // not ended, and org-gb's entries are by no org of the policy in force.
    const classes = [...new Set(a.findings.map((f) => f.class))].sort();
    expect(classes).toEqual(['bad-author', 'missing-endorsements', 'not-intersection', 'notice-too-short', 'wrong-contributions']);
    expect(a.findings.find((f) => f.class === 'notice-too-short')?.id).toBe('notice-too-short@release-1');
    expect(a.policies.map((p) => p.sequence)).toEqual([1]);
    expect(a.releases[0]!.status).toBe('failed');

    const p = await w.page();
    expect(p.ok).toBe(true);
    const r = p.releases.find((x) => x.index === release.index)!;
    expect(r.problems[0]).toBe('wrong-policy: release 1 does not name the policy in force at its index');
    expect(checkRoot(sdk, p, r.rootHex).outcome).toBe('unverified');
  });
});

describe('noticedFromCheckpoints (the rule every verifier applies to P and N)', () => {
  const q = { quorumIndex: 9, noticePeriod: DAY };
  it('governs from N\'s size once aliveAt(N) − seenBy(P) reaches the notice, and proves nothing otherwise', () => {
    expect(policy.noticedFromCheckpoints(q, { size: 10, seenBy: 1000 }, { size: 14, aliveAt: 1000 + DAY })).toBe(14);
    expect(policy.noticedFromCheckpoints(q, { size: 10, seenBy: 1000 }, { size: 14, aliveAt: 999 + DAY })).toBeUndefined();
    expect(policy.noticedFromCheckpoints(q, { size: 10, seenBy: 1000 }, { size: 10, aliveAt: 1000 + DAY })).toBe(10);
    // P or N without the endorsement completing the quorum, or N smaller than P.
    expect(policy.noticedFromCheckpoints(q, { size: 9, seenBy: 1000 }, { size: 14, aliveAt: 1000 + DAY })).toBeUndefined();
    expect(policy.noticedFromCheckpoints(q, { size: 12, seenBy: 1000 }, { size: 11, aliveAt: 1000 + DAY })).toBeUndefined();
  });
});
