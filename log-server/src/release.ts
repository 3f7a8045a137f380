// `concord-log release`: the operator builds the next database release from the log, as every
// auditor will recompute it (DESIGN.md "Concord entries" concord/release/v1, "Which contributions
// a release uses", "Database", "Endorsement"), and appends it.
//
//   concord/release/v1
//   sequence <n>
//   previous <leaf of release n−1 | none>
//   policy <leaf of the policy in force>
//   contribution <org> <leaf>            one per selected contribution, sorted by org
//   exclude sha256:<hex> <count> | exclude none 0
//   database <base64 root> <count>
//   added <n>
//   removed <n>
//   blob sha256:<hex>
//   expires <unix seconds>
//
// It runs against the RUNNING server, over HTTP (the sequencing server holds the storage lock),
// and trusts nothing it reads beyond what it checks:
//   1. the checkpoint is opened with the log key from <data>/log.vkey; every entry [0, size) is
//      read through entry bundles authenticated against its root (client-sdk LogClient); entry 0
//      must be <data>/anchor.entry;
//   2. the policy chain is replayed from that anchor (client-sdk PolicyChain, the same rules the
//      server applies); the release's policy is the one in force at the checkpoint's size;
//   3. contributions are selected by client-sdk policy.selectContributions (DESIGN.md's rule);
//   4. each selected contribution's blob is fetched (checked against its SHA-256 by the client),
//      parsed (length, order, uniqueness, max-entries) and its root and count compared with the
//      entry's `set` line — a mismatch refuses the release: no auditor could recompute it;
//   5. database.intersectContributions applies the rule (≥ min-orgs orgs spanning
//      ≥ min-jurisdictions jurisdictions), minus the exclusions;
//   6. added/removed are counted against the previous release's database blob (itself checked
//      against that release's `database` line);
//   7. the caps are enforced, the exclusion blob (if any) and the database blob are uploaded with
//      operator-signed requests, the entry is signed with <data>/operator.key and POSTed to /add;
//   8. the log is read again up to the release's index: if a contribution sequenced in between
//      changed the selection, the release is logged but wrong — this is reported (error 'raced';
//      no auditor will endorse it) and the operator runs `release` again.
//
// Decisions where DESIGN.md is silent:
//
// - Exclusion file (--exclude FILE): the operator learns of false positives as DATABASE
//   ELEMENTS (k·H(x), what a device or an auditor's check-image matched), never as raw hashes,
//   so the file lists elements: one per line, 64 lowercase hex digits or 44 characters of
//   canonical padded base64 (32 bytes either way; the two forms cannot be confused); blank lines
//   and lines starting with '#' are ignored; duplicates collapse. Only listed elements that the
//   intersection would otherwise keep are put in the exclusion blob, so the release's `exclude`
//   count is exactly the number of elements removed (DESIGN.md: "elements removed from the
//   intersection"); the rest are reported as not applied. Keep the file: the next release needs
//   it again.
// - Publication time: contributions are selected by whether they expire after the release's
//   PUBLICATION, seenBy(P) for the first witness-quorum checkpoint P holding the release and its
//   counted endorsements — unknown when the release is built, and possibly days later (orgs
//   audit before they endorse). The tool selects at "now" and at "now + publication window"
//   (--publication-window, default 86,400 s) and refuses if the two differ (error
//   'ambiguous-expiry', naming the contribution): an org whose contribution expires inside that
//   window must renew it, or the operator waits until it has expired.
// - expires = now + --expires-in (default and maximum: the policy's max-release-age). The
//   publication comes after now, so expires − publication ≤ max-release-age holds whenever the
//   release is published; endorsement delays only shorten its useful life.
// - max-entries is a hard cap: a database above it is refused ('too-many-entries').
//   max-added is not (DESIGN.md: more added elements need notice-period × ⌈added / max-added⌉
//   of notice before devices accept the release), but a release that needs more than one notice
//   period is refused unless --accept-long-notice is given, so an operator does not delay every
//   device's update by accident; the notice each release needs is printed either way.
// - An empty database (fewer than min-orgs selected contributions, or no overlap) is a valid
//   release: removals are always safe and devices accept a subset at once.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { compareBytes, equalBytes, fromBase64, fromHex, toBase64, toHex } from '@concord/client-sdk/bytes';
import { openCheckpoint } from '@concord/client-sdk/checkpoint';
import { LogClient } from '@concord/client-sdk/client';
import type { Fetch } from '@concord/client-sdk/client';
import { diffDatabases, formatDatabase, intersectContributions, parseDatabase } from '@concord/client-sdk/database';
import type { IntersectionReport } from '@concord/client-sdk/database';
import { parseSignedEntry, signEntry } from '@concord/client-sdk/entries';
import type { ContributionEntry, ReleaseEntry, SignedEntry } from '@concord/client-sdk/entries';
import { ConcordError } from '@concord/client-sdk/errors';
import { newSigner, newVerifier, parseVerifierKey } from '@concord/client-sdk/note';
import type { Ed25519Verify } from '@concord/client-sdk/note';
import { RemoteNotices } from '@concord/client-sdk/notice';
import { PolicyChain, releaseNoticeRequired, selectContributions } from '@concord/client-sdk/policy';
import type { ChainPolicy, ContributionRejection, IndexedEntry, SelectedContribution } from '@concord/client-sdk/policy';
import { sha256 } from '@concord/client-sdk/sha256';
import { nativeEd25519Verify } from './ed25519-native.js';
import { keyPaths, readSignerKeyFile } from './keys.js';

