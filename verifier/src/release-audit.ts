// The audit of one release (DESIGN.md "Which contributions a release uses", "Database",
// "Endorsement"): what an organisation checks before it endorses, and what `concord audit`
// checks for every release. Given an authenticated LogView (log-view.ts) and a release
// sequence N, it fetches the release, every contribution entry and blob it cites, its
// exclusion set, its database blob and release N−1's database blob, and returns one named
// check per rule:
//
//   release-found            release N is an entry of the verified log (the first entry of type
//                            concord/release/v1 with sequence N, in index order)
//   release-signature        signed by the operator key of the policy in force at its index
//   release-policy           names the policy in force at its index
//   policy-valid             that policy passes every floor (min-orgs, min-jurisdictions and both
//                            endorsement-quorum numbers ≥ 2, witness arithmetic, distinct keys)
//   previous-release         sequence N follows release N−1 and `previous` is its leaf
//   publication              P = GET /checkpoint/published?entry=<i>, verified (log key, witness
//                            quorum of the policy in force at its size, contains entry i, its root
//                            is the verified tree's at that size); publication = seenBy(P). Before
//                            P exists the head's aliveAt stands in, and the detail says so.
//   contribution-signatures  every cited contribution is a contribution entry of the named org,
//                            sequenced before the release, signed by that org's key in the policy
//                            in force at its index
//   contribution-selection   the cited contributions are exactly what the rule selects
//                            (policy.selectContributions / checkReleaseContributions): per org the
//                            highest-sequence valid contribution before the release, made under a
//                            policy with the same blinding-key and hash-algorithm, not expired at
//                            publication; the detail names the rule's reason for a wrong citation
//   contribution-blobs       each cited contribution's blob: SHA-256 as named, sorted, unique,
//                            root and count as its `set` line
//   exclusions               the exclusion set's blob (sorted, unique, count as its line) and
//                            "exclusion only removes": no excluded element is in the database
//   database-blob            the database blob: SHA-256 as named, sorted, unique, root and count
//                            as the `database` line
//   intersection             the database equals the recomputed intersection of the CITED
//                            contributions (≥ min-orgs orgs spanning ≥ min-jurisdictions
//                            jurisdictions of the release's policy) minus the exclusion set
//   added-removed            `added` / `removed` equal the diff against release N−1's database
//                            (whose blob must match N−1's `database` line); release 1 against ∅
//   caps                     database and every cited contribution hold ≤ max-entries
//   expiry                   expires − publication ≤ max-release-age
//
// Each check judges one thing: the intersection is recomputed from the contributions the release
// CITES, so citing the wrong contribution fails contribution-selection and not intersection,
// and a database that is not the intersection of what it cites fails intersection. A check that
// cannot run because what it needs is missing fails with "not checked: …" (an audit passes only
// when every check ran and passed).
//
// Decisions where DESIGN.md is silent:
// - Publication for an audit before endorsement is seenBy(P) for the earliest quorum checkpoint
//   containing the release itself; DESIGN.md's P also contains the counted endorsements, so
//   `concord audit` passes `publicationEntry` (the index of the endorsement completing the
//   quorum) to judge selection and expiry at the final publication time.
// - Which P is "earliest" is the server's claim: a server can serve a later one (publication
//   later: stricter selection, looser expiry) but never one that does not contain the entry,
//   is not cosigned by a quorum, or is inconsistent with the verified tree.

import { equalBytes, toBase64, toHex } from '@concord/client-sdk/bytes';
import { parseCheckpoint } from '@concord/client-sdk/checkpoint';
import { DatabaseError, diffDatabases, intersectContributions, parseDatabase } from '@concord/client-sdk/database';
import type { IntersectionReport } from '@concord/client-sdk/database';
import type { ContributionEntry, ReleaseEntry, SignedEntry } from '@concord/client-sdk/entries';
import { ConcordError } from '@concord/client-sdk/errors';
import { treeHash } from '@concord/client-sdk/merkle';
import { parseNote, parseVerifierKey } from '@concord/client-sdk/note';
import {
  checkEntryLimits,
  checkReleaseExpiry,
  checkReleasePolicy,
  checkReleaseSuccession,
  releaseNoticeRequired,
  selectContributions,
  validatePolicy,
  verifyEntryAuthor,
} from '@concord/client-sdk/policy';
import type { ChainPolicy, IndexedEntry, SelectedContribution } from '@concord/client-sdk/policy';
import { verifyCheckpointUnder } from './log-view.js';
import type { LogView } from './log-view.js';

