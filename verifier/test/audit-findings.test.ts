// concord audit's engine against logs built to misbehave (audit-fixture.ts): each finding class
// is produced by a log that commits exactly that misbehaviour, and the honest log beside it
// audits clean — so every test can fail both ways.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatDatabase } from '@concord/client-sdk/database';
import { parseTrust } from '@concord/verifier/log-view';
import { entryAuthorChecker, runAudit } from '@concord/verifier/audit';
import { nativeEd25519Verify } from '@concord/verifier/ed25519-native';
import { parseSignedEntry, signEntry } from '@concord/client-sdk/entries';
import { nobleEd25519Verify } from '@concord/client-sdk/note';
import { verifyEntryAuthor } from '@concord/client-sdk/policy';
import type { AuditReport, FindingClass } from '@concord/verifier/audit';
import { StateDir } from '@concord/verifier/state-dir';
import { DAY, FakeLog, elements, flip, now } from './audit-fixture.js';
import type { Indexed } from './audit-fixture.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempState(): StateDir {
  const d = mkdtempSync(path.join(tmpdir(), 'concord-state-'));
  dirs.push(d);
  return StateDir.open(d);
}

async function audit(log: FakeLog, state?: StateDir): Promise<AuditReport> {
  return runAudit({ url: log.url, trust: parseTrust(log.anchor), now: now(), fetch: log.fetch, ...(state !== undefined ? { state } : {}) });
}

const classes = (r: AuditReport): FindingClass[] => [...new Set(r.findings.map((f) => f.class))].sort();

/** Three contributions: 40 shared by all, 10 shared by US+FR only, the rest private. */
function contributions(log: FakeLog): { contribs: Record<string, Indexed>; expected: number } {
  const all = elements(40);
  const usFr = elements(10);
  const contribs = {
    'org-us': log.contribute('org-us', [...all, ...usFr, ...elements(7)]),
    'org-fr': log.contribute('org-fr', [...all, ...usFr, ...elements(5)]),
    'org-de': log.contribute('org-de', [...all, ...elements(3)]),
  };
  return { contribs, expected: 50 };
}

/** An honest log: a release endorsed by US and FR, published 4 days ago, head now. */
function honest(): { log: FakeLog; T: number; rel: ReturnType<FakeLog['release']>; contribs: Record<string, Indexed> } {
  const log = new FakeLog();
  const T = now();
  const { contribs } = contributions(log);
  log.checkpoint({ time: T - 5 * DAY });
  const rel = log.release(contribs);
  log.endorse('org-us', 'release', 1, rel.leaf);
  log.endorse('org-fr', 'release', 1, rel.leaf);
  log.checkpoint({ time: T - 4 * DAY });
  log.checkpoint({ time: T });
  return { log, T, rel, contribs };
}

describe('audit: an honest log', () => {
  it('passes with no findings and reports the release', async () => {
    const { log, T } = honest();
    const r = await audit(log);
    expect(r.findings).toEqual([]);
    expect(r.incomplete).toBe(false);
    expect(r.checkpoint?.size).toBe(log.entries.length);
    expect(r.entries).toMatchObject({ total: 7, policy: 1, contribution: 3, release: 1, endorsement: 2, unparsable: 0 });
    expect(r.releases).toHaveLength(1);
    const rel = r.releases[0]!;
    expect(rel.status).toBe('ok');
    expect(rel.database.count).toBe(50);
    expect(rel.publishedAt).toBe(T - 4 * DAY);
    expect(rel.noticed).toBe(true);
    expect(rel.endorsements).toMatchObject({ orgs: ['org-fr', 'org-us'], jurisdictions: ['FR', 'US'], quorum: true });
    expect(rel.contributions.map((c) => [c.org, c.contributed, c.inDatabase])).toEqual([
      ['org-de', 43, 40],
      ['org-fr', 55, 50],
      ['org-us', 57, 50],
    ]);
    expect(rel.jurisdictions).toEqual({ DE: 40, FR: 50, US: 50 });
    expect(rel.checks.every((c) => c.ok)).toBe(true);
  });

  it('with --state: proves consistency with the last audit, reports what changed, reuses cached bundles', async () => {
    const { log, T, contribs } = honest();
    for (let i = 0; i < 300; i++) log.endorse('org-de', 'release', 99, new Uint8Array(32).fill(i % 256));
    log.checkpoint({ time: T });
    const state = tempState();
    const first = await audit(log, state);
    expect(first.findings).toEqual([]);
    expect(first.changes).toBeUndefined();
    const rel2 = log.release(contribs);
    log.checkpoint({ time: T });
    let bundleFetches = 0;
    const inner = log.fetch;
    const counting: typeof log.fetch = async (url, init) => {
      if (url.endsWith('/tile/entries/000')) bundleFetches++;
      return inner(url, init);
    };
    const second = await runAudit({ url: log.url, trust: parseTrust(log.anchor), now: now(), fetch: counting, state });
    expect(bundleFetches).toBe(0);
    expect(second.previous?.size).toBe(first.checkpoint?.size);
    expect(second.changes).toEqual({ entries: 1, releases: [2], policies: [] });
    expect(rel2.entry.database.count).toBe(50);
    expect(rel2.entry.added).toBe(0);
    // Release 2 was just logged: its endorsements are pending, not missing.
    expect(second.releases[1]?.status).toBe('pending');
    expect(second.findings).toEqual([]);
  });
});