export type ReleaseErrorCode =
  /** A key file, the anchor or the exclusion file is missing or malformed. */
  | 'bad-input'
  /** The checkpoint is not signed by the log key, or the log does not start with the anchor. */
  | 'bad-log'
  /** No policy is in force at the log's size. */
  | 'no-policy'
  /** A selected contribution's blob does not match its `set` line (root, count) or is unavailable. */
  | 'bad-contribution-blob'
  /** The previous release's database blob does not match its `database` line. */
  | 'bad-previous-blob'
  /** The selection differs between now and now + the publication window. */
  | 'ambiguous-expiry'
  /** The database would exceed the policy's max-entries. */
  | 'too-many-entries'
  /** added > max-added without --accept-long-notice. */
  | 'too-many-added'
  /** --expires-in is not in 1 … max-release-age. */
  | 'bad-expiry'
  /** The release was logged, but a contribution sequenced before it changed the selection. */
  | 'raced';

export class ReleaseError extends ConcordError<ReleaseErrorCode> {
  override readonly name = 'ReleaseError';
}

export const DEFAULT_PUBLICATION_WINDOW = 86_400;
/** Exclusion files above this are refused (a million elements in hex is 65 MB). */
export const MAX_EXCLUDE_FILE_BYTES = 128 << 20;

export interface ReleaseOptions {
  /** The log's data directory: log.vkey, operator.key, anchor.entry. */
  readonly dataDir: string;
  /** The running server's base URL. */
  readonly logUrl: string;
  /** Exclusion file (see the header); none by default. */
  readonly excludeFile?: string;
  /** Seconds from now to `expires` (default: the policy's max-release-age). */
  readonly expiresIn?: number;
  /** Seconds within which the release is expected to be published (default 86,400). */
  readonly publicationWindow?: number;
  /** Allow added > max-added (the release then needs a longer notice). */
  readonly acceptLongNotice?: boolean;
  /** Compute and report, but upload and append nothing. */
  readonly dryRun?: boolean;
  readonly fetch?: Fetch;
  /** Unix seconds (default: the system clock). */
  readonly now?: () => number;
  readonly verify?: Ed25519Verify;
}

export interface SelectedReport {
  readonly org: string;
  readonly jurisdiction: string;
  readonly index: number;
  readonly sequence: number;
  readonly leaf: string;
  readonly count: number;
  readonly expires: number;
}