export const RELEASE_CHECKS = [
  'release-found',
  'release-signature',
  'release-policy',
  'policy-valid',
  'previous-release',
  'publication',
  'contribution-signatures',
  'contribution-selection',
  'contribution-blobs',
  'exclusions',
  'database-blob',
  'intersection',
  'added-removed',
  'caps',
  'expiry',
] as const;

export type ReleaseCheckId = (typeof RELEASE_CHECKS)[number];

export interface ReleaseCheck {
  readonly id: ReleaseCheckId;
  readonly ok: boolean;
  /** One line: what was found, or why it failed. */
  readonly detail: string;
}

/** A release entry of the log with its index. */
export interface LoggedRelease {
  readonly index: number;
  readonly signed: SignedEntry;
  readonly entry: ReleaseEntry;
}

export interface ReleaseAudit {
  readonly sequence: number;
  /** Every check passed. */
  readonly ok: boolean;
  /** One per RELEASE_CHECKS id, in that order. */
  readonly checks: readonly ReleaseCheck[];
  readonly release?: LoggedRelease;
  /** The policy in force at the release's index. */
  readonly policy?: ChainPolicy;
  /** The publication time used (seenBy(P), or the head's aliveAt when `published` is false). */
  readonly publishedAt?: number;
  /** Whether a verified P was found. */
  readonly published: boolean;
  /** What the selection rule selects (sorted by org). */
  readonly selected: readonly SelectedContribution[];
  /** The recomputation's report (distinct, below thresholds, excluded, kept). */
  readonly report?: IntersectionReport;
}

export interface AuditReleaseOptions {
  /** Unix seconds: cosignatures dated more than 300 s after it are not counted. */
  readonly now: number;
  /**
   * P must contain this entry index (default: the release's). `concord audit` passes the index
   * of the endorsement completing the release's quorum (DESIGN.md: P contains E and every
   * endorsement counted for it).
   */
  readonly publicationEntry?: number;
  /** Called as blobs are fetched and checked. */
  readonly onProgress?: (message: string) => void;
}

/** Every release entry of the view, in index order (unparsable entries are skipped). */
export function loggedReleases(view: Pick<LogView, 'entries' | 'parsed'>): LoggedRelease[] {
  const out: LoggedRelease[] = [];
  for (let i = 0; i < view.entries.length; i++) {
    const se = tryParsed(view, i);
    if (se?.entry.type === 'release') out.push({ index: i, signed: se, entry: se.entry });
  }
  return out;
}

/** Every contribution entry of the view, with its index. */
export function loggedContributions(view: Pick<LogView, 'entries' | 'parsed'>): (IndexedEntry & { entry: ContributionEntry })[] {
  const out: (IndexedEntry & { entry: ContributionEntry })[] = [];
  for (let i = 0; i < view.entries.length; i++) {
    const se = tryParsed(view, i);
    if (se?.entry.type === 'contribution') out.push({ signed: se, index: i, entry: se.entry });
  }
  return out;
}

function tryParsed(view: Pick<LogView, 'parsed'>, i: number): SignedEntry | undefined {
  try {
    return view.parsed(i);
  } catch (err) {
    if (err instanceof ConcordError) return undefined;
    throw err;
  }
}

function message(err: unknown): string {
  if (err instanceof ConcordError) return `${err.message} [${err.code}]`;
  return err instanceof Error ? err.message : String(err);
}

const short = (b: Uint8Array): string => toHex(b).slice(0, 16);

/**
 * Audits release `sequence` in `view`. Never throws for anything the log or its blobs contain
 * (each problem is a failed check); throws only for I/O the caller should see (e.g. the
 * network failing while fetching /checkpoint/published is a failed `publication` check, but a
 * programming error propagates).
 */
