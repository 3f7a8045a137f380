// Tests for device.ts: DESIGN.md "Device acceptance (fail closed)" — one test per check, each
// building a real log (fixtures/network.ts: real keys, signatures, proofs and witness
// cosignatures) that breaks exactly that check and asserting its own DeviceError code; the
// accepted scenario around each shows the same setup passes without the fault. Witness-time
// tests put k − 1 dishonest witnesses against the rule and show the outcome does not change,
// then add a k-th and show it does (so the test can fail).
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sha256 } from '@noble/hashes/sha2.js';
import { formatBundle, parseBundle, MAX_BUNDLE_SIZE } from '@concord/client-sdk/bundle';
import type { ParsedBundle } from '@concord/client-sdk/bundle';
import { utf8, toHex, equalBytes } from '@concord/client-sdk/bytes';
import { formatDatabase, parseDatabase } from '@concord/client-sdk/database';
import { DeviceError, MemoryStore, openDatabase, fetchConsistencyProof, updateFromLog } from '@concord/client-sdk/device';
import type { DeviceErrorCode, DeviceState, OpenOptions } from '@concord/client-sdk/device';
import { proveConsistency } from '@concord/client-sdk/merkle';
import { generateKey, newSigner, noteSignature, parseNote, signNote } from '@concord/client-sdk/note';
import { generateCosignatureKey } from '@concord/client-sdk/cosignature';
import { LogClient } from '@concord/client-sdk/client';
import type { FetchResponse } from '@concord/client-sdk/client';
import { parseTilePath, tileData } from '@concord/client-sdk/tiles';
import { DAY, T0, acceptedScenario, createNetwork, seeded } from './fixtures/network.js';
import type { Logged, Network, NetworkOptions } from './fixtures/network.js';

type Scenario = { net: Network; database: Uint8Array; release: Logged; bundle: Uint8Array; now: number };

function open(s: Scenario, over: Partial<OpenOptions> = {}) {
  return openDatabase({ database: s.database, bundle: s.bundle, trust: s.net.trust, store: new MemoryStore(), now: s.now, ...over });
}

async function codeOf(p: Promise<unknown>): Promise<DeviceErrorCode | 'accepted'> {
  try {
    await p;
    return 'accepted';
  } catch (e) {
    if (e instanceof DeviceError) return e.code;
    throw e;
  }
}

function mutate(bundle: Uint8Array, f: (b: ParsedBundle) => void): Uint8Array {
  const b = parseBundle(bundle);
  f(b);
  return formatBundle(b);
}

/** Replaces F everywhere it appears (the checkpoint and every proof's copy). */
function setF(b: ParsedBundle, note: Uint8Array): void {
  b.checkpoint = note;
  for (const e of [b.release, ...b.endorsements, ...b.policies, ...b.policies.flatMap((p) => p.endorsements)]) e.proof.checkpoint = note;
}

/**
 * A release endorsed by `endorsers`, cosigned at `p` (P), then one more entry and F cosigned at `f`.
 * Times: a number for every witness, or per-witness (undefined: that witness does not cosign).
 */
async function scenario(o: {
  endorsers?: string[];
  p?: number | (number | undefined)[];
  f?: number | (number | undefined)[];
  net?: NetworkOptions | Network;
  n?: number;
  expires?: number;
  now?: number;
} = {}): Promise<Scenario> {
  const net = o.net instanceof Object && 'entries' in o.net ? o.net : createNetwork(o.net as NetworkOptions | undefined);
  const database = net.database(o.n ?? 20);
  const release = net.release({ database, ...(o.expires !== undefined ? { expires: o.expires } : {}) });
  for (const e of o.endorsers ?? ['org-us', 'org-fr']) net.endorse(e, release);
  await net.cosign(o.p ?? T0 + 100);
  net.contribute(net.orgs[0]!.name, database);
  const f = o.f ?? T0 + 100 + DAY + 10;
  await net.cosign(f);
  const fMax = typeof f === 'number' ? f : Math.max(...f.filter((x): x is number => x !== undefined));
  return { net, database, release, bundle: await net.bundle(), now: o.now ?? fMax + 50 };
}

const each = (t: number, n = 4): number[] => Array.from({ length: n }, () => t);