export interface ReleaseResult {
  readonly origin: string;
  /** The checkpoint size the release was computed at. */
  readonly logSize: number;
  /** The log index the release got (absent on a dry run). */
  readonly index?: number;
  readonly leafHash: string;
  readonly sequence: number;
  readonly policy: { readonly sequence: number; readonly leaf: string };
  /** The policy's numbers the release was checked against. */
  readonly rules: {
    readonly minOrgs: number;
    readonly minJurisdictions: number;
    readonly maxEntries: number;
    readonly maxAdded: number;
    readonly noticePeriod: number;
    readonly maxReleaseAge: number;
  };
  readonly selected: SelectedReport[];
  readonly rejected: { readonly index: number; readonly org: string | null; readonly reason: ContributionRejection }[];
  readonly report: IntersectionReport;
  readonly exclusion: { readonly listed: number; readonly applied: number; readonly notApplied: number; readonly blob: string | null };
  readonly database: { readonly root: string; readonly count: number; readonly blob: string };
  readonly previous: { readonly sequence: number; readonly count: number } | null;
  readonly added: number;
  readonly removed: number;
  /** Seconds of notice devices wait for (notice-period × ⌈added / max-added⌉ when above). */
  readonly noticeRequired: number;
  readonly expires: number;
  readonly dryRun: boolean;
  /** The signed release entry (note text with its signature line). */
  readonly entry: string;
}

/** What the tool read from the log. */
interface LogRead {
  readonly size: number;
  readonly chain: PolicyChain;
  readonly contributions: IndexedEntry[];
  readonly lastRelease: { entry: ReleaseEntry; leaf: Uint8Array; index: number } | undefined;
}

