// A real log for the dashboard tests (not a test file): three orgs contribute blinded sets
// (made-up 32-byte elements, uploaded as blobs with Concord-Note auth), the operator logs two
// releases computed with client-sdk's own selection, intersection and diff, the orgs endorse
// them, the fixture's witnesses cosign two checkpoints (the first three days ago, so release 1
// is noticed and release 2 is not yet), and OPRF counters are charged.
//
//   elements a…g;  release 1: US {a,b,c,d}  FR {a,b,c,e}  DE {a,f}        → {a,b,c}   +3 −0
//                  release 2: US {a,b,d,g}  FR {a,b,d,e,g} DE {a,f}; exclude {g} → {a,b,d}   +1 −1

import { sha256 } from '@noble/hashes/sha2.js';
import { compareBytes, equalBytes } from '@concord/client-sdk/bytes';
import { LogClient } from '@concord/client-sdk/client';
import type { Fetch } from '@concord/client-sdk/client';
import { newCosignatureSigner } from '@concord/client-sdk/cosignature';
import { diffDatabases, formatDatabase, intersectContributions, parseDatabase } from '@concord/client-sdk/database';
import { parseSignedEntry, signEntry } from '@concord/client-sdk/entries';
import type { ConcordEntry, ReleaseEntry } from '@concord/client-sdk/entries';
import { parseNote } from '@concord/client-sdk/note';
import { selectContributions } from '@concord/client-sdk/policy';
import type { IndexedEntry, PolicyLookup } from '@concord/client-sdk/policy';
import type { OpenLog } from '@concord/log-server/log';
import { utcDay } from '@concord/log-server/storage/types';
import { createTestLog, ORIGIN } from '../log-server/test/helpers.js';
import type { Party, TestLog } from '../log-server/test/helpers.js';

export interface SeededRelease {
  readonly sequence: number;
  readonly index: number;
  readonly leaf: Uint8Array;
  readonly root: Uint8Array;
  readonly count: number;
  readonly added: number;
  readonly removed: number;
  readonly contributionCounts: Record<string, number>;
}

export interface SeededLog {
  readonly tl: TestLog;
  readonly log: OpenLog;
  readonly origin: string;
  readonly anchorLeaf: Uint8Array;
  readonly releases: SeededRelease[];
  /** The latest (quorum-cosigned) checkpoint's size. */
  readonly size: number;
  /** OPRF elements charged today, by org name. */
  readonly oprf: Record<string, number>;
  /** A fetch over the app in process. */
  readonly fetch: Fetch;
  close(): Promise<void>;
}

const DAY = 86_400;

export function appFetch(log: OpenLog): Fetch {
  return async (url, init) => log.app.request(url, init as RequestInit);
}