describe('openDatabase: accepted', () => {
  it('accepts the standard scenario and reports what a Settings screen shows', async () => {
    const s = await acceptedScenario(50);
    const store = new MemoryStore();
    const v = await open(s, { store });
    const { root, count } = parseDatabase(s.database);
    expect(v.sequence).toBe(1);
    expect(v.count).toBe(50);
    expect(toHex(v.root)).toBe(toHex(root));
    expect(count).toBe(50);
    expect(v.publishedAt).toBe(T0 + 100);
    expect(v.noticedAt).toBe(T0 + 100 + DAY);
    expect(v.checkpoint.aliveAt).toBe(T0 + 100 + DAY + 10);
    expect(v.checkpoint.size).toBe(8);
    expect(v.release.index).toBe(4);
    expect(v.acceptedWithoutNotice).toBe(false);
    expect(v.usableUntil).toBe(T0 + 100 + DAY + 10 + DAY);
    expect(v.usable(v.usableUntil)).toBe(true);
    expect(v.usable(v.usableUntil + 1)).toBe(false);
    expect(v.endorsers).toEqual([
      { jurisdiction: 'DE', orgs: ['org-de'] },
      { jurisdiction: 'FR', orgs: ['org-fr'] },
      { jurisdiction: 'US', orgs: ['org-us'] },
    ]);
    for (let i = 0; i < 50; i++) expect(v.has(s.database.subarray(i * 32, i * 32 + 32))).toBe(true);
    expect(v.has(seeded('not a member'))).toBe(false);
    const st = (await store.get())!;
    expect(st.release.sequence).toBe(1);
    expect(st.clock).toBe(T0 + 100 + DAY + 10);
    expect(equalBytes(st.checkpoint, parseBundle(s.bundle).checkpoint)).toBe(true);
  });

  it('notice exactly elapsed is accepted, one second short is not', async () => {
    const ok = await scenario({ f: T0 + 100 + DAY });
    expect(await codeOf(open(ok))).toBe('accepted');
    const short = await scenario({ f: T0 + 100 + DAY - 1 });
    expect(await codeOf(open(short))).toBe('not-noticed');
  });

  it('the root is an independent RFC 6962 root of the elements', async () => {
    const s = await acceptedScenario(33);
    const v = await open(s);
    // MTH from RFC 6962 §2.1's recursion with node:crypto, not the SDK's tree code.
    const h = (...parts: Uint8Array[]): Uint8Array => {
      const c = createHash('sha256');
      for (const p of parts) c.update(p);
      return new Uint8Array(c.digest());
    };
    const mth = (d: Uint8Array[]): Uint8Array => {
      if (d.length === 1) return h(Uint8Array.of(0), d[0]!);
      let k = 1;
      while (k * 2 < d.length) k *= 2;
      return h(Uint8Array.of(1), mth(d.slice(0, k)), mth(d.slice(k)));
    };
    const elements = Array.from({ length: s.database.length / 32 }, (_, i) => s.database.subarray(i * 32, i * 32 + 32));
    expect(elements.length).toBe(33);
    expect(toHex(v.root)).toBe(toHex(mth(elements)));
  });
});