describe('audit: a log with only its anchor', () => {
  it('passes with nothing to report', async () => {
    const log = new FakeLog();
    log.checkpoint();
    const r = await audit(log);
    expect(r.findings).toEqual([]);
    expect(r.releases).toEqual([]);
    expect(r.entries.total).toBe(1);
  });
});

describe('audit: resumable downloads', () => {
  it('an interrupted download resumes from the bundles already authenticated and saved', async () => {
    const { log, T } = honest();
    for (let i = 0; i < 10 * 256; i++) log.endorse('org-de', 'release', 99, new Uint8Array(32).fill(i % 256));
    log.checkpoint({ time: T });
    const state = tempState();
    const fullBundles: string[] = [];
    let failAfter = 9;
    const flaky: typeof log.fetch = async (url, init) => {
      if (/\/tile\/entries\/\d{3}$/.test(url)) {
        fullBundles.push(url);
        if (--failAfter < 0) throw new Error('connection reset');
      }
      return log.fetch(url, init);
    };
    const run = () => runAudit({ url: log.url, trust: parseTrust(log.anchor), now: now(), fetch: flaky, state });
    await expect(run()).rejects.toThrow(/connection reset/);
    // 10 full bundles: the first 8 were authenticated and saved; the run died in the next chunk.
    failAfter = Infinity;
    fullBundles.length = 0;
    const r = await run();
    expect(r.findings).toEqual([]);
    expect(fullBundles.map((u) => u.slice(-3))).toEqual(['008', '009']);
  });
});