function readLine(file: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ReleaseError('bad-input', `cannot read ${what} ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (!text.endsWith('\n') || text.indexOf('\n') !== text.length - 1) throw new ReleaseError('bad-input', `${file} must hold one line`);
  return text.slice(0, -1);
}

/**
 * Parses an exclusion file (see the header): the sorted, de-duplicated elements as a database
 * blob. Throws ReleaseError('bad-input') naming the first bad line.
 */
export function parseExclusionFile(text: string): Uint8Array {
  const elements: Uint8Array[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '' || line.startsWith('#')) return;
    let e: Uint8Array | undefined;
    try {
      if (/^[0-9a-f]{64}$/.test(line)) e = fromHex(line, 32);
      else if (line.length === 44) e = fromBase64(line, 32);
    } catch {
      e = undefined;
    }
    if (e === undefined) {
      throw new ReleaseError('bad-input', `exclusion file line ${i + 1}: want 64 lowercase hex digits or canonical base64 of 32 bytes`);
    }
    elements.push(e);
  });
  return formatDatabase(elements);
}

/** Elements of sorted blob `a` that are also in sorted blob `b`, as a blob. */
function intersectTwo(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out: Uint8Array[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const c = compareBytes(a.subarray(i, i + 32), b.subarray(j, j + 32));
    if (c === 0) {
      out.push(a.subarray(i, i + 32));
      i += 32;
      j += 32;
    } else if (c < 0) i += 32;
    else j += 32;
  }
  return formatDatabase(out);
}

async function readLog(client: LogClient, origin: string, logVkey: string, anchor: SignedEntry, verify: Ed25519Verify, now: number, upTo?: number): Promise<LogRead> {
  let cp;
  try {
    cp = openCheckpoint(await client.checkpoint(), newVerifier(logVkey, { ed25519Verify: verify }), origin);
  } catch (err) {
    if (err instanceof ConcordError && err.name !== 'ClientError') {
      throw new ReleaseError('bad-log', `the checkpoint does not verify with the log key: ${err.message}`, { cause: err });
    }
    throw err;
  }
  const tree = { size: cp.checkpoint.size, root: cp.checkpoint.root };
  const size = upTo ?? tree.size;
  if (size > tree.size) throw new ReleaseError('bad-log', `the checkpoint (size ${tree.size}) does not include index ${size - 1}`);
  const reader = client.hashReader(tree);
  const raw = await client.entries(tree, 0, size, reader);
  // A successor needing notice governs from the notice checkpoint the log designates, exactly
  // as devices and auditors decide it (client-sdk notice.ts): the release names that policy.
  const notices = new RemoteNotices({ client, origin, tree, reader, now, ed25519Verify: verify });
  const chain = new PolicyChain({ origin, anchor: anchor.leafHash, ed25519Verify: verify, noticedFrom: notices.noticedFrom });
  const contributions: IndexedEntry[] = [];
  let lastRelease: LogRead['lastRelease'];
  raw.forEach((bytes, index) => {
    let se: SignedEntry;
    try {
      se = parseSignedEntry(bytes);
    } catch (err) {
      throw new ReleaseError('bad-log', `entry ${index} does not parse: ${(err as Error).message}`, { cause: err });
    }
    if (index === 0 && !equalBytes(se.leafHash, anchor.leafHash)) throw new ReleaseError('bad-log', 'entry 0 is not <data>/anchor.entry');
    chain.add(se, index);
    if (se.entry.type === 'contribution') contributions.push({ signed: se, index });
    // The server admits a release only as the successor of the latest one, so the last release
    // entry in the log is the latest release.
    else if (se.entry.type === 'release') lastRelease = { entry: se.entry, leaf: se.leafHash, index };
  });
  await notices.resolve(chain);
  return { size, chain, contributions, lastRelease };
}

function selectionKey(selected: readonly SelectedContribution[]): string {
  return selected.map((s) => `${s.org} ${toHex(s.leaf)}`).join('\n');
}

/** Builds, checks and (unless dryRun) uploads and appends the next release; see the header. */
export async function buildRelease(o: ReleaseOptions): Promise<ReleaseResult> {
  const now = (o.now ?? (() => Math.floor(Date.now() / 1000)))();
  const verify = o.verify ?? nativeEd25519Verify();
  const keys = keyPaths(o.dataDir);
  const logVkey = readLine(keys.logPublic, 'the log key');
  let origin: string;
  try {
    origin = parseVerifierKey(logVkey).name; // the log key is named after the origin
  } catch (err) {
    throw new ReleaseError('bad-input', `${keys.logPublic} does not hold a verifier key`, { cause: err });
  }
  let operatorSkey: string;
  try {
    operatorSkey = readSignerKeyFile(keys.operator);
  } catch (err) {
    throw new ReleaseError('bad-input', `operator key: ${(err as Error).message}`, { cause: err });
  }
  let anchor: SignedEntry;
  try {
    anchor = parseSignedEntry(readFileSync(path.join(o.dataDir, 'anchor.entry')));
  } catch (err) {
    throw new ReleaseError('bad-input', `<data>/anchor.entry: ${(err as Error).message}`, { cause: err });
  }
  const exclude = o.excludeFile === undefined ? new Uint8Array(0) : readExclusionFile(o.excludeFile);
  const window = o.publicationWindow ?? DEFAULT_PUBLICATION_WINDOW;
  if (!Number.isSafeInteger(window) || window < 0) throw new ReleaseError('bad-input', 'the publication window must be a whole number of seconds');

  const client = new LogClient({ url: o.logUrl, ...(o.fetch !== undefined ? { fetch: o.fetch } : {}), now: o.now ?? (() => Math.floor(Date.now() / 1000)) });
  const log = await readLog(client, origin, logVkey, anchor, verify, now);
  const policy: ChainPolicy | undefined = log.chain.policyAt(log.size);
  if (policy === undefined) throw new ReleaseError('no-policy', `no policy in force at index ${log.size}`);
  const p = policy.entry;

  const expiresIn = o.expiresIn ?? p.maxReleaseAge;
  if (!Number.isSafeInteger(expiresIn) || expiresIn < 1 || expiresIn > p.maxReleaseAge) {
    throw new ReleaseError('bad-expiry', `--expires-in must be 1 … ${p.maxReleaseAge} s (the policy's max-release-age)`);
  }

  // 3. Selection, at the earliest and latest plausible publication time.
  const select = (at: number) => selectContributions(p, log.size, at, log.contributions, log.chain, { ed25519Verify: verify });
  const selection = select(now);
  const late = select(now + window);
  if (selectionKey(selection.selected) !== selectionKey(late.selected)) {
    const lateLeaves = new Set(late.selected.map((s) => toHex(s.leaf)));
    const at = selection.selected.find((s) => !lateLeaves.has(toHex(s.leaf)));
    throw new ReleaseError(
      'ambiguous-expiry',
      at === undefined
        ? `the selection changes within the publication window of ${window} s`
        : `the contribution of ${at.org} at index ${at.index} expires at ${at.entry.expires}, within the publication window ` +
          `(${window} s): auditors may or may not select it. Ask ${at.org} for a fresh contribution, or wait until it has expired.`,
    );
  }

  // 4. Contribution blobs.
  const jurisdiction = new Map(p.orgs.map((x) => [x.name, x.jurisdiction]));
  const blobs = await Promise.all(
    selection.selected.map(async (s) => {
      const e: ContributionEntry = s.entry;
      let bytes: Uint8Array;
      try {
        bytes = await client.blob(e.blob, 32 * e.set.count);
        const sum = parseDatabase(bytes, { maxEntries: p.maxEntries });
        if (sum.count !== e.set.count || !equalBytes(sum.root, e.set.root)) throw new Error('its root and count differ from the entry\'s set line');
      } catch (err) {
        throw new ReleaseError(
          'bad-contribution-blob',
          `the contribution of ${s.org} at index ${s.index}: blob sha256:${toHex(e.blob)}: ${(err as Error).message}`,
          { cause: err },
        );
      }
      return { org: s.org, jurisdiction: jurisdiction.get(s.org)!, elements: bytes };
    }),
  );

  // 5. The rule, then the exclusions that remove something.
  const rule = { minOrgs: p.minOrgs, minJurisdictions: p.minJurisdictions };
  const candidates = intersectContributions(blobs, rule);
  const applied = intersectTwo(exclude, candidates.elements);
  // Without an exclusion that removes something, the second pass would repeat the first.
  const db = applied.length === 0 ? candidates : intersectContributions(blobs, rule, applied);
  if (db.count > p.maxEntries) {
    throw new ReleaseError('too-many-entries', `the database would hold ${db.count} elements; the policy's max-entries is ${p.maxEntries}`);
  }

  // 6. Against the previous release.
  let added = db.count;
  let removed = 0;
  const prev = log.lastRelease;
  if (prev !== undefined) {
    let prevBlob: Uint8Array;
    try {
      prevBlob = await client.blob(prev.entry.blob, 32 * prev.entry.database.count);
      const sum = parseDatabase(prevBlob);
      if (sum.count !== prev.entry.database.count || !equalBytes(sum.root, prev.entry.database.root)) {
        throw new Error('its root and count differ from the release\'s database line');
      }
    } catch (err) {
      throw new ReleaseError('bad-previous-blob', `release ${prev.entry.sequence}'s database blob: ${(err as Error).message}`, { cause: err });
    }
    ({ added, removed } = diffDatabases(prevBlob, db.elements));
  }

  // 7. Caps, then the entry.
  const noticeRequired = releaseNoticeRequired(p, added);
  if (added > p.maxAdded && o.acceptLongNotice !== true) {
    throw new ReleaseError(
      'too-many-added',
      `${added} elements added, above max-added ${p.maxAdded}: devices would wait ${noticeRequired} s of notice ` +
        `(notice-period ${p.noticePeriod} s × ⌈${added} / ${p.maxAdded}⌉) instead of ${p.noticePeriod} s. ` +
        'Pass --accept-long-notice to release anyway.',
    );
  }
  const expires = now + expiresIn;
  const excludeDigest = applied.length > 0 ? sha256(applied) : null;
  const entry: ReleaseEntry = {
    type: 'release',
    sequence: prev === undefined ? 1 : prev.entry.sequence + 1,
    previous: prev === undefined ? null : prev.leaf,
    policy: policy.leaf,
    contributions: selection.selected.map((s) => ({ org: s.org, leaf: s.leaf })),
    exclude: excludeDigest === null ? null : { blob: excludeDigest, count: applied.length / 32 },
    database: { root: db.root, count: db.count },
    added,
    removed,
    blob: sha256(db.elements),
    expires,
  };
  const signer = newSigner(operatorSkey);
  const bytes = signEntry(entry, signer);
  const signed = parseSignedEntry(bytes);

  let index: number | undefined;
  if (o.dryRun !== true) {
    if (applied.length > 0) await client.putBlob(origin, applied, signer);
    await client.putBlob(origin, db.elements, signer);
    index = (await client.add(bytes)).index;
    // 8. Did anything sequenced between our read and the release change the selection?
    if (index > log.size) {
      const after = await readLog(client, origin, logVkey, anchor, verify, now, index);
      const atIndex = after.chain.policyAt(index);
      const again = selectContributions(p, index, now, after.contributions, after.chain, { ed25519Verify: verify });
      if (atIndex === undefined || !equalBytes(atIndex.leaf, policy.leaf) || selectionKey(again.selected) !== selectionKey(selection.selected)) {
        throw new ReleaseError(
          'raced',
          `release ${entry.sequence} was logged at index ${index}, but entries sequenced since index ${log.size} change its ` +
            'selection: auditors will not endorse it. Run release again.',
        );
      }
    }
  }

  return {
    origin,
    logSize: log.size,
    ...(index !== undefined ? { index } : {}),
    leafHash: toBase64(signed.leafHash),
    sequence: entry.sequence,
    policy: { sequence: p.sequence, leaf: toBase64(policy.leaf) },
    rules: {
      minOrgs: p.minOrgs,
      minJurisdictions: p.minJurisdictions,
      maxEntries: p.maxEntries,
      maxAdded: p.maxAdded,
      noticePeriod: p.noticePeriod,
      maxReleaseAge: p.maxReleaseAge,
    },
    selected: selection.selected.map((s) => ({
      org: s.org,
      jurisdiction: jurisdiction.get(s.org)!,
      index: s.index,
      sequence: s.entry.sequence,
      leaf: toBase64(s.leaf),
      count: s.entry.set.count,
      expires: s.entry.expires,
    })),
    rejected: selection.rejected.map((r) => ({ index: r.index, org: r.org ?? null, reason: r.reason })),
    report: db.report,
    exclusion: {
      listed: exclude.length / 32,
      applied: applied.length / 32,
      notApplied: (exclude.length - applied.length) / 32,
      blob: excludeDigest === null ? null : `sha256:${toHex(excludeDigest)}`,
    },
    database: { root: toBase64(db.root), count: db.count, blob: `sha256:${toHex(entry.blob)}` },
    previous: prev === undefined ? null : { sequence: prev.entry.sequence, count: prev.entry.database.count },
    added,
    removed,
    noticeRequired,
    expires,
    dryRun: o.dryRun === true,
    entry: new TextDecoder().decode(bytes),
  };
}

function readExclusionFile(file: string): Uint8Array {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new ReleaseError('bad-input', `cannot read the exclusion file ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (bytes.length > MAX_EXCLUDE_FILE_BYTES) throw new ReleaseError('bad-input', `the exclusion file is above ${MAX_EXCLUDE_FILE_BYTES} bytes`);
  return parseExclusionFile(bytes.toString('utf8'));
}

const REASONS: Record<ContributionRejection, string> = {
  'not-a-contribution': 'not a contribution',
  'not-before-release': 'not sequenced before the release',
  'unknown-org': 'its org is not in the policy in force at its index',
  'bad-signature': 'not signed by its org\'s key',
  void: 'void: its sequence is not above an earlier contribution of its org',
  'org-not-in-policy': 'its org is not in the release\'s policy',
  'unknown-policy': 'names a policy that was not in force',
  'different-blinding': 'made under another blinding key or hash algorithm',
  'too-many-entries': 'its set is above max-entries',
  expired: 'expired',
  superseded: 'superseded by a later contribution of its org',
};

function iso(t: number): string {
  return new Date(t * 1000).toISOString().replace('.000Z', 'Z');
}

/** The human-readable summary: what each rule kept and dropped (the intersection report). */
export function formatReleaseSummary(r: ReleaseResult): string {
  const p = r.rules;
  const out: string[] = [];
  const pad = (s: string, n: number): string => s + ' '.repeat(Math.max(1, n - s.length));
  out.push(
    r.dryRun
      ? `DRY RUN: release ${r.sequence} of ${r.origin}, computed at log size ${r.logSize} (nothing uploaded or appended)`
      : `release ${r.sequence} of ${r.origin} appended at index ${r.index} (leaf ${r.leafHash})`,
  );
  out.push(`policy ${r.policy.sequence} (leaf ${r.policy.leaf})`);
  out.push(`contributions selected: ${r.selected.length}`);
  for (const s of r.selected) {
    out.push(`  ${pad(s.org, 16)}${pad(s.jurisdiction, 4)}contribution ${s.sequence} at index ${s.index}, ${s.count} elements, expires ${iso(s.expires)}`);
  }
  const notSelected = r.rejected.filter((x) => x.reason !== 'not-a-contribution');
  out.push(`contributions not selected: ${notSelected.length}`);
  for (const x of notSelected) out.push(`  index ${x.index}${x.org === null ? '' : ` ${x.org}`}: ${REASONS[x.reason]}`);
  const rep = r.report;
  const minOrgs = `${p.minOrgs} orgs (min-orgs)`;
  const minJ = `${p.minJurisdictions} jurisdictions (min-jurisdictions)`;
  out.push(`intersection of ${rep.contributions} contributions: ${rep.distinct} distinct elements`);
  out.push(`  dropped, held by fewer than ${minOrgs}: ${rep.belowMinOrgs}`);
  out.push(`  dropped, holders span fewer than ${minJ}: ${rep.belowMinJurisdictions}`);
  out.push(`  dropped, excluded as false positives: ${rep.excluded}`);
  out.push(`  kept: ${rep.kept}`);
  out.push(
    `exclusions: ${r.exclusion.listed} listed, ${r.exclusion.applied} applied` +
      (r.exclusion.notApplied > 0 ? `, ${r.exclusion.notApplied} not in the intersection (not applied)` : '') +
      (r.exclusion.blob === null ? ' (exclude none 0)' : ` (blob ${r.exclusion.blob})`),
  );
  out.push(`database: ${r.database.count} elements (max-entries ${p.maxEntries}), root ${r.database.root}, blob ${r.database.blob}`);
  out.push(
    r.previous === null
      ? `changes: first release, ${r.added} added`
      : `changes since release ${r.previous.sequence} (${r.previous.count} elements): ${r.added} added, ${r.removed} removed`,
  );
  out.push(
    `notice devices wait for: ${r.noticeRequired} s` +
      (r.added > p.maxAdded ? ` (added ${r.added} > max-added ${p.maxAdded}: notice-period ${p.noticePeriod} s × ⌈added / max-added⌉)` : ` (added ≤ max-added ${p.maxAdded})`),
  );
  out.push(`expires: ${iso(r.expires)} (${r.expires}; max-release-age ${p.maxReleaseAge} s)`);
  return out.join('\n') + '\n';
}