describe('openDatabase: one failure per check', () => {
  it('a flipped byte in the database → database-mismatch', async () => {
    const s = await acceptedScenario(20);
    for (const at of [s.database.length - 1, 31, 32 * 7 + 16]) {
      const bad = s.database.slice();
      bad[at]! ^= 0x01;
      expect(await codeOf(open(s, { database: bad }))).toBe('database-mismatch');
    }
    expect(await codeOf(open(s))).toBe('accepted');
  });

  it('the wrong number of elements → database-count', async () => {
    const s = await acceptedScenario(20);
    expect(await codeOf(open(s, { database: s.database.subarray(0, 19 * 32) }))).toBe('database-count');
    const more = formatDatabase([...Array.from({ length: 20 }, (_, i) => s.database.slice(i * 32, i * 32 + 32)), seeded('extra')]);
    expect(await codeOf(open(s, { database: more }))).toBe('database-count');
  });

  it('a release not included in F → release-not-included', async () => {
    const s = await acceptedScenario();
    const flip = mutate(s.bundle, (b) => {
      b.release.proof.proof[0]![0]! ^= 1;
    });
    expect(await codeOf(open(s, { bundle: flip }))).toBe('release-not-included');
    const moved = mutate(s.bundle, (b) => {
      b.release.proof.index = 5;
    });
    expect(await codeOf(open(s, { bundle: moved }))).toBe('release-not-included');
  });

  it('a forged log signature on F → bad-log-signature', async () => {
    const s = await acceptedScenario();
    const forger = newSigner(generateKey(s.net.origin, seeded('forger')).skey);
    const f = parseNote(parseBundle(s.bundle).checkpoint);
    const forged = signNote(f.text, [forger], f.signatures.filter((x) => x.name !== s.net.origin));
    expect(await codeOf(open(s, { bundle: mutate(s.bundle, (b) => setF(b, forged)) }))).toBe('bad-log-signature');
    // And a log line whose signature bytes are altered.
    const text = new TextDecoder().decode(parseBundle(s.bundle).checkpoint);
    const line = text.split('\n').find((l) => l.startsWith(`— ${s.net.origin} `))!;
    const sig = line.slice(line.lastIndexOf(' ') + 1);
    const altered = sig.slice(0, 10) + (sig[10] === 'A' ? 'B' : 'A') + sig.slice(11);
    const bad = utf8(text.replace(sig, altered));
    expect(await codeOf(open(s, { bundle: mutate(s.bundle, (b) => setF(b, bad)) }))).toBe('bad-log-signature');
  });

  it('too few witness cosignatures on F → too-few-cosignatures', async () => {
    const s = await scenario({ f: [T0 + DAY + 200, T0 + DAY + 200, T0 + DAY + 200, undefined] });
    expect(await codeOf(open(s))).toBe('accepted');
    const cp = s.net.checkpointAt(s.net.size);
    const two = s.net.note(cp, (i) => i < 2);
    expect(await codeOf(open(s, { bundle: mutate(s.bundle, (b) => setF(b, two)) }))).toBe('too-few-cosignatures');
  });

  it('a listed witness\'s cosignature that does not verify → bad-cosignature', async () => {
    const s = await acceptedScenario();
    const cp = s.net.checkpointAt(s.net.size);
    const w = s.net.witnesses[3]!;
    const good = w.cosign(cp.text, T0 + 100 + DAY + 10);
    // The time in the signature bytes no longer matches what was signed.
    const sig = good.signature.slice();
    sig[7]! ^= 1;
    cp.extra.push(noteSignature(good.name, good.keyHash, sig));
    const bad = s.net.note(cp);
    expect(await codeOf(open(s, { bundle: mutate(s.bundle, (b) => setF(b, bad)) }))).toBe('bad-cosignature');
  });

  it('endorsements from too few orgs → too-few-endorsements', async () => {
    const s = await scenario({ endorsers: ['org-us'] });
    expect(await codeOf(open(s))).toBe('too-few-endorsements');
  });

  it('endorsements all from one jurisdiction → too-few-jurisdictions', async () => {
    const net: NetworkOptions = {
      orgs: [
        ['org-fr', 'FR'],
        ['org-us', 'US'],
        ['org-us2', 'US'],
      ],
    };
    const s = await scenario({ net, endorsers: ['org-us', 'org-us2'] });
    expect(await codeOf(open(s))).toBe('too-few-jurisdictions');
    const ok = await scenario({ net, endorsers: ['org-us', 'org-fr'] });
    expect(await codeOf(open(ok))).toBe('accepted');
  });

  it('notice not yet elapsed: aliveAt(F) < seenBy(P) + notice → not-noticed', async () => {
    const s = await scenario({ f: T0 + 100 + DAY / 2 });
    expect(await codeOf(open(s))).toBe('not-noticed');
  });

  it('notice scales with ⌈added / max-added⌉', async () => {
    // max-added 10, 25 added: three notice periods.
    const s = await scenario({ net: { policy: { maxAdded: 10 } }, n: 25, f: T0 + 100 + 2 * DAY + 10 });
    expect(await codeOf(open(s))).toBe('not-noticed');
    const ok = await scenario({ net: { policy: { maxAdded: 10, maxCheckpointAge: 4 * DAY } }, n: 25, f: T0 + 100 + 3 * DAY });
    expect(await codeOf(open(ok))).toBe('accepted');
  });

  it('k − 1 witnesses backdating P and forward-dating F do not change the outcome; k do', async () => {
    // Honest: P at T0+100, F at T0+100+DAY−100 (not noticed). Liars (witnesses 0 and 1, k − 1 = 2)
    // also cosign P a day earlier and F 250 s ahead (within the 300 s tolerance of `now`).
    const fHonest = T0 + 100 + DAY - 100;
    const now = fHonest + 40;
    const net = createNetwork();
    const database = net.database(20);
    const release = net.release({ database });
    net.endorse('org-us', release);
    net.endorse('org-fr', release);
    await net.cosign(T0 + 100);
    await net.cosign([T0 + 100 - DAY, T0 + 100 - DAY]);
    net.contribute('org-de', database);
    await net.cosign(fHonest);
    await net.cosign([now + 250, now + 250]);
    const s = { net, database, release, bundle: await net.bundle(), now };
    expect(await codeOf(open(s))).toBe('not-noticed');
    // A k-th liar on both: now the lie carries.
    await net.cosign([now + 250, now + 250, now + 250]);
    const pcp = net.checkpointAt(7);
    const w2 = net.witnesses[2]!;
    const back = w2.cosign(pcp.text, T0 + 100 - DAY);
    pcp.cosigs.get(2)!.first = { time: T0 + 100 - DAY, sig: back };
    const lying = { ...s, bundle: await net.bundle() };
    expect(await codeOf(open(lying))).toBe('accepted');
  });

  it('cosignatures from the future do not count', async () => {
    const now = T0 + 100 + DAY + 60;
    // Two witnesses cosign F an hour in the future: only two count.
    const s = await scenario({ f: [now - 10, now - 10, now + 3600, now + 3600], now });
    expect(await codeOf(open(s))).toBe('too-few-cosignatures');
    // Every witness dates F far ahead to fake the notice: none counts.
    const early = await scenario({ f: [T0 + 200, T0 + 200, T0 + 200, T0 + 200], now: T0 + 300 });
    await early.net.cosign(each(T0 + 100 + DAY + 10));
    const faked = { ...early, bundle: await early.net.bundle() };
    // Their latest lines are dated after now + 300: not counted, their earlier ones are.
    expect(await codeOf(open(faked))).toBe('not-noticed');
    // Within the tolerance they would count (control).
    expect(await codeOf(open(faked, { now: T0 + 100 + DAY + 10 - 300 }))).toBe('accepted');
  });

  it('one witness counted twice (repeated lines) → too-few-cosignatures', async () => {
    const s = await scenario();
    const cp = s.net.checkpointAt(s.net.size);
    const w1 = s.net.witnesses[1]!;
    cp.extra.push(w1.cosign(cp.text, T0 + 100 + DAY + 5), w1.cosign(cp.text, T0 + 100 + DAY + 6));
    const twice = s.net.note(cp, (i) => i < 2);
    expect(await codeOf(open(s, { bundle: mutate(s.bundle, (b) => setF(b, twice)) }))).toBe('too-few-cosignatures');
  });

  it('a policy listing one witness key twice is invalid → invalid-policy', async () => {
    const net = createNetwork();
    const w = net.policy.witnesses;
    // Witness 0's public key again, under another name (so another key ID and vkey string).
    const again = generateCosignatureKey('wx.example', seeded('net witness 0')).vkey;
    const p2 = net.proposePolicy({
      witnesses: [...w, { vkey: again, url: 'https://wx.example/' }].sort((a, b) => (a.vkey < b.vkey ? -1 : 1)),
      witnessQuorum: 4,
    });
    net.endorse('org-us', p2);
    net.endorse('org-fr', p2);
    net.govern(p2);
    const s = await scenario({ net });
    expect(await codeOf(open(s))).toBe('invalid-policy');
  });

  it('stale F (aliveAt older than max-checkpoint-age) → stale-checkpoint', async () => {
    const s = await acceptedScenario();
    const aliveAtF = T0 + 100 + DAY + 10;
    expect(await codeOf(open(s, { now: aliveAtF + DAY }))).toBe('accepted');
    expect(await codeOf(open(s, { now: aliveAtF + DAY + 1 }))).toBe('stale-checkpoint');
  });

  it('the device clock never runs behind the stored witness clock', async () => {
    const s = await acceptedScenario();
    const store = new MemoryStore();
    await open(s, { store });
    const st = (await store.get())!;
    await store.put({ ...st, clock: T0 + 100 + 3 * DAY });
    // Its own clock says it is the past; the stored aliveAt says F is stale.
    expect(await codeOf(open(s, { store, now: T0 }))).toBe('stale-checkpoint');
  });

  it('an expired release → release-expired; expires beyond max-release-age → expires-too-late', async () => {
    const s = await scenario({ expires: T0 + 100 + DAY + 40 });
    expect(await codeOf(open(s))).toBe('release-expired');
    const late = await scenario({ expires: T0 + 100 + 30 * DAY + 1 });
    expect(await codeOf(open(late))).toBe('expires-too-late');
    const edge = await scenario({ expires: T0 + 100 + 30 * DAY });
    expect(await codeOf(open(edge))).toBe('accepted');
  });

  it('an endorsement not included in F → endorsement-not-included', async () => {
    const s = await acceptedScenario();
    const bad = mutate(s.bundle, (b) => {
      b.endorsements[1]!.proof.proof.at(-1)![5]! ^= 0x80;
    });
    expect(await codeOf(open(s, { bundle: bad }))).toBe('endorsement-not-included');
  });

  it('a policy not included in F → policy-not-included', async () => {
    const s = await acceptedScenario();
    const bad = mutate(s.bundle, (b) => {
      b.policies[0]!.proof.proof[1]![0]! ^= 1;
    });
    expect(await codeOf(open(s, { bundle: bad }))).toBe('policy-not-included');
  });

  it('a P that does not yet contain the counted endorsements → published-too-early', async () => {
    const net = createNetwork();
    const database = net.database(20);
    const release = net.release({ database });
    await net.cosign(T0 + 50); // size 5: the release, no endorsement
    net.endorse('org-us', release);
    net.endorse('org-fr', release);
    await net.cosign(T0 + 100);
    net.contribute('org-de', database);
    await net.cosign(T0 + 100 + DAY + 10);
    const s = { net, database, release, bundle: await net.bundle(), now: T0 + 100 + DAY + 60 };
    expect(await codeOf(open(s))).toBe('accepted');
    expect(parseBundle(s.bundle).published.checkpoint.length).toBeGreaterThan(0);
    const early = net.note(net.checkpointAt(5));
    const consistency = await proveConsistency(5, net.size, net.hashReader(net.size));
    const bad = mutate(s.bundle, (b) => {
      b.published = { checkpoint: early, consistency };
    });
    // With P at size 5 the release looks published at T0 + 50 and noticed: still refused.
    expect(await codeOf(open({ ...s, now: T0 + 50 + DAY + 20 }, { bundle: bad }))).toBe('published-too-early');
  });

  it('a P that is not a prefix of F → inconsistent-published', async () => {
    const s = await acceptedScenario();
    const bad = mutate(s.bundle, (b) => {
      b.published.consistency[0]![3]! ^= 4;
    });
    expect(await codeOf(open(s, { bundle: bad }))).toBe('inconsistent-published');
  });

  for (const [what, changes] of [
    ['min-orgs 1', { minOrgs: 1 }],
    ['2k − N < 2', { witnessQuorum: 2 }],
  ] as const) {
    it(`a policy with ${what} → invalid-policy`, async () => {
      const net = createNetwork();
      const p2 = net.proposePolicy(changes);
      net.endorse('org-us', p2);
      net.endorse('org-fr', p2);
      net.govern(p2);
      const s = await scenario({ net });
      expect(await codeOf(open(s))).toBe('invalid-policy');
    });
  }

  it('an invalid anchor → bad-trust; a bundle from another anchor → anchor-mismatch', async () => {
    const s = await acceptedScenario();
    const bad = createNetwork({ seed: 'bad', policy: { minOrgs: 1 } });
    expect(await codeOf(open(s, { trust: bad.trust }))).toBe('bad-trust');
    const other = createNetwork({ seed: 'other' });
    expect(await codeOf(open(s, { trust: other.trust }))).toBe('anchor-mismatch');
  });

  it('two sibling policies of one sequence → sibling-policy', async () => {
    const net = createNetwork();
    const a = net.proposePolicy({ maxReleaseAge: 29 * DAY });
    const b2 = net.proposePolicy({ maxReleaseAge: 28 * DAY });
    for (const p of [a, b2]) {
      net.endorse('org-us', p);
      net.endorse('org-fr', p);
    }
    net.govern(a);
    const s = await scenario({ net });
    expect(await codeOf(open(s))).toBe('accepted'); // a lowers max-release-age only: removal-only, no notice needed
    const both = mutate(s.bundle, (b) => {
      const sib = parseBundle(s.bundle).policies[1]!;
      b.policies.push({ ...sib, entry: b2.bytes, signed: b2.signed, proof: { ...sib.proof, index: b2.index } });
    });
    expect(await codeOf(open(s, { bundle: both }))).toBe('sibling-policy');
  });

  it('a broken policy chain → broken-chain', async () => {
    const net = createNetwork();
    const p2 = net.proposePolicy({ maxReleaseAge: 29 * DAY });
    net.endorse('org-us', p2);
    net.endorse('org-fr', p2);
    net.govern(p2);
    const p3 = net.proposePolicy({ maxReleaseAge: 28 * DAY });
    net.endorse('org-us', p3);
    net.endorse('org-fr', p3);
    net.govern(p3);
    const s = await scenario({ net });
    expect(await codeOf(open(s))).toBe('accepted');
    const gap = mutate(s.bundle, (b) => {
      b.policies.splice(1, 1);
    });
    expect(await codeOf(open(s, { bundle: gap }))).toBe('broken-chain');
    // A policy 2 that names something else as previous.
    const net2 = createNetwork({ seed: 'chain2' });
    const wrong = net2.proposePolicy({ previous: seeded('not policy 1'), maxReleaseAge: 29 * DAY });
    net2.endorse('org-us', wrong);
    net2.endorse('org-fr', wrong);
    net2.govern(wrong);
    const s2 = await scenario({ net: net2 });
    expect(await codeOf(open(s2))).toBe('broken-chain');
  });

  it('a policy without its predecessor\'s endorsement quorum → policy-not-endorsed', async () => {
    const net = createNetwork();
    const p2 = net.proposePolicy({ maxReleaseAge: 29 * DAY });
    net.endorse('org-us', p2);
    net.govern(p2);
    const s = await scenario({ net });
    expect(await codeOf(open(s))).toBe('policy-not-endorsed');
  });

  it('a policy that needs notice: accepted with its proof, policy-not-noticed without, wrong-policy when noticed late', async () => {
    // Adding an org is not removal-only: policy 2 needs policy 1's notice (one day).
    const mk = async (noticeAt: number, p: number, f: number): Promise<Scenario> => {
      const net = createNetwork({ seed: `notice ${noticeAt}` });
      const p2 = net.proposePolicy({
        orgs: [...net.policy.orgs, { name: 'org-it', jurisdiction: 'IT', vkey: generateKey('org-it', seeded('org-it')).vkey }].sort((a, b) => (a.name < b.name ? -1 : 1)),
      });
      net.endorse('org-us', p2);
      net.endorse('org-fr', p2);
      await net.cosign(T0); // policy 2's P (size 4)
      net.contribute('org-de', net.database(1, 'filler'));
      await net.cosign(noticeAt); // N (size 5)
      net.govern(p2);
      return scenario({ net, p, f });
    };
    const ok = await mk(T0 + DAY, T0 + DAY + 100, T0 + 2 * DAY + 110);
    expect(parseBundle(ok.bundle).policies[1]!.noticed).toBeDefined();
    expect(await codeOf(open(ok))).toBe('accepted');
    // Nothing proves the notice yet.
    const short = await mk(T0 + 100, T0 + 200, T0 + 300);
    expect(parseBundle(short.bundle).policies[1]!.noticed).toBeUndefined();
    expect(await codeOf(open(short))).toBe('policy-not-noticed');
    // Noticed only by a checkpoint after the release: policy 2 was not in force at its index.
    const late = await mk(T0 + DAY - 1, T0 + DAY + 100, T0 + 2 * DAY + 110);
    expect(await codeOf(open(late))).toBe('wrong-policy');
  });

  it('a release signed by another key → bad-release-signature', async () => {
    const net = createNetwork();
    const database = net.database(10);
    const impostor = newSigner(generateKey(`${net.origin}/operator`, seeded('impostor')).skey);
    const release = net.release({ database, signer: impostor });
    net.endorse('org-us', release);
    net.endorse('org-fr', release);
    await net.cosign(T0 + 100);
    await net.cosign(T0 + 100 + DAY + 10);
    const s = { net, database, release, bundle: await net.bundle(), now: T0 + 100 + DAY + 60 };
    expect(await codeOf(open(s))).toBe('bad-release-signature');
  });

  it('a bundle naming another blob → blob-mismatch', async () => {
    const s = await acceptedScenario();
    const bad = mutate(s.bundle, (b) => {
      b.database.blob = sha256(utf8('something else'));
    });
    expect(await codeOf(open(s, { bundle: bad }))).toBe('blob-mismatch');
  });

  it('a bundle over the size caps → bundle-too-large; malformed → bad-bundle', async () => {
    const s = await acceptedScenario();
    const text = new TextDecoder().decode(s.bundle);
    const padded = utf8(text.slice(0, -1) + ' '.repeat(MAX_BUNDLE_SIZE) + '}');
    expect(await codeOf(open(s, { bundle: padded }))).toBe('bundle-too-large');
    const j = JSON.parse(text) as { endorsements: unknown[] };
    j.endorsements = Array.from({ length: 257 }, () => j.endorsements[0]);
    expect(await codeOf(open(s, { bundle: utf8(JSON.stringify(j)) }))).toBe('bundle-too-large');
    expect(await codeOf(open(s, { bundle: s.bundle.subarray(0, 100) }))).toBe('bad-bundle');
  });
});

