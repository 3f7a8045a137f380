// LogState: the server's author check answers exactly as client-sdk's policy.verifyEntryAuthor
// (same key, or same error class and code) with noble and with node:crypto; admission applies
// the policy in force and release succession at each index, within a batch too; the policy
// chain follows committed policy entries and endorsements.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '@concord/client-sdk/bytes';
import { parseSignedEntry, signEntry } from '@concord/client-sdk/entries';
import type { PolicyEntry, ReleaseEntry, SignedEntry } from '@concord/client-sdk/entries';
import { EMPTY_ROOT } from '@concord/client-sdk/merkle';
import { formatSignatureLine, generateKey, newSigner, nobleEd25519Verify, signNote } from '@concord/client-sdk/note';
import { verifyEntryAuthor } from '@concord/client-sdk/policy';
import { sha256 } from '@concord/client-sdk/sha256';
import { asyncVerify, nativeEd25519Verify, opensslEd25519VerifyAsync } from '@concord/log-server/ed25519-native';
import { changesPolicyChain, LogState } from '@concord/log-server/log-state';
import type { Precheck } from '@concord/log-server/log-state';
import { openStore } from '@concord/log-server/storage/index';
import type { LogStore } from '@concord/log-server/storage/index';
import { createTestLog, ORIGIN } from './helpers.js';
import type { TestLog } from './helpers.js';

let t: TestLog;
let store: LogStore;
let anchor: SignedEntry;

beforeAll(async () => {
  t = await createTestLog();
  store = await openStore(t.init.storeUrl);
  anchor = parseSignedEntry(t.init.anchor);
});
afterAll(async () => {
  await store.close();
  t.cleanup();
});

const nobleState = (): LogState => new LogState({ origin: ORIGIN, verify: nobleEd25519Verify, verifyAsync: asyncVerify(nobleEd25519Verify) });
const nativeState = (): LogState => new LogState({ origin: ORIGIN, verify: nativeEd25519Verify(), verifyAsync: opensslEd25519VerifyAsync() });

function outcome(f: () => string): string {
  try {
    return `ok ${f()}`;
  } catch (e) {
    return `${(e as Error).name} ${(e as { code?: string }).code}`;
  }
}

async function outcomeAsync(f: () => Promise<string>): Promise<string> {
  try {
    return `ok ${await f()}`;
  } catch (e) {
    return `${(e as Error).name} ${(e as { code?: string }).code}`;
  }
}

function policy1(): PolicyEntry {
  return anchor.entry as PolicyEntry;
}

function release(over: Partial<ReleaseEntry> = {}): ReleaseEntry {
  return {
    type: 'release',
    sequence: 1,
    previous: null,
    policy: anchor.leafHash,
    contributions: [],
    exclude: null,
    database: { root: EMPTY_ROOT, count: 0 },
    added: 0,
    removed: 0,
    blob: sha256(new Uint8Array(0)),
    expires: 2_000_000_000,
    ...over,
  };
}

function endorse(org: number, kind: 'release' | 'policy', sequence: number, leaf: Uint8Array): Uint8Array {
  const o = t.fixture.orgs[org]!;
  return signEntry({ type: 'endorsement', org: o.name, subject: { kind, sequence, leaf } }, o.signer);
}

/** Re-signs the text of `bytes` with a signature line of our choosing. */
function withLine(bytes: Uint8Array, line: (name: string, keyHash: number, sig: Uint8Array) => string): Uint8Array {
  const se = parseSignedEntry(bytes);
  return utf8(`${se.text}\n${line(se.signature.name, se.signature.keyHash, se.signature.signature)}\n`);
}