describe('audit findings', () => {
  it('forked checkpoint: the state holds a checkpoint the new head is not consistent with', async () => {
    const { log } = honest();
    const state = tempState();
    const forged = log.checkpoint({ size: 3, root: new Uint8Array(32).fill(7), serve: false });
    state.writeCheckpoint(forged);
    const r = await audit(log, state);
    expect(classes(r)).toEqual(['forked-checkpoint']);
    const f = r.findings[0]!;
    expect(f.id).toBe('forked-checkpoint@checkpoint-3');
    expect(f.evidence?.old).toBe(new TextDecoder().decode(forged));
    expect(f.evidence?.new).toBe(new TextDecoder().decode(log.head!));
    // The state keeps the evidence: a forked head is not remembered.
    expect(state.readCheckpoint()).toEqual(forged);
  });

  it('forked checkpoint: a consistent stored checkpoint passes', async () => {
    const { log } = honest();
    const state = tempState();
    state.writeCheckpoint(log.checkpoint({ size: 3, serve: false }));
    expect((await audit(log, state)).findings).toEqual([]);
  });

  it('rolled back: the head is smaller than the audited checkpoint', async () => {
    const { log, T } = honest();
    const state = tempState();
    expect((await audit(log, state)).findings).toEqual([]);
    log.head = log.checkpoint({ size: 4, time: T, serve: false });
    expect(classes(await audit(log, state))).toEqual(['rolled-back-checkpoint']);
  });

  it('a release whose database is not the intersection', async () => {
    const log = new FakeLog();
    const T = now();
    const { contribs } = contributions(log);
    log.checkpoint({ time: T - 5 * DAY });
    // The operator slips in one element no org submitted.
    const db = formatDatabase([...chunks(log.intersection(contribs)), ...elements(1)]);
    const rel = log.release(contribs, { database: db });
    log.endorse('org-us', 'release', 1, rel.leaf);
    log.endorse('org-fr', 'release', 1, rel.leaf);
    log.checkpoint({ time: T - 4 * DAY });
    log.checkpoint({ time: T });
    const r = await audit(log);
    expect(classes(r)).toEqual(['not-intersection']);
    expect(r.findings[0]!.id).toBe('not-intersection@release-1');
    expect(r.releases[0]!.status).toBe('failed');
  });

  it('missing endorsements: the notice period ended with one endorsement', async () => {
    const log = new FakeLog();
    const T = now();
    const { contribs } = contributions(log);
    const rel = log.release(contribs);
    log.endorse('org-us', 'release', 1, rel.leaf);
    log.checkpoint({ time: T - 3 * DAY });
    log.checkpoint({ time: T });
    const r = await audit(log);
    expect(classes(r)).toEqual(['missing-endorsements']);
    expect(r.findings[0]!.evidence?.endorsedBy).toBe('org-us');
    expect(r.releases[0]!.endorsements.quorum).toBe(false);
  });

  it('missing endorsements: within the notice period the release is pending, not a finding', async () => {
    const log = new FakeLog();
    const T = now();
    const { contribs } = contributions(log);
    const rel = log.release(contribs);
    log.endorse('org-us', 'release', 1, rel.leaf);
    log.checkpoint({ time: T - 3600 });
    log.checkpoint({ time: T });
    const r = await audit(log);
    expect(r.findings).toEqual([]);
    expect(r.releases[0]!.status).toBe('pending');
  });

  it('policy change without quorum: a release names a policy only one org endorsed', async () => {
    const log = new FakeLog();
    const T = now();
    const { contribs } = contributions(log);
    const p2 = log.proposePolicy({ maxAdded: 20_000 });
    log.endorse('org-us', 'policy', 2, p2.leaf);
    log.checkpoint({ time: T - 5 * DAY });
    const rel = log.release(contribs, { policy: p2.leaf });
    log.endorse('org-us', 'release', 1, rel.leaf);
    log.endorse('org-fr', 'release', 1, rel.leaf);
    log.checkpoint({ time: T - 4 * DAY });
    log.checkpoint({ time: T });
    const r = await audit(log);
    expect(classes(r)).toEqual(['policy-without-quorum']);
    expect(r.policies.map((p) => p.sequence)).toEqual([1]);
  });

  it('notice too short: a release names a policy whose notice period had not ended', async () => {
    const log = new FakeLog();
    const T = now();
    const { contribs } = contributions(log);
    const p2 = log.proposePolicy({ maxAdded: 20_000 });
    log.endorse('org-us', 'policy', 2, p2.leaf);
    log.endorse('org-fr', 'policy', 2, p2.leaf);
    log.checkpoint({ time: T - 2 * 3600 });
    const rel = log.release(contribs, { policy: p2.leaf });
    log.endorse('org-us', 'release', 1, rel.leaf);
    log.endorse('org-fr', 'release', 1, rel.leaf);
    log.checkpoint({ time: T - 3600 });
    log.checkpoint({ time: T });
    const r = await audit(log);
    expect(classes(r)).toEqual(['notice-too-short']);
  });

  it('notice: a release under a policy noticed in time passes', async () => {
    const log = new FakeLog();
    const T = now();
    const { contribs } = contributions(log);
    const p2 = log.proposePolicy({ maxAdded: 20_000 });
    log.endorse('org-us', 'policy', 2, p2.leaf);
    log.endorse('org-fr', 'policy', 2, p2.leaf);
    log.checkpoint({ time: T - 6 * DAY }); // P of policy 2
    log.endorse('org-de', 'release', 77, new Uint8Array(32)); // filler
    log.checkpoint({ time: T - 5 * DAY + 60 }); // F: aliveAt − seenBy(P) > 1 day
    log.currentPolicy = { entry: p2.entry, leaf: p2.leaf };
    const rel = log.release(contribs);
    log.endorse('org-us', 'release', 1, rel.leaf);
    log.endorse('org-fr', 'release', 1, rel.leaf);
    log.checkpoint({ time: T - 4 * DAY });
    log.checkpoint({ time: T });
    const r = await audit(log);
    expect(r.findings).toEqual([]);
    expect(r.policies.map((p) => [p.sequence, p.activeFrom])).toEqual([
      [1, 0],
      [2, rel.index],
    ]);
    expect(r.releases[0]!.policy).toBe(2);
  });

  it('an entry tampered in an entry bundle', async () => {
    const { log } = honest();
    log.tamper = (p, body) => (p.startsWith('/tile/entries/') ? flip(body, -10) : body);
    const r = await audit(log);
    expect(classes(r)).toEqual(['tampered-data']);
    expect(r.incomplete).toBe(true);
  });

  it('a hash tile tampered in transit', async () => {
    const { log } = honest();
    log.tamper = (p, body) => (p.startsWith('/tile/0/') ? flip(body, 3) : body);
    expect(classes(await audit(log))).toEqual(['tampered-data']);
  });

  it('a contribution blob tampered in transit', async () => {
    const { log } = honest();
    let n = 0;
    log.tamper = (p, body) => (p.startsWith('/blob/') && n++ === 0 ? flip(body, 0) : body);
    const r = await audit(log);
    expect(classes(r)).toContain('contribution-blob-mismatch');
  });

  it('a head without the witness quorum', async () => {
    const { log, T } = honest();
    log.checkpoint({ time: T, witnesses: 2 });
    expect(classes(await audit(log))).toEqual(['witness-quorum']);
  });

  it('wrong added count', async () => {
    const { log, T, contribs } = honest();
    const rel = log.release(contribs, { added: 1 });
    log.endorse('org-us', 'release', 2, rel.leaf);
    log.endorse('org-fr', 'release', 2, rel.leaf);
    log.checkpoint({ time: T - 3 * DAY });
    log.checkpoint({ time: T });
    const r = await audit(log);
    expect(classes(r)).toEqual(['added-removed-mismatch']);
    expect(r.findings[0]!.id).toBe('added-removed-mismatch@release-2');
  });

  it('a release signed by an org instead of the operator', async () => {
    const { log, T, rel } = honest();
    const forged = { ...rel.entry, sequence: 2, previous: rel.leaf };
    log.appendEntry(forged, log.org('org-us').signer);
    log.checkpoint({ time: T });
    expect(classes(await audit(log))).toContain('bad-author');
  });
});