describe('openDatabase: state, rollback and forks', () => {
  async function twoReleases(o: { second: Uint8Array | ((first: Uint8Array) => Uint8Array); fSecond: number }) {
    const net = createNetwork();
    const d1 = net.database(30);
    const r1 = net.release({ database: d1 });
    net.endorse('org-us', r1);
    net.endorse('org-fr', r1);
    await net.cosign(T0 + 100);
    await net.cosign(T0 + 100 + DAY + 10);
    const b1 = await net.bundle();
    const d2 = typeof o.second === 'function' ? o.second(d1) : o.second;
    const diff = { added: 0, removed: 0 };
    const set1 = new Set(Array.from({ length: d1.length / 32 }, (_, i) => toHex(d1.subarray(i * 32, i * 32 + 32))));
    const set2 = new Set(Array.from({ length: d2.length / 32 }, (_, i) => toHex(d2.subarray(i * 32, i * 32 + 32))));
    for (const x of set2) if (!set1.has(x)) diff.added++;
    for (const x of set1) if (!set2.has(x)) diff.removed++;
    const r2 = net.release({ database: d2, ...diff });
    net.endorse('org-us', r2);
    net.endorse('org-de', r2);
    await net.cosign(T0 + 100 + DAY + 100);
    await net.cosign(o.fSecond);
    const b2 = await net.bundle();
    return { net, d1, d2, b1, b2, r1, r2 };
  }

  it('a release whose database is a subset of the stored one is accepted without notice', async () => {
    const t = await twoReleases({ second: (d) => d.slice(32 * 3), fSecond: T0 + 100 + DAY + 200 });
    const store = new MemoryStore();
    const now = T0 + 100 + DAY + 250;
    await openDatabase({ database: t.d1, bundle: t.b1, trust: t.net.trust, store, now });
    const consistency = await proveConsistency(parseBundle(t.b1).tree.size, t.net.size, t.net.hashReader(t.net.size));
    const v = await openDatabase({ database: t.d2, bundle: t.b2, trust: t.net.trust, store, now, consistency });
    expect(v.sequence).toBe(2);
    expect(v.count).toBe(27);
    expect(v.acceptedWithoutNotice).toBe(true);
    // Without a stored database, the same release needs its notice.
    const fresh = await codeOf(openDatabase({ database: t.d2, bundle: t.b2, trust: t.net.trust, store: new MemoryStore(), now }));
    expect(fresh).toBe('not-noticed');
  });

  it('a release adding one element is not accepted before its notice', async () => {
    const t = await twoReleases({ second: (d) => formatDatabase([...Array.from({ length: 30 }, (_, i) => d.slice(i * 32, i * 32 + 32)), seeded('new')]), fSecond: T0 + 100 + DAY + 200 });
    const store = new MemoryStore();
    const now = T0 + 100 + DAY + 250;
    await openDatabase({ database: t.d1, bundle: t.b1, trust: t.net.trust, store, now });
    const consistency = await proveConsistency(parseBundle(t.b1).tree.size, t.net.size, t.net.hashReader(t.net.size));
    expect(await codeOf(openDatabase({ database: t.d2, bundle: t.b2, trust: t.net.trust, store, now, consistency }))).toBe('not-noticed');
    // Nothing was stored by the failure.
    expect((await store.get())!.release.sequence).toBe(1);
  });

  it('a release older than the stored one → rollback', async () => {
    const t = await twoReleases({ second: (d) => d.slice(32), fSecond: T0 + 100 + 2 * DAY + 200 });
    const store = new MemoryStore();
    const now = T0 + 100 + 2 * DAY + 250;
    await openDatabase({ database: t.d2, bundle: t.b2, trust: t.net.trust, store, now });
    const b1now = await t.net.bundle(1);
    expect(await codeOf(openDatabase({ database: t.d1, bundle: b1now, trust: t.net.trust, store, now }))).toBe('rollback');
    // Re-opening the stored release is fine.
    expect(await codeOf(openDatabase({ database: t.d2, bundle: t.b2, trust: t.net.trust, store, now }))).toBe('accepted');
  });

  it('a different release with the same sequence → release-conflict', async () => {
    const s = await acceptedScenario();
    const store = new MemoryStore();
    await open(s, { store });
    const d = s.net.database(5, 'other');
    const twin = s.net.release({ database: d, entry: { sequence: 1, previous: null } });
    s.net.endorse('org-us', twin);
    s.net.endorse('org-fr', twin);
    await s.net.cosign(T0 + 200);
    await s.net.cosign(T0 + 200 + DAY);
    const bundle = await s.net.bundle('latest');
    const consistency = await proveConsistency(8, s.net.size, s.net.hashReader(s.net.size));
    expect(await codeOf(open(s, { store, database: d, bundle, consistency, now: T0 + 200 + DAY + 10 }))).toBe('release-conflict');
  });

  it('policy older or different than the stored one → policy-rollback, policy-conflict', async () => {
    const s = await acceptedScenario();
    const b = parseBundle(s.bundle);
    const base: DeviceState = {
      release: { sequence: 0, leaf: new Uint8Array(32), index: 0 },
      policy: { sequence: 2, leaf: seeded('policy 2') },
      checkpoint: b.checkpoint,
      clock: 0,
      database: new Uint8Array(0),
    };
    expect(await codeOf(open(s, { store: new MemoryStore(base) }))).toBe('policy-rollback');
    expect(await codeOf(open(s, { store: new MemoryStore({ ...base, policy: { sequence: 1, leaf: seeded('other policy 1') } }) }))).toBe('policy-conflict');
    expect(await codeOf(open(s, { store: new MemoryStore({ ...base, policy: { sequence: 1, leaf: b.policies[0]!.signed.leafHash } }) }))).toBe('accepted');
  });

  it('a forked checkpoint → fork, with both checkpoints as evidence', async () => {
    const a = await acceptedScenario(20, { seed: 'fork' });
    const b = await acceptedScenario(21, { seed: 'fork' }); // same keys and anchor, another history
    expect(equalBytes(a.net.trust.anchor, b.net.trust.anchor)).toBe(true);
    const store = new MemoryStore();
    await open(a, { store });
    // Same size, other root.
    let err: unknown;
    try {
      await open(b, { store });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DeviceError);
    const fe = err as DeviceError;
    expect(fe.code).toBe('fork');
    expect(equalBytes(fe.evidence!.stored, parseBundle(a.bundle).checkpoint)).toBe(true);
    expect(equalBytes(fe.evidence!.received, parseBundle(b.bundle).checkpoint)).toBe(true);
    // Larger: B grows; its own consistency proof from size 8 does not lead from A's root.
    b.net.contribute('org-us', b.database);
    await b.net.cosign(T0 + 100 + DAY + 20);
    const grown = await b.net.bundle();
    const consistency = await proveConsistency(8, 9, b.net.hashReader(9));
    expect(await codeOf(open({ ...b, bundle: grown }, { store, consistency }))).toBe('fork');
    expect(await codeOf(open({ ...b, bundle: grown }, { store }))).toBe('consistency-required');
  });

  it('supersession through /release/latest/bundle with the tiles consistency helper', async () => {
    const s = await acceptedScenario(20, { seed: 'fetch' });
    const net = s.net;
    const blobs = new Map<string, Uint8Array>([[toHex(sha256(s.database)), s.database]]);
    const fetch = async (url: string): Promise<FetchResponse> => {
      const path = new URL(url).pathname;
      let body: Uint8Array | null = null;
      if (path === '/release/latest/bundle') body = await net.bundle();
      else if (path.startsWith('/blob/sha256/')) body = blobs.get(path.slice(13)) ?? null;
      else if (path.startsWith('/tile/')) {
        const t = parseTilePath(path.slice(1));
        if (t.level !== 'entries') body = await tileData(t, net.hashReader(net.size));
      }
      const b = body;
      return {
        status: b === null ? 404 : 200,
        headers: { get: () => null },
        arrayBuffer: async () => (b ?? new Uint8Array(0)).slice().buffer,
      };
    };
    const client = new LogClient({ url: 'http://log.test', fetch });
    const store = new MemoryStore();
    const v1 = await updateFromLog({ client, trust: net.trust, store, now: s.now });
    expect(v1.sequence).toBe(1);
    // Release 2: a subset, published later; the device's stored F (size 8) is older.
    const d2 = s.database.slice(64);
    blobs.set(toHex(sha256(d2)), d2);
    const r2 = net.release({ database: d2, added: 0, removed: 2 });
    net.endorse('org-fr', r2);
    net.endorse('org-de', r2);
    await net.cosign(s.now + 10);
    const v2 = await updateFromLog({ client, trust: net.trust, store, now: s.now + 20 });
    expect(v2.sequence).toBe(2);
    expect(v2.acceptedWithoutNotice).toBe(true);
    const proof = await fetchConsistencyProof(client, (await store.get())!.checkpoint, parseBundle(s.bundle).checkpoint);
    expect(proof.length).toBeGreaterThan(0);
  });
});