describe('verifyAuthor is policy.verifyEntryAuthor', () => {
  it('answers every case as client-sdk does, with noble and with node:crypto', async () => {
    const [us, fr, de] = t.fixture.orgs as [TestLog['fixture']['orgs'][number], TestLog['fixture']['orgs'][number], TestLog['fixture']['orgs'][number]];
    const stranger = generateKey('org-xx');
    const newOperator = generateKey(`${ORIGIN}/operator`);
    const p2: PolicyEntry = { ...policy1(), sequence: 2, previous: anchor.leafHash };
    const endUs = endorse(0, 'release', 1, new Uint8Array(32));
    const cases: Record<string, Uint8Array> = {
      'org endorsement': endUs,
      'contribution by its org': signEntry(
        { type: 'contribution', org: de.name, sequence: 1, policy: anchor.leafHash, set: { root: EMPTY_ROOT, count: 0 }, blob: sha256(new Uint8Array(0)), expires: 2_000_000_000 },
        de.signer,
      ),
      'endorsement signed by another org': signNote(parseSignedEntry(endUs).text, [fr.signer]),
      'unknown org': signEntry({ type: 'endorsement', org: 'org-xx', subject: { kind: 'release', sequence: 1, leaf: new Uint8Array(32) } }, newSigner(stranger.skey)),
      'release by the operator': signEntry(release(), t.operator),
      'release by an org': signNote(parseSignedEntry(signEntry(release(), t.operator)).text, [us.signer]),
      'policy 2 by the operator': signEntry(p2, t.operator),
      'policy 2 by its new operator': signEntry({ ...p2, operator: newOperator.vkey }, newSigner(newOperator.skey)),
      'policy 2 by an org': signNote(parseSignedEntry(signEntry(p2, t.operator)).text, [us.signer]),
      'policy 2 with a wrong previous': signEntry({ ...p2, previous: new Uint8Array(randomBytes(32)) }, t.operator),
      'policy 3': signEntry({ ...p2, sequence: 3 }, t.operator),
      'policy 1 again': signEntry({ ...policy1() }, t.operator),
    };
    for (let bit = 0; bit < 512; bit += 37) {
      cases[`signature bit ${bit} flipped`] = withLine(endUs, (name, kh, sig) => {
        const s = sig.slice();
        s[bit >> 3]! ^= 1 << (bit & 7);
        return formatSignatureLine(name, kh, s);
      });
    }
    cases['right name, wrong key ID'] = withLine(endUs, (name, kh, sig) => formatSignatureLine(name, (kh + 1) >>> 0, sig));
    cases['short signature'] = withLine(endUs, (name, kh, sig) => formatSignatureLine(name, kh, sig.subarray(0, 63)));
    cases['long signature'] = withLine(endUs, (name, kh, sig) => formatSignatureLine(name, kh, new Uint8Array([...sig, 0])));

    const states = [nobleState(), nativeState()];
    for (const s of states) await s.catchUp(store);
    const inForce = states[0]!.current();
    expect(inForce?.entry.sequence).toBe(1);
    const seen = new Set<string>();
    for (const [name, bytes] of Object.entries(cases)) {
      const se = parseSignedEntry(bytes);
      const want = outcome(() => verifyEntryAuthor(se, inForce));
      seen.add(want.split(' ').slice(0, 2).join(' '));
      for (const s of states) {
        expect(await outcomeAsync(() => s.verifyAuthor(se, inForce)), name).toBe(want);
        expect(outcome(() => s.verifyAuthorSync(se, inForce)), name).toBe(want);
      }
    }
    // The corpus covers acceptance and every refusal.
    const seenCodes = new Set([...seen].map((x) => (x.startsWith('ok ') ? 'ok' : x)));
    expect([...seenCodes].sort()).toEqual(
      ['EntryError invalid-signature', 'PolicyError bad-policy-sequence', 'PolicyError bad-previous', 'PolicyError unknown-org', 'PolicyError wrong-author', 'ok'].sort(),
    );
  });
});

