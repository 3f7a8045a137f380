// Tests for policy.ts: one test per policy rule that breaks exactly that rule,
// who may sign what, quorums, the removal-only relation, notice arithmetic
// (cross-checked with BigInt), policy-chain scenarios over real signed entries
// (siblings, notice, wrong endorsers, late endorsements) and contribution
// selection scenarios.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ristretto255 } from '@noble/curves/ed25519.js';
import {
  EntryError,
  formatEntryText,
  parseAuthorizationHeader,
  parseSignedEntry,
  signEntry,
  authorizationHeader,
  type ConcordEntry,
  type ContributionEntry,
  type EndorsementEntry,
  type PolicyEntry,
  type ReleaseEntry,
  type SignedEntry,
} from '@concord/client-sdk/entries';
import {
  PolicyChain,
  PolicyError,
  authorKeysFor,
  checkEntryLimits,
  checkReleaseContributions,
  checkReleaseSuccession,
  checkReleaseExpiry,
  checkReleasePolicy,
  countEndorsements,
  evaluateEndorsementQuorum,
  evaluateWitnessQuorum,
  isNoticed,
  isRemovalOnly,
  releaseNoticeRequired,
  scaledNotice,
  selectContributions,
  validatePolicy,
  verifyEntryAuthor,
  verifyRequestAuthor,
  type IndexedEntry,
  type NoticeQuery,
} from '@concord/client-sdk/policy';
import { generateKey, newSigner, signNote, type Signer } from '@concord/client-sdk/note';
import { generateCosignatureKey } from '@concord/client-sdk/cosignature';
import { EMPTY_ROOT } from '@concord/client-sdk/merkle';

// ---------------------------------------------------------------------------
// Fixtures

const ORIGIN = 'example.org/concord';

function seed(label: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`concord policy test ${label}`).digest());
}
function hash(label: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(label).digest());
}

const LOG = generateKey(ORIGIN, seed('log'));
const OP = generateKey(`${ORIGIN}/operator`, seed('operator'));
const OP2 = generateKey(`${ORIGIN}/operator`, seed('operator 2'));
type OrgName = 'cybertip' | 'iwf' | 'ncmec' | 'newco';
const ORG_KEYS: Record<OrgName, { skey: string; vkey: string; jurisdiction: string }> = {
  cybertip: { ...generateKey('cybertip', seed('cybertip')), jurisdiction: 'CA' },
  iwf: { ...generateKey('iwf', seed('iwf')), jurisdiction: 'GB' },
  ncmec: { ...generateKey('ncmec', seed('ncmec')), jurisdiction: 'US' },
  newco: { ...generateKey('newco', seed('newco')), jurisdiction: 'FR' },
};
const AUDITOR = generateKey('press.example', seed('auditor'));
const WITNESSES = ['w1.example', 'w2.example', 'w3.example', 'w4.example', 'w5.example', 'w6.example'].map((n) => ({
  ...generateCosignatureKey(n, seed(n)),
  url: `https://${n}/`,
}));
const BLINDING = ristretto255.Point.BASE.multiply(1111n).toBytes();
const BLINDING2 = ristretto255.Point.BASE.multiply(2222n).toBytes();

function orgLine(n: OrgName): PolicyEntry['orgs'][number] {
  return { name: n, jurisdiction: ORG_KEYS[n].jurisdiction, vkey: ORG_KEYS[n].vkey };
}

function witnessLines(n: number): PolicyEntry['witnesses'] {
  return WITNESSES.slice(0, n)
    .map((w) => ({ vkey: w.vkey, url: w.url }))
    .sort((a, b) => (a.vkey < b.vkey ? -1 : 1));
}

/** A valid policy 1 with orgs cybertip (CA), iwf (GB), ncmec (US) and 4 witnesses, quorum 3. */
function policy(over: Partial<PolicyEntry> = {}): PolicyEntry {
  return {
    type: 'policy',
    sequence: 1,
    previous: null,
    log: LOG.vkey,
    operator: OP.vkey,
    hashAlgorithm: 'pdq-256',
    blindingKey: BLINDING,
    minOrgs: 2,
    minJurisdictions: 2,
    endorsementQuorum: { orgs: 2, jurisdictions: 2 },
    noticePeriod: 86400,
    maxCheckpointAge: 3600,
    maxReleaseAge: 604800,
    maxEntries: 1000,
    maxAdded: 100,
    oprfLimit: 10000,
    orgs: (['cybertip', 'iwf', 'ncmec'] as const).map(orgLine),
    auditors: [{ name: 'press.example', vkey: AUDITOR.vkey }],
    witnesses: witnessLines(4),
    witnessQuorum: 3,
    ...over,
  };
}

/** Signs with the given key without signEntry's own-org check (to forge wrong authors). */
function signWith(e: ConcordEntry, skey: string): SignedEntry {
  return parseSignedEntry(signNote(formatEntryText(e), [newSigner(skey)]));
}

function endorsement(org: OrgName, subject: SignedEntry, over: Partial<EndorsementEntry['subject']> = {}): SignedEntry {
  const e = subject.entry;
  if (e.type !== 'policy' && e.type !== 'release') throw new Error('subject must be a policy or release');
  const entry: EndorsementEntry = {
    type: 'endorsement',
    org,
    subject: { kind: e.type, sequence: e.sequence, leaf: subject.leafHash, ...over },
  };
  return parseSignedEntry(signEntry(entry, newSigner(ORG_KEYS[org].skey)));
}

function contribution(org: OrgName, sequence: number, policyLeaf: Uint8Array, over: Partial<ContributionEntry> = {}): ContributionEntry {
  return {
    type: 'contribution',
    org,
    sequence,
    policy: policyLeaf,
    set: { root: hash(`set ${org} ${sequence}`), count: 10 },
    blob: hash(`blob ${org} ${sequence}`),
    expires: 2000,
    ...over,
  };
}

function signedContribution(c: ContributionEntry): SignedEntry {
  return parseSignedEntry(signEntry(c, newSigner(ORG_KEYS[c.org as OrgName].skey)));
}

/** A log under construction: entries at consecutive indexes. */
class TestLog {
  readonly entries: SignedEntry[] = [];
  add(se: SignedEntry): IndexedEntry {
    this.entries.push(se);
    return { signed: se, index: this.entries.length - 1 };
  }
  chain(opts: Partial<ConstructorParameters<typeof PolicyChain>[0]> = {}): PolicyChain {
    const c = new PolicyChain({ origin: ORIGIN, ...opts });
    this.entries.forEach((se, i) => c.add(se, i));
    return c;
  }
}