function chunks(db: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < db.length; i += 32) out.push(db.slice(i, i + 32));
  return out;
}


describe('entryAuthorChecker', () => {
  it('answers exactly as policy.verifyEntryAuthor (native and noble), on valid, misattributed and forged entries', () => {
    const log = new FakeLog();
    const p1 = { entry: log.policy1, leaf: parseSignedEntry(log.anchor).leafHash };
    const us = log.org('org-us');
    const good = signEntry({ type: 'endorsement', org: 'org-us', subject: { kind: 'release', sequence: 1, leaf: new Uint8Array(32) } }, us.signer);
    const cases: Uint8Array[] = [log.anchor, good];
    // Signed by another org's key while naming org-us.
    const text = new TextDecoder().decode(good).split('\n\n')[0]! + '\n';
    const other = log.org('org-fr').signer;
    const forgedName = new TextEncoder().encode(text + '\n— org-fr ' + Buffer.concat([Buffer.from([0, 0, 0, 0]), Buffer.from(other.sign(new TextEncoder().encode(text)))]).toString('base64') + '\n');
    cases.push(forgedName);
    // org-us's key line with a flipped signature bit.
    const flipped = good.slice();
    const line = new TextDecoder().decode(flipped).lastIndexOf('— org-us ');
    const sigStart = line + '— org-us '.length + 12;
    flipped[sigStart] = flipped[sigStart] === 0x41 ? 0x42 : 0x41;
    cases.push(flipped);
    // An org unknown to the policy; a release by an org.
    cases.push(signEntry({ type: 'endorsement', org: 'press', subject: { kind: 'release', sequence: 1, leaf: new Uint8Array(32) } }, log.auditor.signer));
    const outcome = (f: () => void): string => {
      try {
        f();
        return 'ok';
      } catch (e) {
        return `${(e as { name: string }).name}:${(e as { code: string }).code}`;
      }
    };
    const seen = new Set<string>();
    for (const [i, bytes] of cases.entries()) {
      let se;
      try {
        se = parseSignedEntry(bytes);
      } catch {
        continue;
      }
      const inForce = i === 0 ? undefined : p1;
      const want = outcome(() => verifyEntryAuthor(se, inForce));
      expect(outcome(() => entryAuthorChecker(nativeEd25519Verify())(se, inForce))).toBe(want);
      expect(outcome(() => entryAuthorChecker(nobleEd25519Verify)(se, inForce))).toBe(want);
      seen.add(want);
    }
    expect([...seen].sort()).toEqual(['EntryError:invalid-signature', 'PolicyError:unknown-org', 'PolicyError:wrong-author', 'ok']);
  });
});