export async function auditRelease(view: LogView, sequence: number, opts: AuditReleaseOptions): Promise<ReleaseAudit> {
  const results = new Map<ReleaseCheckId, ReleaseCheck>();
  const set = (id: ReleaseCheckId, ok: boolean, detail: string): void => {
    results.set(id, { id, ok, detail });
  };
  const progress = opts.onProgress ?? (() => {});
  const finish = (extra: Partial<ReleaseAudit>): ReleaseAudit => {
    const checks = RELEASE_CHECKS.map((id) => results.get(id) ?? { id, ok: false, detail: 'not checked: release not found' });
    return { sequence, ok: checks.every((c) => c.ok), checks, published: false, selected: [], ...extra };
  };

  // --- release-found ------------------------------------------------------------------------
  const releases = loggedReleases(view);
  const release = releases.find((r) => r.entry.sequence === sequence);
  if (release === undefined) {
    set('release-found', false, `no release ${sequence} in the verified log of ${view.head.tree.size} entries (${releases.length} release entries)`);
    return finish({});
  }
  const r = release.entry;
  set('release-found', true, `release ${sequence} is entry ${release.index} (leaf ${toBase64(release.signed.leafHash)})`);

  // --- release-policy, release-signature, policy-valid ----------------------------------------
  const chain = view.chain;
  const inForce = chain.policyAt(release.index);
  try {
    checkReleasePolicy(r, release.index, chain);
    set('release-policy', true, `names policy ${inForce!.entry.sequence}, in force at index ${release.index}`);
  } catch (err) {
    set('release-policy', false, message(err));
  }
  try {
    const key = verifyEntryAuthor(release.signed, inForce);
    set('release-signature', true, `signed by ${parseVerifierKey(key).name}, the operator key of policy ${inForce!.entry.sequence}`);
  } catch (err) {
    set('release-signature', false, message(err));
  }
  if (inForce === undefined) {
    const why = 'not checked: no policy in force at the release';
    for (const id of RELEASE_CHECKS) if (!results.has(id)) set(id, false, why);
    return finish({ release });
  }
  const p = inForce.entry;
  try {
    validatePolicy(p, view.origin);
    set(
      'policy-valid',
      true,
      `policy ${p.sequence}: min-orgs ${p.minOrgs}, min-jurisdictions ${p.minJurisdictions}, endorsement-quorum ${p.endorsementQuorum.orgs} ${p.endorsementQuorum.jurisdictions}, ${p.orgs.length} orgs`,
    );
  } catch (err) {
    set('policy-valid', false, `policy ${p.sequence} is invalid: ${message(err)}`);
  }

  // --- previous-release -----------------------------------------------------------------------
  const before = releases.filter((x) => x.index < release.index);
  const prev = sequence > 1 ? before.find((x) => x.entry.sequence === sequence - 1) : undefined;
  try {
    if (sequence > 1 && prev === undefined) throw new Error(`no release ${sequence - 1} before index ${release.index}`);
    if (sequence === 1 && before.length > 0) throw new Error(`release 1 at index ${release.index}, but release entries precede it (index ${before[0]!.index})`);
    checkReleaseSuccession(prev === undefined ? undefined : { entry: prev.entry, leaf: prev.signed.leafHash }, r);
    set('previous-release', true, prev === undefined ? 'release 1: previous none' : `previous is release ${sequence - 1} (entry ${prev.index})`);
  } catch (err) {
    set('previous-release', false, message(err));
  }

  // --- publication ------------------------------------------------------------------------------
  const pubEntry = opts.publicationEntry ?? release.index;
  let publishedAt = view.head.aliveAt;
  let published = false;
  try {
    progress('fetching the publication checkpoint');
    const note = await view.client.published(pubEntry);
    if (note === null) {
      set('publication', true, `not yet published (no quorum checkpoint contains entry ${pubEntry}): using the head's aliveAt ${publishedAt}`);
    } else {
      const at = await verifyPublished(view, note, pubEntry, opts.now);
      publishedAt = at.seenBy;
      published = true;
      set('publication', true, `published at ${at.seenBy} (seenBy of checkpoint ${at.size}, containing entry ${pubEntry})`);
    }
  } catch (err) {
    set('publication', false, `${message(err)}; using the head's aliveAt ${publishedAt}`);
  }

  // --- contribution-signatures ------------------------------------------------------------------
  const contributions = loggedContributions(view);
  const byLeaf = new Map<string, IndexedEntry & { entry: ContributionEntry }>();
  for (const c of contributions) if (!byLeaf.has(toHex(c.signed.leafHash))) byLeaf.set(toHex(c.signed.leafHash), c);
  const cited: { org: string; jurisdiction: string | undefined; c: IndexedEntry & { entry: ContributionEntry } }[] = [];
  {
    const problems: string[] = [];
    for (const line of r.contributions) {
      const c = byLeaf.get(toHex(line.leaf));
      if (c === undefined) {
        problems.push(`${line.org}: no contribution entry with leaf ${short(line.leaf)} in the log`);
        continue;
      }
      if (c.entry.org !== line.org) problems.push(`${line.org}: cited entry ${c.index} is ${c.entry.org}'s contribution`);
      if (c.index >= release.index) problems.push(`${line.org}: cited entry ${c.index} is not before the release (${release.index})`);
      try {
        verifyEntryAuthor(c.signed, chain.policyAt(c.index));
      } catch (err) {
        problems.push(`${line.org}: entry ${c.index}: ${message(err)}`);
      }
      cited.push({ org: line.org, jurisdiction: p.orgs.find((o) => o.name === line.org)?.jurisdiction, c });
    }
    if (problems.length === 0) {
      set('contribution-signatures', true, `${r.contributions.length} cited contributions, each signed by its org's key`);
    } else set('contribution-signatures', false, problems.join('; '));
  }

  // --- contribution-selection ---------------------------------------------------------------------
  let selected: SelectedContribution[] = [];
  try {
    const sel = selectContributions(p, release.index, publishedAt, contributions, chain);
    selected = sel.selected;
    const want = new Map(sel.selected.map((s) => [s.org, s]));
    const got = new Map(r.contributions.map((c) => [c.org, c]));
    const problems: string[] = [];
    for (const org of [...new Set([...want.keys(), ...got.keys()])].sort()) {
      const w = want.get(org);
      const g = got.get(org);
      if (w !== undefined && g !== undefined && equalBytes(w.leaf, g.leaf)) continue;
      const gi = g === undefined ? undefined : byLeaf.get(toHex(g.leaf));
      const why = gi === undefined ? undefined : sel.rejected.find((x) => x.index === gi.index)?.reason;
      const gotText = g === undefined ? 'cites none' : `cites ${gi === undefined ? `an unknown entry ${short(g.leaf)}` : `entry ${gi.index} (sequence ${gi.entry.sequence})`}${why !== undefined ? ` [${why}]` : ''}`;
      const wantText = w === undefined ? 'the rule selects none' : `the rule selects entry ${w.index} (sequence ${w.entry.sequence})`;
      problems.push(`${org}: release ${gotText}, ${wantText}`);
    }
    if (problems.length === 0) {
      const list = sel.selected.map((s) => `${s.org}#${s.entry.sequence}@${s.index}`).join(', ');
      set('contribution-selection', true, `the rule selects exactly the cited contributions (${list || 'none'}) at publication ${publishedAt}`);
    } else set('contribution-selection', false, problems.join('; '));
  } catch (err) {
    set('contribution-selection', false, message(err));
  }

  // --- contribution-blobs -----------------------------------------------------------------------------
  // Blobs are read with a cap of 32 bytes per element the entry claims, at most max-entries: a
  // blob longer than its entry says fails, and a hostile server cannot make us read more.
  const cap = (n: number, max = p.maxEntries): number => 32 * Math.max(0, Math.min(n, max));
  const blobs = new Map<string, Uint8Array>();
  {
    const problems: string[] = [];
    let i = 0;
    for (const { org, c } of cited) {
      progress(`contribution ${++i}/${cited.length}: ${org}`);
      try {
        const bytes = await view.client.blob(c.entry.blob, cap(c.entry.set.count));
        const s = parseDatabase(bytes);
        if (!equalBytes(s.root, c.entry.set.root) || s.count !== c.entry.set.count) {
          throw new Error(`blob holds ${s.count} elements with root ${short(s.root)}, the entry says ${c.entry.set.count} with root ${short(c.entry.set.root)}`);
        }
        blobs.set(org, bytes);
      } catch (err) {
        problems.push(`${org} (entry ${c.index}): ${message(err)}`);
      }
    }
    if (problems.length === 0) set('contribution-blobs', true, `${cited.length} blobs: digests, order, roots and counts match`);
    else set('contribution-blobs', false, problems.join('; '));
  }

  // --- database-blob ----------------------------------------------------------------------------------
  let database: Uint8Array | undefined;
  try {
    progress('database blob');
    database = await view.client.blob(r.blob, cap(r.database.count));
    const s = parseDatabase(database);
    if (!equalBytes(s.root, r.database.root) || s.count !== r.database.count) {
      throw new Error(`blob holds ${s.count} elements with root ${short(s.root)}; the release says ${r.database.count} with root ${short(r.database.root)}`);
    }
    set('database-blob', true, `${s.count} elements, root ${toBase64(s.root)}`);
  } catch (err) {
    // Keep a blob that is well-formed but disagrees with the line: the other checks still judge it.
    if (database !== undefined && !isWellFormed(database)) database = undefined;
    set('database-blob', false, message(err));
  }

  // --- exclusions (the set itself) ----------------------------------------------------------------------
  let exclude: Uint8Array | undefined = new Uint8Array(0);
  let excludeProblem: string | undefined;
  if (r.exclude !== null) {
    try {
      const bytes = await view.client.blob(r.exclude.blob, cap(r.exclude.count));
      const s = parseDatabase(bytes);
      if (s.count !== r.exclude.count) throw new Error(`the exclusion blob holds ${s.count} elements; the release says ${r.exclude.count}`);
      exclude = bytes;
    } catch (err) {
      exclude = undefined;
      excludeProblem = message(err);
    }
  }

  // --- intersection -------------------------------------------------------------------------------------
  let report: IntersectionReport | undefined;
  const missing = cited.filter((x) => !blobs.has(x.org) || x.jurisdiction === undefined).map((x) => x.org);
  if (missing.length > 0 || exclude === undefined || database === undefined) {
    const why = [
      missing.length > 0 ? `no valid blob or no org line for ${missing.join(', ')}` : '',
      exclude === undefined ? 'no valid exclusion set' : '',
      database === undefined ? 'no valid database blob' : '',
    ].filter((s) => s !== '');
    set('intersection', false, `not checked: ${why.join('; ')}`);
  } else {
    try {
      if (p.minOrgs < 2 || p.minJurisdictions < 2) throw new Error(`thresholds below 2 (min-orgs ${p.minOrgs}, min-jurisdictions ${p.minJurisdictions}) make no intersection`);
      const x = intersectContributions(
        cited.map(({ org, jurisdiction }) => ({ org, jurisdiction: jurisdiction!, elements: blobs.get(org)! })),
        { minOrgs: p.minOrgs, minJurisdictions: p.minJurisdictions },
        exclude,
      );
      report = x.report;
      const rep = `${x.report.distinct} distinct, ${x.report.belowMinOrgs} below min-orgs, ${x.report.belowMinJurisdictions} below min-jurisdictions, ${x.report.excluded} excluded, ${x.report.kept} kept`;
      if (equalBytes(x.elements, database)) {
        set('intersection', true, `recomputed from ${cited.length} contributions: ${rep}; root ${toBase64(x.root)}`);
      } else {
        const d = diffDatabases(x.elements, database);
        set('intersection', false, `the database is not the recomputed intersection (${rep}): it has ${d.added} elements not in it and lacks ${d.removed} of it`);
      }
    } catch (err) {
      set('intersection', false, message(err));
    }
  }

  // --- exclusions ---------------------------------------------------------------------------------------
  if (r.exclude === null) {
    set('exclusions', true, 'exclude none 0');
  } else if (exclude === undefined) {
    set('exclusions', false, excludeProblem ?? 'no exclusion set');
  } else if (database === undefined) {
    set('exclusions', false, 'not checked: no valid database blob');
  } else {
    try {
      const both = countCommon(exclude, database);
      if (both > 0) {
        set('exclusions', false, `exclusion adds instead of removes: ${both} of the ${r.exclude.count} excluded elements are in the database`);
      } else {
        set('exclusions', true, `${r.exclude.count} excluded elements (${report?.excluded ?? '?'} of them in the intersection), none in the database`);
      }
    } catch (err) {
      set('exclusions', false, message(err));
    }
  }

  // --- added-removed ----------------------------------------------------------------------------------
  if (database === undefined) {
    set('added-removed', false, 'not checked: no valid database blob');
  } else if (sequence > 1 && prev === undefined) {
    set('added-removed', false, `not checked: no release ${sequence - 1}`);
  } else {
    try {
      let previous: Uint8Array = new Uint8Array(0);
      if (prev !== undefined) {
        progress(`release ${sequence - 1}'s database blob`);
        previous = await view.client.blob(prev.entry.blob, cap(prev.entry.database.count, chain.policyAt(prev.index)?.entry.maxEntries ?? p.maxEntries));
        const s = parseDatabase(previous);
        if (!equalBytes(s.root, prev.entry.database.root) || s.count !== prev.entry.database.count) {
          throw new Error(`release ${sequence - 1}'s database blob does not match its database line`);
        }
      }
      const d = diffDatabases(previous, database);
      const against = prev === undefined ? 'the empty database' : `release ${sequence - 1}`;
      if (d.added === r.added && d.removed === r.removed) {
        set('added-removed', true, `added ${d.added}, removed ${d.removed} against ${against}`);
      } else {
        set('added-removed', false, `the release says added ${r.added}, removed ${r.removed}; against ${against} it is added ${d.added}, removed ${d.removed}`);
      }
    } catch (err) {
      set('added-removed', false, message(err));
    }
  }

  // --- caps ---------------------------------------------------------------------------------------------
  {
    const problems: string[] = [];
    try {
      checkEntryLimits(r, p);
    } catch (err) {
      problems.push(message(err));
    }
    if (database !== undefined && database.length / 32 > p.maxEntries) problems.push(`the database blob holds ${database.length / 32} elements, max-entries ${p.maxEntries}`);
    for (const { org, c } of cited) {
      try {
        checkEntryLimits(c.entry, p);
      } catch (err) {
        problems.push(`${org}: ${message(err)}`);
      }
    }
    if (problems.length === 0) {
      set('caps', true, `database ${r.database.count} and every contribution ≤ max-entries ${p.maxEntries}; added ${r.added} needs ${releaseNoticeRequired(p, r.added)} s of notice`);
    } else set('caps', false, problems.join('; '));
  }

  // --- expiry -------------------------------------------------------------------------------------------
  try {
    checkReleaseExpiry(r, publishedAt, p);
    const state = r.expires > view.head.aliveAt ? `not expired at the head's aliveAt ${view.head.aliveAt}` : `EXPIRED at the head's aliveAt ${view.head.aliveAt}`;
    set('expiry', true, `expires ${r.expires}, ${r.expires - publishedAt} s after publication (max-release-age ${p.maxReleaseAge}); ${state}`);
  } catch (err) {
    set('expiry', false, message(err));
  }

  return finish({ release, policy: inForce, publishedAt, published, selected, ...(report !== undefined ? { report } : {}) });
}