describe('admission', () => {
  it('checks release succession and the policy in force at each index of a batch', async () => {
    const s = nativeState();
    await s.catchUp(store);
    const pre = async (bytes: Uint8Array): Promise<Precheck> => s.precheck(parseSignedEntry(bytes));
    const r1 = signEntry(release(), t.operator);
    const r1b = signEntry(release({ expires: 2_000_000_001 }), t.operator);
    const r2 = signEntry(release({ sequence: 2, previous: parseSignedEntry(r1).leafHash }), t.operator);
    const r2early = await outcomeAsync(async () => (await pre(r2)).authorKey);
    expect(r2early).toBe('PolicyError bad-release-sequence'); // no release 1 yet
    const p1 = await pre(r1);
    const p1b = await pre(r1b); // each alone is fine
    const batch = s.beginBatch(s.size);
    batch.admit(p1, s.size);
    expect(outcome(() => (batch.admit(p1b, s.size + 1), 'admitted'))).toBe('PolicyError bad-release-sequence');
    // r2 could not be prechecked before r1 was admitted; admitted in order it passes.
    const p2: Precheck = { signed: parseSignedEntry(r2), authorKey: p1.authorKey };
    batch.admit(p2, s.size + 1);

    const wrongPolicy = signEntry(release({ policy: new Uint8Array(randomBytes(32)) }), t.operator);
    expect(await outcomeAsync(async () => (await pre(wrongPolicy)).authorKey)).toBe('PolicyError wrong-policy');
    const tooBig = signEntry(release({ database: { root: new Uint8Array(randomBytes(32)), count: 2_000_000 }, added: 2_000_000 }), t.operator);
    expect(await outcomeAsync(async () => (await pre(tooBig)).authorKey)).toBe('PolicyError too-many-entries');
    const badPolicy = signEntry({ ...policy1(), sequence: 2, previous: anchor.leafHash, witnessQuorum: 4 }, t.operator);
    expect(await outcomeAsync(async () => (await pre(badPolicy)).authorKey)).toBe('PolicyError witness-quorum-too-high');

    // Once release 1 is applied, release 1 again is refused and release 2 passes precheck.
    s.apply([p1.signed], s.size);
    expect(s.latestRelease()?.entry.sequence).toBe(1);
    expect(await outcomeAsync(async () => (await pre(r1b)).authorKey)).toBe('PolicyError bad-release-sequence');
    expect((await pre(r2)).authorKey).toBe(t.init.operatorVkey);
  });

  it('follows the policy chain: a removal-only policy 2 takes force after its endorsement quorum', async () => {
    const s = nativeState();
    await s.catchUp(store);
    const p1 = policy1();
    const p2: PolicyEntry = { ...p1, sequence: 2, previous: anchor.leafHash, orgs: p1.orgs.filter((o) => o.name !== 'org-de') };
    const p2bytes = signEntry(p2, t.operator);
    const p2leaf = parseSignedEntry(p2bytes).leafHash;
    const deEndorsement = endorse(2, 'release', 7, new Uint8Array(32));
    expect((await s.precheck(parseSignedEntry(deEndorsement))).authorKey).toBe(t.fixture.orgs[2]!.vkey);

    const steps: Uint8Array[] = [p2bytes, endorse(0, 'policy', 2, p2leaf), endorse(1, 'policy', 2, p2leaf)];
    for (const bytes of steps) {
      const p = await s.precheck(parseSignedEntry(bytes));
      expect(changesPolicyChain(p.signed)).toBe(true);
      const b = s.beginBatch(s.size);
      b.admit(p, s.size);
      s.apply([p.signed], s.size);
    }
    expect(s.current()?.entry.sequence).toBe(2);
    expect(s.policies().map((p) => p.entry.sequence)).toEqual([1, 2]);
    // org-de is not an org of policy 2: its entries are refused from now on.
    expect(await outcomeAsync(async () => (await s.precheck(parseSignedEntry(endorse(2, 'release', 8, new Uint8Array(32))))).authorKey)).toBe(
      'PolicyError unknown-org',
    );
    // An entry prechecked under policy 1 is re-checked at its index: refused there.
    const stale: Precheck = { signed: parseSignedEntry(deEndorsement), authorKey: t.fixture.orgs[2]!.vkey };
    expect(outcome(() => (s.beginBatch(s.size).admit(stale, s.size), 'admitted'))).toBe('PolicyError unknown-org');
    // Releases now name policy 2.
    const r = signEntry(release({ policy: p2leaf }), t.operator);
    expect((await s.precheck(parseSignedEntry(r))).authorKey).toBe(t.init.operatorVkey);
    expect(changesPolicyChain(parseSignedEntry(r))).toBe(false);
  });
});