export async function seedLog(): Promise<SeededLog> {
  const tl = await createTestLog();
  // No witness pushes: the fixture's witness URLs are made up; the test cosigns itself.
  const log = await tl.open({ witnessPush: false });
  const now = Math.floor(Date.now() / 1000);
  const fetch = appFetch(log);
  const client = new LogClient({ url: 'http://log.test', fetch });
  const [us, fr, de] = tl.fixture.orgs as [Party, Party, Party];
  const juris: Record<string, string> = { [us.name]: 'US', [fr.name]: 'FR', [de.name]: 'DE' };
  const anchorLeaf = tl.init.anchorLeaf;

  const el = (c: string): Uint8Array => sha256(new TextEncoder().encode(`dashboard element ${c}`));
  const set = (cs: string): Uint8Array => formatDatabase([...cs].map(el).sort(compareBytes));

  const add = async (e: ConcordEntry, signer: Party['signer'] | TestLog['operator']): Promise<{ index: number; bytes: Uint8Array }> => {
    const bytes = signEntry(e, signer);
    const r = await client.add(bytes);
    return { index: r.index, bytes };
  };

  const contributions: IndexedEntry[] = [];
  const blobs = new Map<string, Uint8Array>();
  const contribute = async (org: Party, sequence: number, cs: string): Promise<void> => {
    const blob = set(cs);
    const digest = await client.putBlob(ORIGIN, blob, org.signer);
    const { root, count } = parseDatabase(blob);
    const { index, bytes } = await add({ type: 'contribution', org: org.name, sequence, policy: anchorLeaf, set: { root, count }, blob: digest, expires: now + 60 * DAY }, org.signer);
    contributions.push({ index, signed: parseSignedEntry(bytes) });
    blobs.set(org.name, blob);
  };

  const policy = log.state.current()!;
  const lookup: PolicyLookup = { policyAt: () => policy, byLeaf: (leaf) => (equalBytes(leaf, policy.leaf) ? policy : undefined) };
  const releases: SeededRelease[] = [];
  let previous: { leaf: Uint8Array; db: Uint8Array } | undefined;

  const release = async (exclude: string, endorsers: Party[]): Promise<void> => {
    const releaseIndex = await log.store.size();
    const sel = selectContributions(policy.entry, releaseIndex, now, contributions, lookup);
    const inter = intersectContributions(
      sel.selected.map((s) => ({ org: s.org, jurisdiction: juris[s.org]!, elements: blobs.get(s.org)! })),
      { minOrgs: policy.entry.minOrgs, minJurisdictions: policy.entry.minJurisdictions },
      exclude === '' ? undefined : set(exclude),
    );
    let excludeLine: ReleaseEntry['exclude'] = null;
    if (exclude !== '') excludeLine = { blob: await client.putBlob(ORIGIN, set(exclude), tl.operator), count: exclude.length };
    const dbDigest = await client.putBlob(ORIGIN, inter.elements, tl.operator);
    const diff = diffDatabases(previous?.db ?? new Uint8Array(0), inter.elements);
    const sequence = releases.length + 1;
    const entry: ReleaseEntry = {
      type: 'release',
      sequence,
      previous: previous?.leaf ?? null,
      policy: policy.leaf,
      contributions: sel.selected.map((s) => ({ org: s.org, leaf: s.leaf })),
      exclude: excludeLine,
      database: { root: inter.root, count: inter.count },
      added: diff.added,
      removed: diff.removed,
      blob: dbDigest,
      expires: now + 20 * DAY,
    };
    const { index, bytes } = await add(entry, tl.operator);
    const leaf = parseSignedEntry(bytes).leafHash;
    for (const o of endorsers) await add({ type: 'endorsement', org: o.name, subject: { kind: 'release', sequence, leaf } }, o.signer);
    const counts: Record<string, number> = {};
    for (const s of sel.selected) counts[s.org] = s.entry.set.count;
    releases.push({ sequence, index, leaf, root: inter.root, count: inter.count, added: diff.added, removed: diff.removed, contributionCounts: counts });
    previous = { leaf, db: inter.elements };
  };

  const cosign = async (witnesses: number, time: number): Promise<number> => {
    const size = await log.store.size();
    const cp = await log.store.readCheckpoint(size);
    const text = parseNote(cp!.note).text;
    for (const w of tl.fixture.witnesses.slice(0, witnesses)) {
      const sig = newCosignatureSigner(w.skey).cosign(text, time);
      await log.store.addCosignature({ size, witness: w.vkey, time, line: sig.line });
    }
    log.reader.invalidateCheckpoint();
    return size;
  };

  await contribute(us, 1, 'abcd');
  await contribute(fr, 1, 'abce');
  await contribute(de, 1, 'af');
  await release('', [us, fr]);
  await cosign(3, now - 3 * DAY);
  await contribute(us, 2, 'abdg');
  await contribute(fr, 2, 'abdeg');
  await release('g', [us, fr, de]);
  const size = await cosign(4, now - 60);

  const oprf = { [us.name]: 1234, [tl.fixture.auditor.name]: 56 };
  await log.store.chargeQuota({ scope: 'oprf', key: us.vkey, period: utcDay(now), amount: 1234, limit: 100_000 });
  await log.store.chargeQuota({ scope: 'oprf', key: tl.fixture.auditor.vkey, period: utcDay(now), amount: 56, limit: 100_000 });

  return {
    tl,
    log,
    origin: ORIGIN,
    anchorLeaf,
    releases,
    size,
    oprf,
    fetch,
    close: async () => {
      await log.close();
      tl.cleanup();
    },
  };
}