describe('openDatabase: policy 2 by removal only', () => {
  it('drops a witness at once (no notice); lowering the quorum needs notice', async () => {
    const net = createNetwork({ witnesses: 6, policy: { witnessQuorum: 4 } });
    const p2 = net.proposePolicy({ witnesses: net.policy.witnesses.slice(0, 4), witnessQuorum: 3 });
    net.endorse('org-us', p2);
    net.endorse('org-fr', p2);
    net.govern(p2);
    const s = await scenario({ net, p: T0 + 200, f: T0 + 300 });
    expect(await codeOf(open(s))).toBe('policy-not-noticed');

    const net2 = createNetwork({ seed: 'drop', witnesses: 6, policy: { witnessQuorum: 4 } });
    const q2 = net2.proposePolicy({ witnesses: net2.policy.witnesses.slice(0, 5), witnessQuorum: 4 });
    net2.endorse('org-us', q2);
    net2.endorse('org-fr', q2);
    net2.govern(q2);
    const s2 = await scenario({ net: net2 });
    const v = await open(s2);
    expect(v.policy.sequence).toBe(2);
  });
});

describe('openDatabase: a release under an older policy', () => {
  it('is verified against F under the newest policy, with the release\'s own policy for the rest', async () => {
    const net = createNetwork({ seed: 'older', witnesses: 6, policy: { witnessQuorum: 4 } });
    const database = net.database(12);
    const release = net.release({ database });
    net.endorse('org-us', release);
    net.endorse('org-fr', release);
    await net.cosign(T0 + 100);
    // Policy 2 drops witness 6 (removal-only: in force at once).
    const dropped = net.witnesses[5]!.vkey;
    const p2 = net.proposePolicy({ witnesses: net.policy.witnesses.filter((w) => w.vkey !== dropped) });
    net.endorse('org-us', p2);
    net.endorse('org-de', p2);
    net.govern(p2);
    await net.cosign([T0 + DAY + 200, T0 + DAY + 200, T0 + DAY + 200, T0 + DAY + 200, undefined, T0 + DAY + 200]);
    const s = { net, database, release, bundle: await net.bundle(1), now: T0 + DAY + 250 };
    expect(parseBundle(s.bundle).policies.length).toBe(2);
    const store = new MemoryStore();
    const v = await open(s, { store });
    expect(v.policy.sequence).toBe(1);
    expect((await store.get())!.policy.sequence).toBe(2);
    // F cosigned by witnesses 1–3 and the dropped 6th: a quorum under policy 1, not under policy 2.
    const f = net.note(net.checkpointAt(net.size), (i) => i !== 3);
    expect(await codeOf(open(s, { bundle: mutate(s.bundle, (x) => setF(x, f)) }))).toBe('too-few-cosignatures');
  });
});

describe('openDatabase: hostile input', () => {
  it('a bundle with any one byte changed is refused with a DeviceError (or, if only an ignorable line changed, accepted as the same release)', async () => {
    // Signed-note rules ignore signature lines of unknown keys, so renaming one witness line of
    // P or F still leaves a valid bundle; nothing else may pass, and nothing but DeviceError escapes.
    const s = await acceptedScenario(10, { seed: 'fuzz' });
    const want = await open(s);
    await fc.assert(
      fc.asyncProperty(fc.nat(s.bundle.length - 1), fc.integer({ min: 1, max: 255 }), async (at, x) => {
        const b = s.bundle.slice();
        b[at]! ^= x;
        const store = new MemoryStore();
        let v;
        try {
          v = await open(s, { bundle: b, store });
        } catch (e) {
          if (!(e instanceof DeviceError)) throw e;
          expect(await store.get()).toBeUndefined();
          return;
        }
        expect(toHex(v.root)).toBe(toHex(want.root));
        expect(toHex(v.release.leaf)).toBe(toHex(want.release.leaf));
        expect(v.publishedAt).toBe(want.publishedAt);
      }),
      { numRuns: 200 },
    );
  });
});