function isWellFormed(blob: Uint8Array): boolean {
  try {
    parseDatabase(blob);
    return true;
  } catch (err) {
    if (err instanceof DatabaseError) return false;
    throw err;
  }
}

/** |a ∩ b| for two well-formed blobs. */
function countCommon(a: Uint8Array, b: Uint8Array): number {
  const d = diffDatabases(a, b); // removed = a \ b
  return a.length / 32 - d.removed;
}

/**
 * Verifies P (a checkpoint note) for entry `entry`: signed by the log key and cosigned by the
 * witness quorum of the policy in force at its size, containing the entry, and consistent with
 * the view's verified tree (its root is the verified tree's root at its size).
 */
export async function verifyPublished(
  view: Pick<LogView, 'chain' | 'origin' | 'head' | 'reader' | 'policy'>,
  note: Uint8Array,
  entry: number,
  now: number,
): Promise<{ size: number; seenBy: number; aliveAt: number }> {
  // Verified under the policy in force at P's size (read from the note, then authenticated).
  let claimed: number;
  try {
    claimed = parseCheckpoint(parseNote(note).text).size;
  } catch (err) {
    throw new Error(`the published checkpoint does not parse: ${message(err)}`, { cause: err });
  }
  const policy = view.chain.policyAt(claimed) ?? view.policy;
  const v = verifyCheckpointUnder(note, policy.entry, view.origin, now);
  const size = v.tree.size;
  if (!(size > entry)) throw new Error(`the published checkpoint (size ${size}) does not contain entry ${entry}`);
  if (size > view.head.tree.size) throw new Error(`the published checkpoint (size ${size}) is larger than the verified head (${view.head.tree.size})`);
  const root = await treeHash(size, view.reader);
  if (!equalBytes(root, v.tree.root)) throw new Error(`the published checkpoint's root is not the verified tree's root at size ${size}: a split view`);
  return { size, seenBy: v.seenBy, aliveAt: v.aliveAt };
}