function expectPolicyError(fn: () => unknown, code: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected PolicyError ${code}`).toBeInstanceOf(PolicyError);
  expect((err as PolicyError).code, (err as Error).message).toBe(code);
}

const P1 = policy();
const P1S = parseSignedEntry(signEntry(P1, newSigner(OP.skey)));

/** Policy 2 following P1 with overrides. */
function next(over: Partial<PolicyEntry> = {}, prev: SignedEntry = P1S): PolicyEntry {
  const p = prev.entry as PolicyEntry;
  return { ...p, sequence: p.sequence + 1, previous: prev.leafHash, ...over };
}

// ---------------------------------------------------------------------------

describe('validatePolicy', () => {
  it('accepts the base policy and boundary witness counts', () => {
    validatePolicy(P1, ORIGIN);
    validatePolicy(policy({ witnesses: witnessLines(5), witnessQuorum: 4 }), ORIGIN);
    validatePolicy(policy({ witnesses: witnessLines(6), witnessQuorum: 4 }), ORIGIN);
    validatePolicy(policy({ witnesses: witnessLines(6), witnessQuorum: 5 }), ORIGIN);
    validatePolicy(policy({ endorsementQuorum: { orgs: 3, jurisdictions: 3 }, minOrgs: 3, minJurisdictions: 3 }), ORIGIN);
    validatePolicy(policy({ noticePeriod: 0, oprfLimit: 0 }), ORIGIN);
  });
  const cases: [string, Partial<PolicyEntry>, string][] = [
    ['min-orgs 1', { minOrgs: 1 }, 'min-orgs-too-low'],
    ['min-orgs 0', { minOrgs: 0 }, 'min-orgs-too-low'],
    ['min-jurisdictions 1', { minJurisdictions: 1 }, 'min-jurisdictions-too-low'],
    ['endorsement quorum of 1 org', { endorsementQuorum: { orgs: 1, jurisdictions: 2 } }, 'endorsement-orgs-too-low'],
    ['endorsement quorum of 1 jurisdiction', { endorsementQuorum: { orgs: 2, jurisdictions: 1 } }, 'endorsement-jurisdictions-too-low'],
    ['N=4 k=2: 2k−N = 0', { witnessQuorum: 2 }, 'witness-quorum-too-low'],
    ['N=3 k=2: 2k−N = 1', { witnesses: witnessLines(3), witnessQuorum: 2 }, 'witness-quorum-too-low'],
    ['N=5 k=3: 2k−N = 1', { witnesses: witnessLines(5), witnessQuorum: 3 }, 'witness-quorum-too-low'],
    ['no witnesses', { witnesses: [], witnessQuorum: 0 }, 'witness-quorum-too-low'],
    ['N=4 k=4: N−k = 0', { witnessQuorum: 4 }, 'witness-quorum-too-high'],
    ['N=3 k=3: N−k = 0', { witnesses: witnessLines(3), witnessQuorum: 3 }, 'witness-quorum-too-high'],
    ['max-entries 0', { maxEntries: 0 }, 'bad-limit'],
    ['max-added 0', { maxAdded: 0 }, 'bad-limit'],
    ['max-checkpoint-age 0', { maxCheckpointAge: 0 }, 'bad-limit'],
    ['max-release-age 0', { maxReleaseAge: 0 }, 'bad-limit'],
    ['log key named otherwise', { log: generateKey('other.org/concord', seed('log')).vkey }, 'bad-log-key-name'],
    ['operator key named otherwise', { operator: generateKey(`${ORIGIN}/ops`, seed('operator')).vkey }, 'bad-operator-key-name'],
    ['operator key named the origin', { operator: generateKey(ORIGIN, seed('operator')).vkey }, 'bad-operator-key-name'],
    [
      'an auditor with an org name',
      { auditors: [{ name: 'iwf', vkey: generateKey('iwf', seed('iwf auditor')).vkey }] },
      'duplicate-key-name',
    ],
    [
      'a witness with an org name',
      {
        witnesses: [...witnessLines(4), { vkey: generateCosignatureKey('iwf', seed('w-iwf')).vkey, url: 'https://iwf.example/' }].sort((a, b) =>
          a.vkey < b.vkey ? -1 : 1,
        ),
        witnessQuorum: 4,
      },
      'duplicate-key-name',
    ],
    [
      'two witnesses with one public key',
      {
        witnesses: [
          ...witnessLines(3),
          { vkey: generateCosignatureKey('w9.example', seed('w1.example')).vkey, url: 'https://w9.example/' },
        ].sort((a, b) => (a.vkey < b.vkey ? -1 : 1)),
      },
      'duplicate-key',
    ],
    [
      "a witness using an org's public key",
      {
        witnesses: [
          ...witnessLines(3),
          { vkey: generateCosignatureKey('w9.example', seed('ncmec')).vkey, url: 'https://w9.example/' },
        ].sort((a, b) => (a.vkey < b.vkey ? -1 : 1)),
      },
      'duplicate-key',
    ],
    ['log and operator share a key', { operator: generateKey(`${ORIGIN}/operator`, seed('log')).vkey }, 'duplicate-key'],
    ['endorsement quorum of 4 of 3 orgs', { endorsementQuorum: { orgs: 4, jurisdictions: 2 } }, 'endorsement-quorum-unsatisfiable'],
    ['endorsement quorum of 4 of 3 jurisdictions', { endorsementQuorum: { orgs: 3, jurisdictions: 4 } }, 'endorsement-quorum-unsatisfiable'],
    ['min-orgs 4 of 3', { minOrgs: 4 }, 'min-orgs-unsatisfiable'],
    ['min-jurisdictions 4 of 3', { minJurisdictions: 4 }, 'min-orgs-unsatisfiable'],
  ];
  for (const [name, over, code] of cases) {
    it(`${code}: ${name}`, () => expectPolicyError(() => validatePolicy(policy(over), ORIGIN), code));
  }
  it('bad-log-key-name against another origin', () => {
    expectPolicyError(() => validatePolicy(P1, 'other.org/concord'), 'bad-log-key-name');
  });
  it('jurisdictions are counted distinct', () => {
    // Two US orgs and one GB org: 3 orgs but 2 jurisdictions.
    const us2 = generateKey('ncmec-2', seed('ncmec-2'));
    const orgs = [orgLine('iwf'), orgLine('ncmec'), { name: 'ncmec-2', jurisdiction: 'US', vkey: us2.vkey }];
    validatePolicy(policy({ orgs, endorsementQuorum: { orgs: 3, jurisdictions: 2 } }), ORIGIN);
    expectPolicyError(() => validatePolicy(policy({ orgs, endorsementQuorum: { orgs: 3, jurisdictions: 3 } }), ORIGIN), 'endorsement-quorum-unsatisfiable');
  });
  it('duplicate-key-id: two names whose key IDs collide under one public key', () => {
    // Birthday search for a key-ID collision (SHA-256(name ‖ "\n" ‖ 0x04 ‖ pk)[:4]) with node:crypto.
    const base = generateCosignatureKey('c0', seed('collide'));
    const pk = Buffer.from(base.vkey.split('+')[2]!, 'base64'); // 0x04 ‖ pk
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; i < 1_000_000 && pair === undefined; i++) {
      const name = `c${i}`;
      const id = createHash('sha256').update(Buffer.concat([Buffer.from(name + '\n'), pk])).digest().readUInt32BE(0);
      const other = seen.get(id);
      if (other !== undefined) pair = [other, name];
      seen.set(id, name);
    }
    expect(pair).toBeDefined();
    const [a, b] = pair!.map((n) => generateCosignatureKey(n, seed('collide')).vkey) as [string, string];
    expect(a.split('+')[1]).toBe(b.split('+')[1]);
    const witnesses = [...witnessLines(3), { vkey: a, url: 'https://a.example/' }, { vkey: b, url: 'https://b.example/' }].sort((x, y) =>
      x.vkey < y.vkey ? -1 : 1,
    );
    expectPolicyError(() => validatePolicy(policy({ witnesses, witnessQuorum: 4 }), ORIGIN), 'duplicate-key-id');
  });
  it('field rules come from the entry format (EntryError)', () => {
    let err: unknown;
    try {
      validatePolicy(policy({ orgs: [orgLine('ncmec'), orgLine('iwf')] }), ORIGIN);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EntryError);
    expect((err as EntryError).code).toBe('not-canonical');
  });
});

describe('who may sign what', () => {
  const inForce = { entry: P1, leaf: P1S.leafHash };
  it('policy 1 by its own operator', () => {
    expect(authorKeysFor(P1, undefined)).toEqual([OP.vkey]);
    expect(verifyEntryAuthor(P1S, undefined)).toBe(OP.vkey);
    expectPolicyError(() => verifyEntryAuthor(signWith(P1, LOG.skey), undefined), 'wrong-author');
    expectPolicyError(() => authorKeysFor(next(), undefined), 'bad-policy-sequence');
  });
  it('policy n by the operator of n−1 or of n', () => {
    const rotated = next({ operator: OP2.vkey });
    expect(authorKeysFor(rotated, inForce)).toEqual([OP.vkey, OP2.vkey]);
    expect(authorKeysFor(next(), inForce)).toEqual([OP.vkey]);
    expect(verifyEntryAuthor(signWith(rotated, OP.skey), inForce)).toBe(OP.vkey);
    expect(verifyEntryAuthor(signWith(rotated, OP2.skey), inForce)).toBe(OP2.vkey);
    expectPolicyError(() => verifyEntryAuthor(signWith(next(), OP2.skey), inForce), 'wrong-author');
    expectPolicyError(() => verifyEntryAuthor(signWith(next(), ORG_KEYS.iwf.skey), inForce), 'wrong-author');
    expectPolicyError(() => authorKeysFor({ ...next(), sequence: 3 }, inForce), 'bad-policy-sequence');
    expectPolicyError(() => authorKeysFor(P1, inForce), 'bad-policy-sequence');
    expectPolicyError(() => authorKeysFor(next({ previous: hash('x') }), inForce), 'bad-previous');
  });
  it('releases by the operator', () => {
    const release: ReleaseEntry = {
      type: 'release',
      sequence: 1,
      previous: null,
      policy: P1S.leafHash,
      contributions: [],
      exclude: null,
      database: { root: EMPTY_ROOT, count: 0 },
      added: 0,
      removed: 0,
      blob: hash(''),
      expires: 10,
    };
    expect(verifyEntryAuthor(signWith(release, OP.skey), inForce)).toBe(OP.vkey);
    expectPolicyError(() => verifyEntryAuthor(signWith(release, LOG.skey), inForce), 'wrong-author');
    expectPolicyError(() => authorKeysFor(release, undefined), 'no-policy');
  });
  it('contributions and endorsements by the named org of the policy in force', () => {
    const c = contribution('iwf', 1, P1S.leafHash);
    expect(verifyEntryAuthor(signedContribution(c), inForce)).toBe(ORG_KEYS.iwf.vkey);
    expectPolicyError(() => verifyEntryAuthor(signWith(c, ORG_KEYS.ncmec.skey), inForce), 'wrong-author');
    expectPolicyError(() => authorKeysFor(contribution('newco', 1, P1S.leafHash), inForce), 'unknown-org');
    const e = endorsement('ncmec', P1S);
    expect(verifyEntryAuthor(e, inForce)).toBe(ORG_KEYS.ncmec.vkey);
    // A key of the right name but not the one in the policy: wrong author.
    const impostor = generateKey('ncmec', seed('impostor'));
    expectPolicyError(() => verifyEntryAuthor(signWith(e.entry, impostor.skey), inForce), 'wrong-author');
  });
  it('a valid-looking signature that does not verify is an EntryError', () => {
    const se = signedContribution(contribution('iwf', 1, P1S.leafHash));
    const sig = se.signature.signature.slice();
    sig[0]! ^= 1;
    let err: unknown;
    try {
      verifyEntryAuthor({ ...se, signature: { ...se.signature, signature: sig } }, inForce);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EntryError);
    expect((err as EntryError).code).toBe('invalid-signature');
  });
  it('request notes by an org, an auditor or the operator', () => {
    const req = { origin: ORIGIN, method: 'POST', path: '/oprf/evaluate', bodySha256: hash('{}'), time: 1, nonce: new Uint8Array(16) };
    const sign = (skey: string): ReturnType<typeof parseAuthorizationHeader> => parseAuthorizationHeader(authorizationHeader(req, newSigner(skey)));
    expect(verifyRequestAuthor(sign(ORG_KEYS.iwf.skey), P1)).toEqual({ role: 'org', name: 'iwf', vkey: ORG_KEYS.iwf.vkey });
    expect(verifyRequestAuthor(sign(AUDITOR.skey), P1)).toEqual({ role: 'auditor', name: 'press.example', vkey: AUDITOR.vkey });
    expect(verifyRequestAuthor(sign(OP.skey), P1)).toEqual({ role: 'operator', name: `${ORIGIN}/operator`, vkey: OP.vkey });
    expectPolicyError(() => verifyRequestAuthor(sign(LOG.skey), P1), 'unknown-requester');
    expectPolicyError(() => verifyRequestAuthor(sign(ORG_KEYS.newco.skey), P1), 'unknown-requester');
  });
});

describe('quorums', () => {
  it('endorsement quorum: k distinct orgs of the policy spanning j jurisdictions', () => {
    expect(evaluateEndorsementQuorum(P1, ['iwf', 'ncmec'])).toEqual({ met: true, orgs: ['iwf', 'ncmec'], jurisdictions: ['GB', 'US'] });
    expect(evaluateEndorsementQuorum(P1, ['iwf', 'iwf'])).toEqual({ met: false, orgs: ['iwf'], jurisdictions: ['GB'] });
    expect(evaluateEndorsementQuorum(P1, ['iwf', 'newco'])).toEqual({ met: false, orgs: ['iwf'], jurisdictions: ['GB'] });
    expect(evaluateEndorsementQuorum(P1, [])).toEqual({ met: false, orgs: [], jurisdictions: [] });
    const us2 = generateKey('ncmec-2', seed('ncmec-2'));
    const twoUS = policy({
      orgs: [orgLine('iwf'), orgLine('ncmec'), { name: 'ncmec-2', jurisdiction: 'US', vkey: us2.vkey }],
      endorsementQuorum: { orgs: 2, jurisdictions: 2 },
    });
    expect(evaluateEndorsementQuorum(twoUS, ['ncmec', 'ncmec-2']).met).toBe(false);
    expect(evaluateEndorsementQuorum(twoUS, ['ncmec', 'ncmec-2', 'iwf'])).toEqual({
      met: true,
      orgs: ['iwf', 'ncmec', 'ncmec-2'],
      jurisdictions: ['GB', 'US'],
    });
  });
  it('witness quorum: k distinct listed witnesses', () => {
    const [a, b, c] = P1.witnesses.map((w) => w.vkey) as [string, string, string];
    const other = WITNESSES[5]!.vkey;
    expect(evaluateWitnessQuorum(P1, [a, b, c].map((witness) => ({ witness, time: 1 })))).toEqual({ met: true, witnesses: [a, b, c].sort() });
    expect(evaluateWitnessQuorum(P1, [a, b, a, b, other].map((witness, time) => ({ witness, time }))).met).toBe(false);
    expect(evaluateWitnessQuorum(P1, []).met).toBe(false);
  });
});

describe('removal-only', () => {
  it('identical and pure removals need no notice', () => {
    expect(isRemovalOnly(P1, P1)).toBe(true);
    expect(isRemovalOnly(P1, { ...P1, orgs: P1.orgs.slice(1) })).toBe(true);
    expect(isRemovalOnly(P1, { ...P1, auditors: [] })).toBe(true);
    expect(isRemovalOnly(P1, { ...P1, witnesses: P1.witnesses.slice(1) })).toBe(true);
  });
  it('added or changed lines and keys need notice', () => {
    expect(isRemovalOnly(P1, { ...P1, orgs: [...P1.orgs, orgLine('newco')] })).toBe(false);
    expect(isRemovalOnly(P1, { ...P1, orgs: P1.orgs.map((o) => (o.name === 'iwf' ? { ...o, jurisdiction: 'IE' } : o)) })).toBe(false);
    expect(isRemovalOnly(P1, { ...P1, auditors: [...P1.auditors, { name: 'x', vkey: generateKey('x', seed('x')).vkey }] })).toBe(false);
    expect(isRemovalOnly(P1, { ...P1, witnesses: witnessLines(5) })).toBe(false);
    expect(isRemovalOnly(P1, { ...P1, witnesses: P1.witnesses.map((w, i) => (i === 0 ? { ...w, url: 'https://elsewhere/' } : w)) })).toBe(false);
    expect(isRemovalOnly(P1, { ...P1, operator: OP2.vkey })).toBe(false);
    expect(isRemovalOnly(P1, { ...P1, log: generateKey(ORIGIN, seed('log 2')).vkey })).toBe(false);
    expect(isRemovalOnly(P1, { ...P1, blindingKey: BLINDING2 })).toBe(false);
    expect(isRemovalOnly(P1, { ...P1, hashAlgorithm: 'neuralhash-96' })).toBe(false);
  });
  const up: (keyof PolicyEntry)[] = ['minOrgs', 'minJurisdictions', 'witnessQuorum', 'noticePeriod'];
  const down: (keyof PolicyEntry)[] = ['maxCheckpointAge', 'maxReleaseAge', 'maxEntries', 'maxAdded', 'oprfLimit'];
  for (const f of up) {
    it(`${f} may only rise`, () => {
      expect(isRemovalOnly(P1, { ...P1, [f]: (P1[f] as number) + 1 })).toBe(true);
      expect(isRemovalOnly(P1, { ...P1, [f]: (P1[f] as number) - 1 })).toBe(false);
    });
  }
  for (const f of down) {
    it(`${f} may only fall`, () => {
      expect(isRemovalOnly(P1, { ...P1, [f]: (P1[f] as number) - 1 })).toBe(true);
      expect(isRemovalOnly(P1, { ...P1, [f]: (P1[f] as number) + 1 })).toBe(false);
    });
  }
  it('endorsement quorum numbers may only rise', () => {
    expect(isRemovalOnly(P1, { ...P1, endorsementQuorum: { orgs: 3, jurisdictions: 2 } })).toBe(true);
    expect(isRemovalOnly(P1, { ...P1, endorsementQuorum: { orgs: 2, jurisdictions: 3 } })).toBe(true);
    const high = { ...P1, endorsementQuorum: { orgs: 3, jurisdictions: 3 } };
    expect(isRemovalOnly(high, { ...high, endorsementQuorum: { orgs: 2, jurisdictions: 3 } })).toBe(false);
    expect(isRemovalOnly(high, { ...high, endorsementQuorum: { orgs: 3, jurisdictions: 2 } })).toBe(false);
  });
});

describe('notice and expiry arithmetic', () => {
  it('exact values', () => {
    expect(scaledNotice(100, 0, 10)).toBe(100);
    expect(scaledNotice(100, 10, 10)).toBe(100);
    expect(scaledNotice(100, 11, 10)).toBe(200);
    expect(scaledNotice(100, 25, 10)).toBe(300);
    expect(scaledNotice(0, 1000, 1)).toBe(0);
    expect(scaledNotice(2 ** 52, 3, 1)).toBe(Infinity);
    expect(scaledNotice(1, Number.MAX_SAFE_INTEGER, 1)).toBe(Number.MAX_SAFE_INTEGER);
    expect(releaseNoticeRequired(P1, 250)).toBe(86400 * 3);
    expect(releaseNoticeRequired(P1, 0)).toBe(86400);
  });
  it('scaledNotice equals the BigInt computation', () => {
    const n = fc.oneof(fc.nat(1000), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
    fc.assert(
      fc.property(n, n, fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })), (notice, added, maxAdded) => {
        const a = BigInt(added);
        const b = BigInt(maxAdded);
        let m = (a + b - 1n) / b;
        if (m < 1n) m = 1n;
        const want = BigInt(notice) * m;
        expect(scaledNotice(notice, added, maxAdded)).toBe(want > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(want));
      }),
      { numRuns: 2000 },
    );
  });
  it('isNoticed compares the difference', () => {
    expect(isNoticed(1000, 1100, 100)).toBe(true);
    expect(isNoticed(1000, 1099, 100)).toBe(false);
    expect(isNoticed(Number.MAX_SAFE_INTEGER - 5, Number.MAX_SAFE_INTEGER, 5)).toBe(true);
    expect(isNoticed(0, Number.MAX_SAFE_INTEGER, Infinity)).toBe(false);
  });
  it('a release expires at most max-release-age after publication', () => {
    const r = { expires: 1000 + P1.maxReleaseAge } as ReleaseEntry;
    checkReleaseExpiry(r, 1000, P1);
    expectPolicyError(() => checkReleaseExpiry(r, 999, P1), 'release-expires-too-late');
  });
});

describe('release rules', () => {
  const r1: ReleaseEntry = {
    type: 'release',
    sequence: 1,
    previous: null,
    policy: hash('p'),
    contributions: [],
    exclude: null,
    database: { root: hash('db'), count: 1000 },
    added: 1000,
    removed: 0,
    blob: hash('blob'),
    expires: 10,
  };
  it('max-entries caps databases and contributions', () => {
    checkEntryLimits(r1, P1);
    expectPolicyError(() => checkEntryLimits({ ...r1, database: { root: hash('db'), count: 1001 } }, P1), 'too-many-entries');
    checkEntryLimits(contribution('iwf', 1, hash('p'), { set: { root: hash('s'), count: 1000 } }), P1);
    expectPolicyError(() => checkEntryLimits(contribution('iwf', 1, hash('p'), { set: { root: hash('s'), count: 1001 } }), P1), 'too-many-entries');
    checkEntryLimits(P1, P1);
  });
  it('release n follows release n−1', () => {
    const r1leaf = hash('r1 leaf');
    const r2: ReleaseEntry = { ...r1, sequence: 2, previous: r1leaf, added: 0 };
    checkReleaseSuccession(undefined, r1);
    checkReleaseSuccession({ entry: r1, leaf: r1leaf }, r2);
    expectPolicyError(() => checkReleaseSuccession(undefined, r2), 'bad-release-sequence');
    expectPolicyError(() => checkReleaseSuccession({ entry: r1, leaf: r1leaf }, r1), 'bad-release-sequence');
    expectPolicyError(() => checkReleaseSuccession({ entry: r1, leaf: r1leaf }, { ...r2, sequence: 3 }), 'bad-release-sequence');
    expectPolicyError(() => checkReleaseSuccession({ entry: r1, leaf: r1leaf }, { ...r2, previous: hash('other') }), 'bad-previous');
  });
});

// ---------------------------------------------------------------------------
// The policy chain

describe('PolicyChain', () => {
  const nonRemoval = next({ orgs: [...P1.orgs, orgLine('newco')].sort((a, b) => (a.name < b.name ? -1 : 1)) });
  const removal = next({ orgs: [orgLine('iwf'), orgLine('ncmec')] });

  it('policy 1 is in force from its own index', () => {
    const log = new TestLog();
    log.add(signedContribution(contribution('iwf', 1, hash('x'))));
    log.add(P1S);
    const chain = log.chain();
    expect(chain.policyAt(0)).toBeUndefined();
    expect(chain.policyAt(1)?.leaf).toEqual(P1S.leafHash);
    expect(chain.current()?.activeFrom).toBe(1);
    expect(chain.byLeaf(P1S.leafHash)?.index).toBe(1);
  });

  it('a policy 1 not signed by its own operator, or invalid, is no anchor', () => {
    const log = new TestLog();
    log.add(signWith(P1, LOG.skey));
    log.add(parseSignedEntry(signEntry(policy({ witnessQuorum: 2 }), newSigner(OP.skey))));
    expect(log.chain().current()).toBeUndefined();
    log.add(P1S);
    expect(log.chain().current()?.index).toBe(2);
  });

  it('the anchor option picks policy 1 among several; without it the first wins', () => {
    const other = parseSignedEntry(signEntry(policy({ noticePeriod: 5 }), newSigner(OP.skey)));
    const log = new TestLog();
    log.add(P1S);
    log.add(other);
    expect(log.chain().current()?.leaf).toEqual(P1S.leafHash);
    expect(log.chain({ anchor: other.leafHash }).current()?.leaf).toEqual(other.leafHash);
    expect(log.chain({ anchor: hash('nothing') }).current()).toBeUndefined();
  });

  it('a non-removal policy needs its quorum and its notice', () => {
    const log = new TestLog();
    log.add(P1S);
    const p2 = log.add(parseSignedEntry(signEntry(nonRemoval, newSigner(OP.skey))));
    log.add(endorsement('iwf', p2.signed));
    expect(log.chain({ noticedFrom: () => 0 }).current()?.entry.sequence).toBe(1); // one org is no quorum
    log.add(endorsement('ncmec', p2.signed)); // index 3: GB + US
    // Never noticed: pending, policy 1 stays in force.
    const c0 = log.chain();
    expect(c0.current()?.entry.sequence).toBe(1);
    expect(c0.policyAt(1000)?.entry.sequence).toBe(1);
    expect(c0.pending()).toMatchObject({ index: 1, quorumIndex: 3 });
    // Noticed "now": in force from the index after the quorum.
    const queries: NoticeQuery[] = [];
    const c1 = log.chain({
      noticedFrom: (q) => {
        queries.push(q);
        return 0;
      },
    });
    expect(c1.policyAt(3)?.entry.sequence).toBe(1);
    expect(c1.policyAt(4)?.entry.sequence).toBe(2);
    expect(c1.current()).toMatchObject({ index: 1, activeFrom: 4, quorumIndex: 3, removalOnly: false });
    expect(c1.pending()).toBeUndefined();
    expect(queries.length).toBeGreaterThan(0);
    expect(queries[0]!.noticePeriod).toBe(P1.noticePeriod);
    expect(queries[0]!.quorumIndex).toBe(3);
    expect(queries[0]!.predecessor.leaf).toEqual(P1S.leafHash);
    expect(queries[0]!.policy.leaf).toEqual(p2.signed.leafHash);
    expect(queries[0]!.endorsements.map((e) => e.index)).toEqual([2, 3]);
    // Noticed from a later checkpoint size.
    const c2 = log.chain({ noticedFrom: () => 10 });
    expect(c2.policyAt(9)?.entry.sequence).toBe(1);
    expect(c2.policyAt(10)?.entry.sequence).toBe(2);
  });

  it('the notice callback is consulted again until it answers', () => {
    const log = new TestLog();
    log.add(P1S);
    const p2 = log.add(parseSignedEntry(signEntry(nonRemoval, newSigner(OP.skey))));
    log.add(endorsement('iwf', p2.signed));
    log.add(endorsement('ncmec', p2.signed));
    let noticed: number | undefined;
    const chain = log.chain({ noticedFrom: () => noticed });
    expect(chain.current()?.entry.sequence).toBe(1);
    noticed = 7;
    expect(chain.current()?.entry.sequence).toBe(2);
    expect(chain.current()?.activeFrom).toBe(7);
  });

  it('a removal-only policy takes force without notice', () => {
    const log = new TestLog();
    log.add(P1S);
    const p2 = log.add(parseSignedEntry(signEntry(removal, newSigner(OP.skey))));
    log.add(endorsement('iwf', p2.signed));
    log.add(endorsement('cybertip', p2.signed)); // CA + GB; cybertip is dropped by p2 but is an org of p1
    let calls = 0;
    const chain = log.chain({ noticedFrom: () => (calls++, undefined) });
    expect(chain.current()).toMatchObject({ activeFrom: 4, quorumIndex: 3, removalOnly: true });
    expect(calls).toBe(0);
  });

  it('only endorsements by orgs of policy n−1, with their keys there, count', () => {
    const log = new TestLog();
    log.add(P1S);
    const p2 = log.add(parseSignedEntry(signEntry(nonRemoval, newSigner(OP.skey))));
    log.add(endorsement('newco', p2.signed)); // newco is an org of p2, not of p1
    log.add(endorsement('iwf', p2.signed));
    log.add(endorsement('iwf', p2.signed)); // the same org twice
    const impostor = generateKey('ncmec', seed('impostor'));
    log.add(signWith((endorsement('ncmec', p2.signed).entry as EndorsementEntry), impostor.skey)); // right name, wrong key
    log.add(endorsement('ncmec', p2.signed, { kind: 'release' })); // wrong kind
    log.add(endorsement('ncmec', p2.signed, { sequence: 3 })); // wrong sequence
    log.add(endorsement('ncmec', p2.signed, { leaf: hash('other') })); // wrong leaf
    expect(log.chain({ noticedFrom: () => 0 }).current()?.entry.sequence).toBe(1);
    log.add(endorsement('ncmec', p2.signed)); // index 9
    expect(log.chain({ noticedFrom: () => 0 }).current()).toMatchObject({ quorumIndex: 9, activeFrom: 10 });
  });

  it('an endorsement sequenced before its subject does not count', () => {
    const p2 = parseSignedEntry(signEntry(removal, newSigner(OP.skey)));
    const log = new TestLog();
    log.add(P1S);
    log.add(endorsement('iwf', p2)); // index 1, before p2 exists in the log
    log.add(p2);
    log.add(endorsement('ncmec', p2));
    expect(log.chain().current()?.entry.sequence).toBe(1);
    log.add(endorsement('iwf', p2));
    expect(log.chain().current()).toMatchObject({ quorumIndex: 4 });
  });

  it('policy n must be signed by the operator of n−1 or n, be valid, and name n−1', () => {
    const rotated = next({ operator: OP2.vkey, orgs: [orgLine('iwf'), orgLine('ncmec')] });
    const cases: [SignedEntry, boolean][] = [
      [signWith(removal, ORG_KEYS.iwf.skey), false],
      [signWith(removal, OP2.skey), false], // OP2 is neither p1's nor this policy's operator
      [signWith(rotated, OP2.skey), true], // the new operator signs its own policy
      [signWith(rotated, OP.skey), true],
      [signWith(next({ witnessQuorum: 2 }), OP.skey), false], // invalid policy
      [signWith({ ...removal, previous: hash('elsewhere') }, OP.skey), false],
      [signWith({ ...removal, sequence: 3 }, OP.skey), false],
    ];
    for (const [p2, ok] of cases) {
      const log = new TestLog();
      log.add(P1S);
      log.add(p2);
      log.add(endorsement('iwf', p2));
      log.add(endorsement('ncmec', p2));
      const c = log.chain({ noticedFrom: () => 0 });
      expect(c.current()?.leaf, JSON.stringify(p2.text.split('\n').slice(0, 2))).toEqual(ok ? p2.leafHash : P1S.leafHash);
    }
  });

  it('siblings: the first to reach quorum wins; later endorsements of the other change nothing', () => {
    const a = parseSignedEntry(signEntry(removal, newSigner(OP.skey)));
    const b = parseSignedEntry(signEntry(next({ noticePeriod: P1.noticePeriod + 1 }), newSigner(OP.skey)));
    const log = new TestLog();
    log.add(P1S); // 0
    log.add(a); // 1
    log.add(b); // 2
    log.add(endorsement('iwf', a)); // 3
    log.add(endorsement('iwf', b)); // 4
    log.add(endorsement('ncmec', b)); // 5: b reaches quorum
    log.add(endorsement('ncmec', a)); // 6: a reaches its quorum after b
    log.add(endorsement('cybertip', a)); // 7
    const chain = log.chain();
    expect(chain.current()?.leaf).toEqual(b.leafHash);
    expect(chain.current()).toMatchObject({ quorumIndex: 5, activeFrom: 6 });
    expect(chain.byLeaf(a.leafHash)).toBeUndefined();
    expect(chain.inForce().map((p) => p.entry.sequence)).toEqual([1, 2]);
    // A policy 3 that follows the losing sibling never forms; one that follows b does.
    const afterA = parseSignedEntry(signEntry(next({ orgs: [orgLine('iwf'), orgLine('ncmec')] }, a), newSigner(OP.skey)));
    const afterB = parseSignedEntry(signEntry(next({ orgs: [orgLine('cybertip'), orgLine('iwf')] }, b), newSigner(OP.skey)));
    log.add(afterA); // 8
    log.add(endorsement('iwf', afterA));
    log.add(endorsement('ncmec', afterA));
    expect(log.chain().current()?.leaf).toEqual(b.leafHash);
    log.add(afterB); // 11
    log.add(endorsement('cybertip', afterB));
    log.add(endorsement('ncmec', afterB)); // 13
    const c3 = log.chain();
    expect(c3.current()?.leaf).toEqual(afterB.leafHash);
    expect(c3.policyAt(13)?.leaf).toEqual(b.leafHash);
    expect(c3.policyAt(14)?.leaf).toEqual(afterB.leafHash);
  });

  it('a sibling that reaches quorum first blocks even while it waits for notice', () => {
    const slow = parseSignedEntry(signEntry(nonRemoval, newSigner(OP.skey)));
    const fast = parseSignedEntry(signEntry(removal, newSigner(OP.skey)));
    const log = new TestLog();
    log.add(P1S);
    log.add(slow);
    log.add(fast);
    log.add(endorsement('iwf', slow));
    log.add(endorsement('ncmec', slow)); // 4: slow has its quorum, not its notice
    log.add(endorsement('iwf', fast));
    log.add(endorsement('ncmec', fast)); // removal-only, but second
    const chain = log.chain();
    expect(chain.current()?.leaf).toEqual(P1S.leafHash);
    expect(chain.pending()?.leaf).toEqual(slow.leafHash);
    expect(log.chain({ noticedFrom: () => 0 }).current()?.leaf).toEqual(slow.leafHash);
  });

  it('policy n+1 is valid only if sequenced while policy n is in force', () => {
    const p2 = parseSignedEntry(signEntry(nonRemoval, newSigner(OP.skey)));
    const p3 = parseSignedEntry(signEntry(next({ orgs: [orgLine('iwf'), orgLine('ncmec'), orgLine('newco')] }, p2), newSigner(OP.skey)));
    const log = new TestLog();
    log.add(P1S); // 0
    log.add(p2); // 1
    log.add(endorsement('iwf', p2)); // 2
    log.add(endorsement('ncmec', p2)); // 3
    log.add(p3); // 4
    log.add(endorsement('iwf', p3)); // 5
    log.add(endorsement('newco', p3)); // 6: GB + FR, orgs of p2
    const notice = (at: number) => (q: NoticeQuery) => (q.policy.leaf === p2.leafHash ? at : undefined);
    const early = log.chain({ noticedFrom: notice(0) });
    expect(early.inForce().map((p) => [p.entry.sequence, p.activeFrom])).toEqual([
      [1, 0],
      [2, 4],
      [3, 7],
    ]);
    // p2 noticed only from index 5: p3 (index 4) was sequenced under p1 and never counts.
    const late = log.chain({ noticedFrom: notice(5) });
    expect(late.inForce().map((p) => [p.entry.sequence, p.activeFrom])).toEqual([
      [1, 0],
      [2, 5],
    ]);
  });

  it('the same policy bytes twice: the first copy stands', () => {
    const p2 = parseSignedEntry(signEntry(removal, newSigner(OP.skey)));
    const log = new TestLog();
    log.add(P1S);
    log.add(p2);
    log.add(p2);
    log.add(endorsement('iwf', p2));
    log.add(endorsement('ncmec', p2));
    expect(log.chain().current()).toMatchObject({ index: 1, quorumIndex: 4 });
  });

  it('indexes must increase', () => {
    const chain = new PolicyChain({ origin: ORIGIN });
    chain.add(P1S, 5);
    expectPolicyError(() => chain.add(P1S, 5), 'bad-index');
    expectPolicyError(() => chain.add(P1S, 4), 'bad-index');
    expectPolicyError(() => chain.add(P1S, 1.5), 'bad-index');
  });

  it('release endorsements: countEndorsements', () => {
    const release: ReleaseEntry = {
      type: 'release',
      sequence: 1,
      previous: null,
      policy: P1S.leafHash,
      contributions: [],
      exclude: null,
      database: { root: EMPTY_ROOT, count: 0 },
      added: 0,
      removed: 0,
      blob: hash(''),
      expires: 10,
    };
    const log = new TestLog();
    log.add(P1S); // 0
    const rs = signWith(release, OP.skey);
    const early = endorsement('iwf', rs);
    log.add(early); // 1: before the release
    const r = log.add(rs); // 2
    const es = [
      log.add(endorsement('newco', rs)), // 3: not an org of p1
      log.add(endorsement('iwf', rs, { sequence: 2 })), // 4: wrong subject
      log.add(endorsement('iwf', rs)), // 5
      log.add(endorsement('iwf', rs)), // 6: again
      log.add(endorsement('cybertip', rs)), // 7: quorum (GB + CA)
      log.add(endorsement('ncmec', rs)), // 8
      { signed: early, index: 1 },
    ];
    const subject = { kind: 'release' as const, sequence: 1, leaf: r.signed.leafHash, index: r.index };
    const got = countEndorsements(subject, P1, es);
    expect(got.met).toBe(true);
    expect(got.quorumIndex).toBe(7);
    expect(got.orgs).toEqual(['cybertip', 'iwf', 'ncmec']);
    expect(got.endorsements.map((e) => e.index)).toEqual([5, 7, 8]);
    // A policy in force at index 8 that drops cybertip: its later endorsements stop counting.
    const dropped = { entry: policy({ orgs: [orgLine('iwf'), orgLine('ncmec')] }), leaf: hash('p2') };
    const withKeys = countEndorsements(subject, P1, es, { policyAt: (i) => (i >= 7 ? dropped : { entry: P1, leaf: P1S.leafHash }) });
    expect(withKeys.orgs).toEqual(['iwf', 'ncmec']);
    expect(withKeys.quorumIndex).toBe(8);
    expect(countEndorsements(subject, P1, es.slice(0, 4)).met).toBe(false);
  });
});

// ---------------------------------------------------------------------------
// Releases and contribution selection

describe('contribution selection', () => {
  /** A log with p1 at 0 and the given contributions; returns indexed entries and the chain. */
  function setup(cs: SignedEntry[], extra: (log: TestLog) => void = () => {}) {
    const log = new TestLog();
    log.add(P1S);
    extra(log);
    const indexed = cs.map((c) => log.add(c));
    return { log, indexed };
  }
  const L1 = P1S.leafHash;

  it('the latest valid contribution per org, before the release, not expired; void and late ones dropped', () => {
    const { log, indexed } = setup([
      signedContribution(contribution('iwf', 1, L1)), // 1
      signedContribution(contribution('iwf', 2, L1)), // 2
      signedContribution(contribution('ncmec', 5, L1)), // 3
      signedContribution(contribution('ncmec', 3, L1)), // 4: void (3 ≤ 5)
      signedContribution(contribution('cybertip', 1, L1, { expires: 1000 })), // 5: expires at publication
      signedContribution(contribution('ncmec', 5, L1, { expires: 3000 })), // 6: void (5 ≤ 5)
    ]);
    const release = log.add(signWith({ type: 'endorsement', org: 'x', subject: { kind: 'release', sequence: 1, leaf: hash('r') } }, OP.skey)); // 7: stands in for the release
    const late = log.add(signedContribution(contribution('cybertip', 2, L1))); // 8: after the release
    const chain = log.chain();
    const { selected, rejected } = selectContributions(P1, release.index, 1000, [...indexed, late].reverse(), chain);
    expect(selected.map((s) => [s.org, s.index, s.entry.sequence])).toEqual([
      ['iwf', 2, 2],
      ['ncmec', 3, 5],
    ]);
    expect(selected[0]!.leaf).toEqual(indexed[1]!.signed.leafHash);
    expect(rejected).toEqual([
      { index: 1, org: 'iwf', reason: 'superseded' },
      { index: 4, org: 'ncmec', reason: 'void' },
      { index: 5, org: 'cybertip', reason: 'expired' },
      { index: 6, org: 'ncmec', reason: 'void' },
      { index: 8, org: 'cybertip', reason: 'not-before-release' },
    ]);
    // The auditor's check: the release names exactly these.
    const lines = selected.map((s) => ({ org: s.org, leaf: s.leaf }));
    checkReleaseContributions({ contributions: lines } as ReleaseEntry, selected);
    expectPolicyError(() => checkReleaseContributions({ contributions: lines.slice(1) } as ReleaseEntry, selected), 'wrong-contributions');
    expectPolicyError(
      () => checkReleaseContributions({ contributions: [lines[0]!, { org: 'ncmec', leaf: indexed[3]!.signed.leafHash }] } as ReleaseEntry, selected),
      'wrong-contributions',
    );
    expectPolicyError(
      () => checkReleaseContributions({ contributions: [...lines, { org: 'zz', leaf: hash('zz') }] } as ReleaseEntry, selected),
      'wrong-contributions',
    );
  });

  it('an expired latest contribution falls back to an older one that has not expired', () => {
    const { log, indexed } = setup([
      signedContribution(contribution('iwf', 1, L1, { expires: 5000 })),
      signedContribution(contribution('iwf', 2, L1, { expires: 900 })),
    ]);
    const { selected, rejected } = selectContributions(P1, 10, 1000, indexed, log.chain());
    expect(selected.map((s) => s.entry.sequence)).toEqual([1]);
    expect(rejected).toEqual([{ index: 2, org: 'iwf', reason: 'expired' }]);
  });

  it('a contribution not signed by its org neither counts nor voids later ones', () => {
    const forged = signWith(contribution('iwf', 99, L1), ORG_KEYS.ncmec.skey);
    const impostor = signWith(contribution('iwf', 98, L1), generateKey('iwf', seed('impostor iwf')).skey);
    const { log, indexed } = setup([forged, impostor, signedContribution(contribution('iwf', 3, L1))]);
    const { selected, rejected } = selectContributions(P1, 10, 1000, indexed, log.chain());
    expect(selected.map((s) => [s.org, s.entry.sequence])).toEqual([['iwf', 3]]);
    expect(rejected).toEqual([
      { index: 1, org: 'iwf', reason: 'bad-signature' },
      { index: 2, org: 'iwf', reason: 'bad-signature' },
    ]);
  });

  it('an authentic but invalid contribution still voids lower sequences', () => {
    const { log, indexed } = setup([
      signedContribution(contribution('iwf', 5, L1, { set: { root: hash('big'), count: 1001 } })), // too many entries
      signedContribution(contribution('iwf', 4, L1)), // void
    ]);
    const { selected, rejected } = selectContributions(P1, 10, 1000, indexed, log.chain());
    expect(selected).toEqual([]);
    expect(rejected.map((r) => r.reason)).toEqual(['too-many-entries', 'void']);
  });

  it('orgs unknown at the contribution index, unknown policies, non-contributions', () => {
    const { log, indexed } = setup([
      signedContribution(contribution('newco', 1, L1)),
      signedContribution(contribution('iwf', 1, hash('not a policy'))),
      endorsement('iwf', P1S),
    ]);
    const { selected, rejected } = selectContributions(P1, 10, 1000, indexed, log.chain());
    expect(selected).toEqual([]);
    expect(rejected).toEqual([
      { index: 1, org: 'newco', reason: 'unknown-org' },
      { index: 2, org: 'iwf', reason: 'unknown-policy' },
      { index: 3, org: undefined, reason: 'not-a-contribution' },
    ]);
    expectPolicyError(() => selectContributions(P1, 10, 1000, [indexed[0]!, indexed[0]!], log.chain()), 'bad-index');
  });

  it('across policies: same blinding key and hash algorithm, caps of both policies, org of the release policy', () => {
    // p2 changes the blinding key (non-removal, noticed at once) and lowers max-entries.
    const p2 = parseSignedEntry(signEntry(next({ blindingKey: BLINDING2, maxEntries: 50 }), newSigner(OP.skey)));
    // p3 keeps p2's blinding key, drops cybertip (removal-only).
    const p3 = parseSignedEntry(
      signEntry(next({ orgs: [orgLine('iwf'), orgLine('ncmec')], maxEntries: 50 }, p2), newSigner(OP.skey)),
    );
    const log = new TestLog();
    log.add(P1S); // 0
    const underP1 = log.add(signedContribution(contribution('iwf', 1, L1))); // 1
    log.add(p2); // 2
    log.add(endorsement('iwf', p2)); // 3
    log.add(endorsement('ncmec', p2)); // 4 → p2 from 5
    const early = log.add(signedContribution(contribution('ncmec', 1, p2.leafHash))); // 5: names p2, in force from 5
    const namesP1 = log.add(signedContribution(contribution('ncmec', 2, L1))); // 6: made under p1 (old key)
    const big = log.add(signedContribution(contribution('cybertip', 1, p2.leafHash, { set: { root: hash('b'), count: 51 } }))); // 7
    const cyber = log.add(signedContribution(contribution('cybertip', 2, p2.leafHash))); // 8
    const iwf2 = log.add(signedContribution(contribution('iwf', 2, p2.leafHash))); // 9
    log.add(p3); // 10
    log.add(endorsement('iwf', p3)); // 11
    log.add(endorsement('ncmec', p3)); // 12 → p3 from 13
    const chain = log.chain({ noticedFrom: () => 0 });
    expect(chain.inForce().map((p) => p.activeFrom)).toEqual([0, 5, 13]);
    const all = [underP1, early, namesP1, big, cyber, iwf2];

    // A release at index 10 under p2.
    const rp2 = checkReleasePolicy({ policy: p2.leafHash } as ReleaseEntry, 10, chain);
    const s2 = selectContributions(rp2.entry, 10, 1000, all, chain);
    expect(s2.selected.map((s) => [s.org, s.index])).toEqual([
      ['cybertip', 8],
      ['iwf', 9],
      ['ncmec', 5],
    ]);
    expect(s2.rejected).toEqual([
      { index: 1, org: 'iwf', reason: 'different-blinding' },
      { index: 6, org: 'ncmec', reason: 'different-blinding' },
      { index: 7, org: 'cybertip', reason: 'too-many-entries' },
    ]);
    // A release at index 20 under p3: cybertip is no longer an org of the release's policy.
    const rp3 = checkReleasePolicy({ policy: p3.leafHash } as ReleaseEntry, 20, chain);
    const s3 = selectContributions(rp3.entry, 20, 1000, all, chain);
    expect(s3.selected.map((s) => s.org)).toEqual(['iwf', 'ncmec']);
    expect(s3.rejected.filter((r) => r.org === 'cybertip').map((r) => r.reason)).toEqual(['org-not-in-policy', 'org-not-in-policy']);
    // A release under p1 (index 3, before p2 took force) sees only the p1-era contribution.
    const s1 = selectContributions(P1, 3, 1000, all, chain);
    expect(s1.selected.map((s) => [s.org, s.index])).toEqual([['iwf', 1]]);
    // A contribution naming p2 before p2 took force.
    const log2 = new TestLog();
    log2.add(P1S);
    log2.add(p2);
    const tooEarly = log2.add(signedContribution(contribution('iwf', 1, p2.leafHash))); // 2, p2 not in force yet
    log2.add(endorsement('iwf', p2));
    log2.add(endorsement('ncmec', p2));
    const chain2 = log2.chain({ noticedFrom: () => 0 });
    expect(selectContributions(chain2.current()!.entry, 10, 1000, [tooEarly], chain2).rejected).toEqual([
      { index: 2, org: 'iwf', reason: 'unknown-policy' },
    ]);
  });

  it("a release's policy is the newest in force at its index", () => {
    const p2 = parseSignedEntry(signEntry(next({ orgs: [orgLine('iwf'), orgLine('ncmec')] }), newSigner(OP.skey)));
    const log = new TestLog();
    log.add(signedContribution(contribution('iwf', 1, hash('x')))); // 0: before any policy
    log.add(P1S); // 1
    log.add(p2); // 2
    log.add(endorsement('iwf', p2)); // 3
    log.add(endorsement('ncmec', p2)); // 4 → p2 from 5
    const chain = log.chain();
    expect(checkReleasePolicy({ policy: P1S.leafHash } as ReleaseEntry, 4, chain).leaf).toEqual(P1S.leafHash);
    expect(checkReleasePolicy({ policy: p2.leafHash } as ReleaseEntry, 5, chain).leaf).toEqual(p2.leafHash);
    expectPolicyError(() => checkReleasePolicy({ policy: P1S.leafHash, sequence: 1 } as ReleaseEntry, 5, chain), 'wrong-policy');
    expectPolicyError(() => checkReleasePolicy({ policy: P1S.leafHash, sequence: 1 } as ReleaseEntry, 0, chain), 'no-policy');
  });
});

