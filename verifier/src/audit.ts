// The audit engine behind `concord audit`: verify a whole Concord log from the outside, with
// nothing but its URL and the pinned trust anchor, and say what is wrong as findings.
//
// Phases (each timed for the report's breakdown):
//   download      the checkpoint (pinned for the whole run), every entry bundle authenticated
//                 against it (log-view.ts); with --state, full bundles and hash tiles are cached
//                 on disk once authenticated, so an interrupted audit resumes
//   tree          the root recomputed from every entry (independent of the tiles), and
//                 consistency proven with the last audited checkpoint (--state)
//   entries       every entry: parses, its one signature is by the key the policy in force
//                 allows, caps, the release chain (sequence, previous); the policy chain with
//                 notices proven from witness cosignature times
//   blobs, intersection
//                 every release recomputed from its blobs by release-audit.ts's auditRelease —
//                 the same checks an organisation runs before it endorses: policy named,
//                 contribution selection, each cited blob against its set line, intersection and
//                 exclusions, database root, count and blob digest, added/removed, caps, expiry —
//                 plus what only a whole-log audit judges (auditOneRelease): which policy a wrong
//                 `policy` line names and why it is not in force (no quorum, notice too short),
//                 endorsements and their quorum, notice, per-org and per-jurisdiction counts
//
// Findings, one class per kind of misbehaviour (FindingClass); each is produced by a test that
// builds a log committing exactly that misbehaviour (verifier/test/audit-findings.test.ts).
// A release still within its notice period without its endorsement quorum is `pending`, not a
// finding: orgs have until the notice ends to endorse (DESIGN.md "Endorsement").
//
// Decisions where DESIGN.md is silent:
// - A policy that needs notice governs from the size of its notice checkpoint N, the one the log
//   designates at GET /checkpoint/noticed?policy=<index> (client-sdk policy.ts, NoticedFrom; the
//   same N the server decided and devices get in bundles), if N proves the notice; a log that
//   does not serve that route (an older server): from the smallest checkpoint it serves that
//   proves the notice (the head, or the checkpoint served for the entry before a release).
// - The state directory's checkpoint is replaced only when the new head is consistent with it;
//   after a fork it keeps the old one (the evidence) and every later audit reports the fork.
// - Entry signatures are verified natively, as the log server does (libsodium, else node:crypto:
//   ed25519-native.ts); the policy chain, endorsement counting and release checks use
//   client-sdk's noble path.
//
// A finding is misbehaviour the evidence proves (a stable `class`, an `id` naming where, a
// message, and evidence a third party can re-check). Operational failures (network, HTTP
// errors other than a missing blob) are thrown instead: they prove nothing about the log.
//
// Time: every time used comes from witness cosignatures (seenBy, aliveAt; DESIGN.md "Time,
// notice and freshness"); the auditor's clock only decides which cosignatures are from the
// future (> 300 s ahead) and is never used for notice.

import { createHash } from 'node:crypto';
import { equalBytes, toBase64, toHex, utf8 } from '@concord/client-sdk/bytes';
import { parseCheckpoint } from '@concord/client-sdk/checkpoint';
import { ClientError, LogClient, MAX_CHECKPOINT_BYTES, readCapped } from '@concord/client-sdk/client';
import type { Fetch, FetchResponse, TileCache } from '@concord/client-sdk/client';
import { ELEMENT_SIZE } from '@concord/client-sdk/database';
import type { IntersectionReport } from '@concord/client-sdk/database';
import { EntryError } from '@concord/client-sdk/entries';
import type { ReleaseEntry, SignedEntry } from '@concord/client-sdk/entries';
import { MerkleError, TreeBuilder, leafHash, proveConsistency, verifyConsistency } from '@concord/client-sdk/merkle';
import type { HashReader } from '@concord/client-sdk/merkle';
import { parseNote, parseVerifierKey } from '@concord/client-sdk/note';
import type { Ed25519Verify } from '@concord/client-sdk/note';
import { nativeEd25519VerifyAsync } from './ed25519-native.js';
import {
  PolicyError,
  checkEntryLimits,
  checkReleaseSuccession,
  countEndorsements,
  isNoticed,
  noticedFromCheckpoints,
  releaseNoticeRequired,
  authorKeysFor,
} from '@concord/client-sdk/policy';
import type { ChainPolicy, IndexedEntry, NoticeQuery, PolicyRef } from '@concord/client-sdk/policy';
import { TILE_WIDTH, TilesError, encodeEntryBundle, tilePath } from '@concord/client-sdk/tiles';
import type { TreeHead } from '@concord/client-sdk/tiles';
import { LogViewError, openLogView, verifyCheckpointUnder } from './log-view.js';
import { auditRelease } from './release-audit.js';
import type { ReleaseCheck, ReleaseCheckId } from './release-audit.js';
import type { LogView, Trust, VerifiedCheckpoint } from './log-view.js';
import { silentProgress } from './progress.js';
import type { Progress } from './progress.js';
import type { LastAudit, StateDir } from './state-dir.js';

// ---------------------------------------------------------------------------------------------
// Findings

export type FindingClass =
  /** A checkpoint the log signed (remembered in --state, or served as a publication checkpoint) is not consistent with the head. */
  | 'forked-checkpoint'
  /** The head is smaller than a checkpoint the log signed before. */
  | 'rolled-back-checkpoint'
  /** The head (or a checkpoint the log serves) is not signed by the log key of the policy in force. */
  | 'bad-checkpoint'
  /** The head is not cosigned by the witness quorum of the policy in force. */
  | 'witness-quorum'
  /** Entry 0 of the log is not the trust anchor. */
  | 'anchor-mismatch'
  /** A tile, entry bundle or blob served does not authenticate against the signed root or its digest. */
  | 'tampered-data'
  /** An entry does not parse. */
  | 'bad-entry'
  /** An entry is not signed by the key the policy in force at its index allows. */
  | 'bad-author'
  /** A release's sequence or previous does not follow the release before it. */
  | 'bad-release-chain'
  /** A release names a policy that never reached its predecessor's endorsement quorum. */
  | 'policy-without-quorum'
  /** A release names a policy whose quorum was met but whose notice period had not ended. */
  | 'notice-too-short'
  /** A release names a policy other than the one in force at its index. */
  | 'wrong-policy'
  /** The release's contribution lines are not what the contribution-selection rule selects. */
  | 'wrong-contributions'
  /** A selected contribution's blob does not have its set line's root and count. */
  | 'contribution-blob-mismatch'
  /** A blob a release depends on is not served. */
  | 'blob-unavailable'
  /** The release database is not the intersection (minus exclusions) of its contributions. */
  | 'not-intersection'
  /** The exclusion blob does not have the exclude line's count. */
  | 'exclusion-mismatch'
  /** The release's blob digest is not the recomputed database's. */
  | 'release-blob-mismatch'
  /** The release's added/removed lines are not the difference from the previous release. */
  | 'added-removed-mismatch'
  /** A database or contribution exceeds max-entries. */
  | 'too-many-entries'
  /** A release expires more than max-release-age after its publication. */
  | 'release-expires-too-late'
  /** A release's notice period ended without the endorsement quorum. */
  | 'missing-endorsements';

export interface Finding {
  /** Stable: `<class>@<where>`, e.g. `not-intersection@release-2`. */
  readonly id: string;
  readonly class: FindingClass;
  readonly message: string;
  /** Log index of the entry concerned, when there is one. */
  readonly index?: number;
  /** Re-checkable evidence: checkpoint notes, roots, counts (strings). */
  readonly evidence?: Readonly<Record<string, string>>;
}

function finding(cls: FindingClass, where: string, message: string, extra?: { index?: number; evidence?: Record<string, string> }): Finding {
  return { id: `${cls}@${where}`, class: cls, message, ...(extra?.index !== undefined ? { index: extra.index } : {}), ...(extra?.evidence !== undefined ? { evidence: extra.evidence } : {}) };
}

const text = (b: Uint8Array): string => new TextDecoder().decode(b);

// ---------------------------------------------------------------------------------------------
// Report

export interface OrgCount {
  readonly org: string;
  readonly jurisdiction: string;
  /** Log index and sequence of the contribution used. */
  readonly index: number;
  readonly sequence: number;
  /** Elements it contributed. */
  readonly contributed: number;
  /** Of those, elements in the release database. */
  readonly inDatabase: number;
}

export interface ReleaseReport {
  readonly sequence: number;
  readonly index: number;
  /** Hex leaf hash. */
  readonly leaf: string;
  readonly policy: number | undefined;
  readonly database: { readonly root: string; readonly count: number };
  readonly added: number;
  readonly removed: number;
  readonly expires: number;
  /** seenBy(P): publication time, when published (quorum-cosigned with its endorsements). */
  readonly publishedAt: number | undefined;
  /** Seconds of notice required (notice-period × ⌈added / max-added⌉). */
  readonly noticeRequired: number | undefined;
  /** Noticed by the head's aliveAt; undefined when not published. */
  readonly noticed: boolean | undefined;
  readonly contributions: readonly OrgCount[];
  /** Database elements held by at least one org of each jurisdiction. */
  readonly jurisdictions: Readonly<Record<string, number>>;
  readonly endorsements: { readonly orgs: readonly string[]; readonly jurisdictions: readonly string[]; readonly quorum: boolean; readonly quorumIndex: number | undefined };
  readonly intersection: IntersectionReport | undefined;
  /** release-audit.ts's named checks, one per rule. */
  readonly checks: readonly ReleaseCheck[];
  /** ok: every check passed; pending: awaiting endorsements within its notice period; failed: findings. */
  readonly status: 'ok' | 'pending' | 'failed';
}

export interface PolicyReport {
  readonly sequence: number;
  readonly index: number;
  readonly leaf: string;
  readonly activeFrom: number;
  readonly removalOnly: boolean;
}

export interface AuditTimings {
  download: number;
  tree: number;
  entries: number;
  blobs: number;
  intersection: number;
  total: number;
}

export interface AuditReport {
  readonly origin: string;
  readonly log: string;
  readonly checkpoint: { readonly size: number; readonly root: string; readonly seenBy: number; readonly aliveAt: number; readonly witnesses: number; readonly note: string } | undefined;
  readonly previous: { readonly size: number; readonly root: string } | undefined;
  readonly changes: { readonly entries: number; readonly releases: readonly number[]; readonly policies: readonly number[] } | undefined;
  readonly entries: { readonly total: number; readonly policy: number; readonly contribution: number; readonly release: number; readonly endorsement: number; readonly unparsable: number };
  readonly policies: readonly PolicyReport[];
  readonly releases: readonly ReleaseReport[];
  readonly findings: readonly Finding[];
  readonly timings: AuditTimings;
  /** True when the audit could not get past the checkpoint or downloads (findings say why). */
  readonly incomplete: boolean;
}

// ---------------------------------------------------------------------------------------------
// Options

export interface AuditOptions {
  readonly url: string;
  readonly trust: Trust;
  /** Unix seconds (only to discard cosignatures from the future). */
  readonly now: number;
  readonly fetch?: Fetch;
  readonly state?: StateDir;
  readonly progress?: Progress;
  /** Parallel downloads (default 8). */
  readonly concurrency?: number;
}

/**
 * policy.verifyEntryAuthor with each verifier key parsed once: the same keys allowed
 * (authorKeysFor), the same match (name and key ID), the same signature check, the same errors
 * (PolicyError from authorKeysFor or 'wrong-author', EntryError 'invalid-signature'). Parsing a
 * verifier key decompresses an Ed25519 point in JavaScript — more than a native verification
 * costs — and an audit checks every entry against the same few dozen keys.
 * verifier/test/audit-findings.test.ts checks it answers as verifyEntryAuthor does.
 */
export function entryAuthorChecker(verify: Ed25519Verify): (se: SignedEntry, inForce: PolicyRef | undefined) => void {
  const authorKey = entryAuthorKeys();
  return (se, inForce) => {
    const match = authorKey(se, inForce);
    const sig = se.signature.signature;
    if (!(sig.length === 64 && verify(match.publicKey, utf8(se.text), sig))) {
      throw new EntryError('invalid-signature', `signature by ${JSON.stringify(match.name)} does not verify`);
    }
  };
}

export interface AuthorKey {
  readonly name: string;
  readonly keyHash: number;
  readonly publicKey: Uint8Array;
}

/**
 * The first half of entryAuthorChecker: the key (of those authorKeysFor allows) whose name and
 * key ID the entry's signature line names; throws PolicyError like verifyEntryAuthor. The
 * signature is the caller's to verify, with that key, over the entry's text.
 */
export function entryAuthorKeys(): (se: SignedEntry, inForce: PolicyRef | undefined) => AuthorKey {
  const keys = new Map<string, AuthorKey>();
  const key = (vkey: string): AuthorKey => {
    let k = keys.get(vkey);
    if (k === undefined) {
      const p = parseVerifierKey(vkey); // keys come from parsed policies: already valid
      k = { name: p.name, keyHash: p.keyHash, publicKey: p.publicKey };
      keys.set(vkey, k);
    }
    return k;
  };
  return (se, inForce) => {
    const allowed = authorKeysFor(se.entry, inForce);
    const match = allowed.map(key).find((k) => k.name === se.signature.name && k.keyHash === se.signature.keyHash);
    if (match === undefined) throw new PolicyError('wrong-author', `entry signed by ${JSON.stringify(se.signature.name)}, not an allowed author`);
    return match;
  };
}

/** Blobs are at most 32 × max-entries bytes (DESIGN.md "Server surface"); the anchor's cap, at least 1 GiB. */
function blobCap(trust: Trust): number {
  return Math.max(ELEMENT_SIZE * trust.policy.maxEntries, 1 << 30);
}

/** Errors that mean served data does not authenticate (as opposed to a failed request). */
function isTamper(err: unknown): boolean {
  return (
    err instanceof TilesError ||
    err instanceof MerkleError ||
    (err instanceof ClientError && (err.code === 'bad-response' || err.code === 'blob-mismatch' || err.code === 'too-large'))
  );
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A fetch that answers /checkpoint with the pinned note (one head for the whole audit) and full
 * entry bundles from the state directory (saved only once authenticated, and checked again on
 * use by client.entries against the tree's leaf hashes).
 */
function pinnedFetch(base: string, inner: Fetch, note: Uint8Array, cache: TileCache | undefined): Fetch {
  const prefix = base.replace(/\/+$/, '');
  const answer = (body: Uint8Array): FetchResponse =>
    new Response(body, { status: 200, headers: { 'content-length': String(body.length) } }) as unknown as FetchResponse;
  return async (url, init) => {
    if ((init?.method ?? 'GET') === 'GET' && url.startsWith(prefix)) {
      const p = url.slice(prefix.length);
      if (p === '/checkpoint') return answer(note);
      if (cache !== undefined && /^\/tile\/entries\/[x0-9/]+$/.test(p)) {
        const hit = cache.get(p.slice(1));
        if (hit !== undefined) return answer(hit);
      }
    }
    return inner(url, init);
  };
}

/** Downloads full entry bundles not yet in the cache, saving each once authenticated. */
async function prefetchBundles(client: LogClient, head: VerifiedCheckpoint, reader: HashReader, cache: TileCache, bar: { update(n: number): void }): Promise<void> {
  const full = Math.floor(head.tree.size / TILE_WIDTH);
  const CHUNK = 8; // bundles fetched concurrently and saved together: what an interruption can lose
  for (let n = 0; n < full; n += CHUNK) {
    const stop = Math.min(full, n + CHUNK);
    let missing = false;
    for (let m = n; m < stop && !missing; m++) missing = cache.get(tilePath({ level: 'entries', n: m, width: TILE_WIDTH })) === undefined;
    if (missing) {
      const entries = await client.entries(head.tree, n * TILE_WIDTH, stop * TILE_WIDTH, reader);
      for (let m = n; m < stop; m++) {
        const chunk = entries.slice((m - n) * TILE_WIDTH, (m - n + 1) * TILE_WIDTH);
        cache.set(tilePath({ level: 'entries', n: m, width: TILE_WIDTH }), encodeEntryBundle(chunk));
      }
    }
    bar.update(stop * TILE_WIDTH);
  }
}

// ---------------------------------------------------------------------------------------------
// The audit

interface Ctx {
  readonly opts: AuditOptions;
  readonly view: LogView;
  readonly head: VerifiedCheckpoint;
  readonly findings: Finding[];
  /** Checkpoints served for an entry (/checkpoint/published), verified and consistent with the head. */
  publishedAt(index: number): Promise<VerifiedCheckpoint | undefined>;
  /** Proves `cp` consistent with the head; adds a forked-checkpoint finding when it is not. */
  consistentWithHead(cp: SignedTree, what: string): Promise<boolean>;
}

export async function runAudit(opts: AuditOptions): Promise<AuditReport> {
  const t0 = performance.now();
  const timings: AuditTimings = { download: 0, tree: 0, entries: 0, blobs: 0, intersection: 0, total: 0 };
  const progress = opts.progress ?? silentProgress;
  const findings: Finding[] = [];
  const inner = opts.fetch ?? (globalThis.fetch as unknown as Fetch);
  const origin = opts.trust.origin;
  const state = opts.state;
  const cache = state?.tileCache();
  const previousNote = state?.readCheckpoint();
  const lastAudit = state?.readLastAudit();
  const emptyEntries = { total: 0, policy: 0, contribution: 0, release: 0, endorsement: 0, unparsable: 0 };
  const incomplete = (): AuditReport => {
    timings.total = performance.now() - t0;
    return { origin, log: opts.url, checkpoint: undefined, previous: undefined, changes: undefined, entries: emptyEntries, policies: [], releases: [], findings, timings, incomplete: true };
  };

  // --- download ------------------------------------------------------------------------------
  let tStart = performance.now();
  const raw = new LogClient({ url: opts.url, fetch: inner, ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}) });
  const note = await raw.checkpoint();
  const blobs = new BlobMemo(blobCap(opts.trust));
  const fetch = pinnedFetch(opts.url, blobs.wrap(opts.url, inner), note, cache);
  const client = new LogClient({ url: opts.url, fetch, ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}) });

  // Notices proven so far, by policy leaf (PolicyChain's NoticedFrom contract: stable answers).
  const noticed = new Map<string, number>();
  const noticedFrom = (q: NoticeQuery): number | undefined => noticed.get(toHex(q.policy.leaf));

  let view: LogView;
  try {
    if (cache !== undefined) {
      // Resumable download: authenticate and save full bundles chunk by chunk.
      let early: VerifiedCheckpoint | undefined;
      try {
        early = verifyCheckpointUnder(note, opts.trust.policy, origin, opts.now);
      } catch {
        early = undefined; // rotated keys: openLogView decides under the chain
      }
      if (early !== undefined) {
        const bar = progress.bar('download', early.tree.size);
        await prefetchBundles(client, early, client.hashReader(early.tree, cache), cache, bar);
        bar.finish();
      }
    }
    let total = -1;
    let shown: ReturnType<Progress['bar']> | undefined;
    view = await openLogView({
      url: opts.url,
      trust: opts.trust,
      now: opts.now,
      fetch,
      ...(cache !== undefined ? { cache } : {}),
      noticedFrom,
      onProgress: (done, t) => {
        if (t !== total) {
          total = t;
          shown = progress.bar(cache !== undefined ? 'verify entries' : 'download', t);
        }
        shown?.update(done);
      },
    });
    shown?.finish();
  } catch (err) {
    if (err instanceof LogViewError) {
      const cls: FindingClass = err.code === 'witness-quorum' ? 'witness-quorum' : err.code === 'anchor-mismatch' ? 'anchor-mismatch' : err.code === 'bad-entry' ? 'bad-entry' : 'bad-checkpoint';
      findings.push(finding(cls, 'head', err.message, { evidence: { checkpoint: text(note) } }));
      return incomplete();
    }
    if (isTamper(err)) {
      findings.push(finding('tampered-data', 'download', `served data does not authenticate against the signed checkpoint: ${errMessage(err)}`, { evidence: { checkpoint: text(note) } }));
      return incomplete();
    }
    throw err;
  }
  timings.download = performance.now() - tStart;
  let head = view.head;

  // --- tree ----------------------------------------------------------------------------------
  tStart = performance.now();
  const treeBar = progress.bar('recompute tree', view.entries.length);
  const tb = new TreeBuilder();
  for (let i = 0; i < view.entries.length; i++) {
    tb.append(leafHash(view.entries[i]!));
    if ((i & 0xffff) === 0) treeBar.update(i);
  }
  treeBar.finish();
  if (!equalBytes(tb.root(), head.tree.root)) {
    findings.push(finding('tampered-data', `checkpoint-${head.tree.size}`, 'the entries served do not recompute to the signed root', { evidence: { checkpoint: text(head.note) } }));
    timings.tree = performance.now() - tStart;
    return incomplete();
  }

  const consistentWithHead = async (cp: SignedTree, what: string): Promise<boolean> => {
    const evidence = { old: text(cp.note), new: text(head.note) };
    if (cp.tree.size > head.tree.size) {
      findings.push(finding('rolled-back-checkpoint', `checkpoint-${cp.tree.size}`, `${what} (size ${cp.tree.size}) is larger than the head (size ${head.tree.size})`, { evidence }));
      return false;
    }
    try {
      const proof = await proveConsistency(cp.tree.size, head.tree.size, view.reader);
      verifyConsistency(cp.tree.size, head.tree.size, proof, cp.tree.root, head.tree.root);
      return true;
    } catch (err) {
      if (!(err instanceof MerkleError)) throw err;
      findings.push(finding('forked-checkpoint', `checkpoint-${cp.tree.size}`, `${what} (size ${cp.tree.size}) is not consistent with the head (size ${head.tree.size}): two views of the log`, { evidence }));
      return false;
    }
  };

  let previous: { size: number; root: string } | undefined;
  let forked = false;
  if (previousNote !== undefined) {
    const cp = parseStoredCheckpoint(previousNote);
    if (cp !== undefined) {
      previous = { size: cp.tree.size, root: toBase64(cp.tree.root) };
      forked = !(await consistentWithHead(cp, 'the last audited checkpoint'));
    }
  }
  timings.tree = performance.now() - tStart;

  // --- entries -------------------------------------------------------------------------------
  tStart = performance.now();
  const publishedCache = new Map<number, VerifiedCheckpoint | undefined>();
  const publishedAt = async (index: number): Promise<VerifiedCheckpoint | undefined> => {
    if (publishedCache.has(index)) return publishedCache.get(index);
    let result: VerifiedCheckpoint | undefined;
    const n = await view.client.published(index);
    if (n !== null) {
      let size: number | undefined;
      try {
        size = parseCheckpoint(parseNote(n).text).size;
      } catch {
        size = undefined;
      }
      const policy = size === undefined ? undefined : (view.chain.policyAt(Math.max(0, size - 1)) ?? view.chain.current());
      try {
        if (policy === undefined) throw new LogViewError('bad-checkpoint', 'does not parse');
        const cp = verifyCheckpointUnder(n, policy.entry, origin, opts.now);
        if (cp.tree.size <= index) throw new LogViewError('bad-checkpoint', `served for entry ${index} but has size ${cp.tree.size}`);
        if (await consistentWithHead(cp, `the checkpoint served for entry ${index}`)) result = cp;
      } catch (err) {
        if (!(err instanceof LogViewError)) throw err;
        findings.push(finding('bad-checkpoint', `published-${index}`, `the checkpoint the log serves for entry ${index}: ${err.message}`, { evidence: { checkpoint: text(n) } }));
      }
    }
    publishedCache.set(index, result);
    return result;
  };

  // Parse every entry once; index the ones audits need.
  const counts = { total: view.entries.length, policy: 0, contribution: 0, release: 0, endorsement: 0, unparsable: 0 };
  const parsed: (SignedEntry | undefined)[] = new Array(view.entries.length);
  const releases: (IndexedEntry & { entry: ReleaseEntry })[] = [];
  const releaseEndorsements: IndexedEntry[] = [];
  for (let i = 0; i < view.entries.length; i++) {
    let se: SignedEntry;
    try {
      se = view.parsed(i);
    } catch (err) {
      if (!(err instanceof LogViewError)) throw err;
      counts.unparsable++;
      findings.push(finding('bad-entry', `entry-${i}`, err.message, { index: i }));
      continue;
    }
    parsed[i] = se;
    const e = se.entry;
    counts[e.type]++;
    if (e.type === 'release') releases.push({ signed: se, index: i, entry: e });
    else if (e.type === 'endorsement' && e.subject.kind === 'release') releaseEndorsements.push({ signed: se, index: i });
  }

  // Policy notices: a successor with its quorum takes force once a checkpoint proves its notice.
  for (let round = 0; round < 64; round++) {
    const pending = view.chain.pending();
    if (pending === undefined || noticed.has(`none:${toHex(pending.leaf)}`)) break;
    const predecessor = view.chain.current()!;
    const from = await proveNotice(view, head, predecessor, pending, releases, publishedAt, consistentWithHead, opts);
    if (from === undefined) noticed.set(`none:${toHex(pending.leaf)}`, 0);
    else noticed.set(toHex(pending.leaf), from);
  }
  // The head under the policy in force once notices are known (a rotated log key or witnesses).
  const inForceAtHead = view.chain.policyAt(head.tree.size) ?? view.chain.current()!;
  try {
    head = verifyCheckpointUnder(head.note, inForceAtHead.entry, origin, opts.now);
  } catch (err) {
    if (!(err instanceof LogViewError)) throw err;
    findings.push(finding(err.code === 'witness-quorum' ? 'witness-quorum' : 'bad-checkpoint', 'head', `under policy ${inForceAtHead.entry.sequence}, in force at the head: ${err.message}`, { evidence: { checkpoint: text(head.note) } }));
  }

  // Authors, caps, release chain. Who may sign each entry is decided in index order; the
  // signatures themselves are verified afterwards, in windows (libsodium, else node:crypto on
  // libuv's thread pool: ed25519-native.ts).
  const entriesBar = progress.bar('verify entries', view.entries.length);
  const authorKey = entryAuthorKeys();
  const verifyAsync = nativeEd25519VerifyAsync();
  const phase: Finding[] = [];
  const jobs: { i: number; se: SignedEntry; key: AuthorKey }[] = [];
  let lastRelease: { entry: ReleaseEntry; leaf: Uint8Array } | undefined;
  for (let i = 0; i < parsed.length; i++) {
    const se = parsed[i];
    if (se === undefined) continue;
    const inForce = i === 0 ? undefined : view.chain.policyAt(i);
    try {
      jobs.push({ i, se, key: authorKey(se, inForce) });
      if (inForce !== undefined) checkEntryLimits(se.entry, inForce.entry);
    } catch (err) {
      if (err instanceof PolicyError && err.code === 'too-many-entries') {
        phase.push(finding('too-many-entries', `entry-${i}`, `entry ${i}: ${err.message}`, { index: i }));
      } else if (err instanceof PolicyError) {
        phase.push(finding('bad-author', `entry-${i}`, `entry ${i} (${se.entry.type}): ${err.message}`, { index: i }));
      } else throw err;
    }
    if (se.entry.type === 'release') {
      try {
        checkReleaseSuccession(lastRelease, se.entry);
      } catch (err) {
        if (!(err instanceof PolicyError)) throw err;
        phase.push(finding('bad-release-chain', `release-${se.entry.sequence}`, `entry ${i}: ${err.message}`, { index: i }));
      }
      lastRelease = { entry: se.entry, leaf: se.leafHash };
    }
  }
  const WINDOW = 512;
  for (let j = 0; j < jobs.length; j += WINDOW) {
    const window = jobs.slice(j, j + WINDOW);
    const ok = await Promise.all(window.map((x) => verifyAsync(x.key.publicKey, utf8(x.se.text), x.se.signature.signature)));
    window.forEach((x, k) => {
      if (!ok[k]) phase.push(finding('bad-author', `entry-${x.i}`, `entry ${x.i} (${x.se.entry.type}): signature by ${JSON.stringify(x.key.name)} does not verify`, { index: x.i }));
    });
    entriesBar.update(Math.min(jobs.length, j + WINDOW));
  }
  phase.sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
  findings.push(...phase);
  entriesBar.finish();
  timings.entries = performance.now() - tStart;

  // --- releases ------------------------------------------------------------------------------
  const ctx: Ctx = { opts, view, head, findings, publishedAt, consistentWithHead };
  const releaseReports: ReleaseReport[] = [];
  const relBar = progress.bar('recompute releases', releases.length);
  for (let r = 0; r < releases.length; r++) {
    const rel = releases[r]!;
    // The one per-release step (DESIGN.md "Endorsement": what an org checks before endorsing).
    releaseReports.push(await auditOneRelease(ctx, rel, releaseEndorsements, blobs, timings));
    blobs.keepOnly([rel.entry.blob]);
    relBar.update(r + 1);
  }
  relBar.finish();

  // --- summary -------------------------------------------------------------------------------
  const policies: PolicyReport[] = view.chain.inForce().map((p) => ({
    sequence: p.entry.sequence,
    index: p.index,
    leaf: toHex(p.leaf),
    activeFrom: p.activeFrom,
    removalOnly: p.removalOnly,
  }));
  const changes =
    lastAudit === undefined
      ? undefined
      : {
          entries: head.tree.size - lastAudit.size,
          releases: releaseReports.filter((r) => lastAudit.releases[String(r.sequence)] !== r.leaf).map((r) => r.sequence),
          policies: policies.filter((p) => lastAudit.policies[String(p.sequence)] !== p.leaf).map((p) => p.sequence),
        };
  if (state !== undefined && !forked) {
    state.writeCheckpoint(head.note);
    const last: LastAudit = {
      size: head.tree.size,
      root: toBase64(head.tree.root),
      time: head.aliveAt,
      releases: Object.fromEntries(releaseReports.map((r) => [String(r.sequence), r.leaf])),
      policies: Object.fromEntries(policies.map((p) => [String(p.sequence), p.leaf])),
    };
    state.writeLastAudit(last);
  }
  timings.total = performance.now() - t0;
  return {
    origin,
    log: opts.url,
    checkpoint: {
      size: head.tree.size,
      root: toBase64(head.tree.root),
      seenBy: head.seenBy,
      aliveAt: head.aliveAt,
      witnesses: new Set(head.cosignatures.map((c) => c.witness)).size,
      note: text(head.note),
    },
    previous,
    changes,
    entries: counts,
    policies,
    releases: releaseReports,
    findings,
    timings,
    incomplete: false,
  };
}

/** A checkpoint note and its tree. */
interface SignedTree {
  readonly note: Uint8Array;
  readonly tree: TreeHead;
}

/** A checkpoint from the state directory: verified when it was written; only its tree is used. */
function parseStoredCheckpoint(note: Uint8Array): SignedTree | undefined {
  try {
    const cp = parseCheckpoint(parseNote(note).text);
    return { note, tree: { size: cp.size, root: cp.root } };
  } catch {
    return undefined;
  }
}

/**
 * GET /checkpoint/noticed?policy=<index>: the notice checkpoint the log designates for the
 * policy entry at `index` (unverified bytes); null when the log has none for it (404
 * not-published); 'unsupported' when the log does not serve the route at all.
 */
async function noticeCheckpoint(client: LogClient, index: number): Promise<Uint8Array | null | 'unsupported'> {
  try {
    return await readCapped(await client.request(`/checkpoint/noticed?policy=${index}`), MAX_CHECKPOINT_BYTES, 'notice checkpoint');
  } catch (err) {
    if (err instanceof ClientError && err.status === 404) return err.serverCode === 'not-published' ? null : 'unsupported';
    throw err;
  }
}

/**
 * From which log index a pending policy counts as noticed (DESIGN.md: a cosigned F consistent
 * with P, under the predecessor's log key and witnesses, with aliveAt(F) − seenBy(P) ≥ the
 * predecessor's notice-period), or undefined. P is the earliest quorum-cosigned checkpoint
 * containing the endorsement that completed the quorum. F is the notice checkpoint the log
 * designates (the policy governs from its size). Only for a log that serves no designation:
 * an auditor sees the checkpoints the
 * log serves: the head, and for each entry the earliest quorum-cosigned checkpoint containing
 * it; candidates for F are the head and the checkpoints served for the entry just before each
 * later release (the indexes where the answer matters). The smallest F that proves the notice
 * wins.
 */
async function proveNotice(
  view: LogView,
  head: VerifiedCheckpoint,
  predecessor: ChainPolicy,
  pending: { leaf: Uint8Array; index: number; quorumIndex: number },
  releases: readonly IndexedEntry[],
  publishedAt: (i: number) => Promise<VerifiedCheckpoint | undefined>,
  consistentWithHead: (cp: SignedTree, what: string) => Promise<boolean>,
  opts: AuditOptions,
): Promise<number | undefined> {
  const underPredecessor = (cp: VerifiedCheckpoint | undefined): VerifiedCheckpoint | undefined => {
    if (cp === undefined) return undefined;
    try {
      return verifyCheckpointUnder(cp.note, predecessor.entry, view.origin, opts.now);
    } catch (err) {
      if (err instanceof LogViewError) return undefined;
      throw err;
    }
  };
  const p = underPredecessor(await publishedAt(pending.quorumIndex));
  if (p === undefined) return undefined;
  // The notice checkpoint the log designates (client-sdk policy.ts, NoticedFrom): the policy
  // governs from its size, if it proves the notice.
  const designated = await noticeCheckpoint(view.client, pending.index);
  if (designated !== 'unsupported') {
    let n: VerifiedCheckpoint | undefined;
    try {
      n = designated === null ? undefined : verifyCheckpointUnder(designated, predecessor.entry, view.origin, opts.now);
    } catch (err) {
      if (!(err instanceof LogViewError)) throw err;
      n = undefined;
    }
    if (n === undefined) return undefined;
    const from = noticedFromCheckpoints(
      { quorumIndex: pending.quorumIndex, noticePeriod: predecessor.entry.noticePeriod },
      { size: p.tree.size, seenBy: p.seenBy },
      { size: n.tree.size, aliveAt: n.aliveAt },
    );
    if (from === undefined || !(await consistentWithHead(n, `the notice checkpoint of the policy at entry ${pending.index}`))) return undefined;
    return from;
  }
  // A log that serves no notice checkpoints (an older server): the smallest checkpoint it serves
  // that proves the notice.
  const candidates: VerifiedCheckpoint[] = [];
  for (const r of releases) {
    if (r.index <= pending.quorumIndex) continue;
    const f = underPredecessor(await publishedAt(r.index - 1));
    if (f !== undefined) candidates.push(f);
    if (candidates.length >= 32) break;
  }
  const h = underPredecessor(head);
  if (h !== undefined) candidates.push(h);
  let best: number | undefined;
  for (const f of candidates) {
    if (f.tree.size < p.tree.size || !isNoticed(p.seenBy, f.aliveAt, predecessor.entry.noticePeriod)) continue;
    if (!(await consistentWithHead(f, `checkpoint ${f.tree.size}`))) continue;
    if (best === undefined || f.tree.size < best) best = f.tree.size;
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// One release

/** Byte order of a[ao, ao+32) and b[bo, bo+32), compared as eight big-endian 32-bit words. */
function compare32(a: Uint8Array, ao: number, b: Uint8Array, bo: number): number {
  for (let k = 0; k < ELEMENT_SIZE; k += 4) {
    const x = ((a[ao + k]! << 24) | (a[ao + k + 1]! << 16) | (a[ao + k + 2]! << 8) | a[ao + k + 3]!) >>> 0;
    const y = ((b[bo + k]! << 24) | (b[bo + k + 1]! << 16) | (b[bo + k + 2]! << 8) | b[bo + k + 3]!) >>> 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** Number of elements of sorted blob `a` that are in sorted blob `b`, marking b's indexes in `mark`. */
function countCommon(a: Uint8Array, b: Uint8Array, mark?: Uint8Array): number {
  let i = 0;
  let j = 0;
  let n = 0;
  while (i < a.length && j < b.length) {
    const c = compare32(a, i, b, j);
    if (c === 0) {
      n++;
      if (mark !== undefined) mark[j / ELEMENT_SIZE] = 1;
      i += ELEMENT_SIZE;
      j += ELEMENT_SIZE;
    } else if (c < 0) i += ELEMENT_SIZE;
    else j += ELEMENT_SIZE;
  }
  return n;
}

/** The name a release's policy leaf has in the log: which policy entry, and why it is not in force. */
function classifyNamedPolicy(view: LogView, leaf: Uint8Array, index: number): { cls: FindingClass; why: string } {
  const inChain = view.chain.byLeaf(leaf);
  if (inChain !== undefined) {
    if (inChain.quorumIndex !== undefined && index <= inChain.quorumIndex) {
      return { cls: 'policy-without-quorum', why: `policy ${inChain.entry.sequence} reached its endorsement quorum only at index ${inChain.quorumIndex}` };
    }
    if (inChain.activeFrom > index) {
      return { cls: 'notice-too-short', why: `policy ${inChain.entry.sequence} governs only from index ${inChain.activeFrom}: its notice period had not ended` };
    }
    return { cls: 'wrong-policy', why: `policy ${inChain.entry.sequence} is not the newest policy in force at index ${index}` };
  }
  const pending = view.chain.pending();
  if (pending !== undefined && equalBytes(pending.leaf, leaf)) {
    if (index <= pending.quorumIndex) {
      return { cls: 'policy-without-quorum', why: `policy ${pending.entry.sequence} reached its endorsement quorum only at index ${pending.quorumIndex}` };
    }
    return { cls: 'notice-too-short', why: `policy ${pending.entry.sequence} has its endorsement quorum but its notice period had not ended` };
  }
  for (let i = 0; i < view.entries.length; i++) {
    const se = safeParsed(view, i);
    if (se?.entry.type === 'policy' && equalBytes(se.leafHash, leaf)) {
      return { cls: 'policy-without-quorum', why: `policy ${se.entry.sequence} (entry ${i}) never reached its predecessor's endorsement quorum` };
    }
  }
  return { cls: 'wrong-policy', why: 'it names no policy entry of this log' };
}

function safeParsed(view: LogView, i: number): SignedEntry | undefined {
  try {
    return view.parsed(i);
  } catch {
    return undefined;
  }
}

/** Which finding each failed check of release-audit.ts is (checks already judged for every entry are skipped). */
const CHECK_CLASS: Partial<Record<ReleaseCheckId, FindingClass>> = {
  'release-found': 'bad-entry',
  'policy-valid': 'wrong-policy',
  publication: 'bad-checkpoint',
  'contribution-signatures': 'wrong-contributions',
  'contribution-selection': 'wrong-contributions',
  'contribution-blobs': 'contribution-blob-mismatch',
  exclusions: 'exclusion-mismatch',
  'database-blob': 'release-blob-mismatch',
  intersection: 'not-intersection',
  'added-removed': 'added-removed-mismatch',
  caps: 'too-many-entries',
  expiry: 'release-expires-too-late',
  // release-signature and previous-release are judged for every entry (bad-author,
  // bad-release-chain); release-policy is classified below (which policy, and why not in force).
};

/**
 * One release: release-audit.ts's auditRelease (the same checks an org runs before it
 * endorses) with its failed checks as findings, plus what only a whole-log audit can judge:
 * which policy a wrong `policy` line names (no quorum, notice too short), endorsements and
 * their quorum, the notice, and per-org and per-jurisdiction counts.
 */
async function auditOneRelease(
  ctx: Ctx,
  rel: IndexedEntry & { entry: ReleaseEntry },
  endorsements: readonly IndexedEntry[],
  blobs: BlobMemo,
  timings: AuditTimings,
): Promise<ReleaseReport> {
  const { view, head } = ctx;
  const e = rel.entry;
  const where = `release-${e.sequence}`;
  const before = ctx.findings.length;
  const add = (cls: FindingClass, message: string, evidence?: Record<string, string>): void => {
    const id = `${cls}@${where}`;
    if (ctx.findings.some((f) => f.id === id)) return;
    ctx.findings.push(finding(cls, where, `release ${e.sequence} (entry ${rel.index}): ${message}`, { index: rel.index, ...(evidence !== undefined ? { evidence } : {}) }));
  };

  const policy = view.chain.policyAt(rel.index);
  if (policy === undefined) throw new Error('bad math: a release before the anchor');
  const p = policy.entry;
  if (!equalBytes(e.policy, policy.leaf)) {
    const { cls, why } = classifyNamedPolicy(view, e.policy, rel.index);
    add(cls, `names a policy that is not in force at its index: ${why}`, { named: toHex(e.policy), inForce: toHex(policy.leaf) });
  }

  // Endorsements: P contains the release and every endorsement counted for it.
  const counted = countEndorsements(
    { kind: 'release', sequence: e.sequence, leaf: rel.signed.leafHash, index: rel.index },
    p,
    endorsements,
    { policyAt: (i) => view.chain.policyAt(i) },
  );

  const t = performance.now();
  const blobTime = blobs.elapsed;
  const audit = await auditRelease(view, e.sequence, {
    now: ctx.opts.now,
    ...(counted.quorumIndex !== undefined ? { publicationEntry: counted.quorumIndex } : {}),
  });
  timings.blobs += blobs.elapsed - blobTime;
  timings.intersection += performance.now() - t - (blobs.elapsed - blobTime);
  if (audit.release !== undefined && audit.release.index !== rel.index) {
    // A second release entry with the same sequence: release-audit judges the first one.
    add('bad-release-chain', `a release with sequence ${e.sequence} already exists at index ${audit.release.index}`);
  } else {
    for (const c of audit.checks) {
      if (c.ok) continue;
      let cls = CHECK_CLASS[c.id];
      if (c.id === 'publication' && /split view|consistent/.test(c.detail)) cls = 'forked-checkpoint';
      if (cls === undefined) continue;
      add(cls, `${c.id}: ${c.detail}`, cls === 'not-intersection' ? { check: c.id, detail: c.detail } : undefined);
    }
  }
  const publishedAt = audit.published ? audit.publishedAt : undefined;

  // Per org and per jurisdiction (from the blobs the release audit fetched and checked).
  const orgCounts: OrgCount[] = [];
  const jurisdictions: Record<string, number> = {};
  const database = audit.ok ? blobs.get(e.blob) : undefined;
  if (database !== undefined) {
    const marks = new Map<string, Uint8Array>();
    for (const s of audit.selected) {
      const blob = blobs.get(s.entry.blob);
      if (blob === undefined) continue;
      const j = p.orgs.find((o) => o.name === s.org)?.jurisdiction ?? '?';
      let m = marks.get(j);
      if (m === undefined) marks.set(j, (m = new Uint8Array(database.length / ELEMENT_SIZE)));
      orgCounts.push({ org: s.org, jurisdiction: j, index: s.index, sequence: s.entry.sequence, contributed: s.entry.set.count, inDatabase: countCommon(blob, database, m) });
    }
    for (const [j, m] of [...marks.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      let n = 0;
      for (let i = 0; i < m.length; i++) n += m[i]!;
      jurisdictions[j] = n;
    }
  } else {
    for (const s of audit.selected) {
      orgCounts.push({ org: s.org, jurisdiction: p.orgs.find((o) => o.name === s.org)?.jurisdiction ?? '?', index: s.index, sequence: s.entry.sequence, contributed: s.entry.set.count, inDatabase: 0 });
    }
  }

  // Notice and endorsements: a release whose notice period (from the first quorum-cosigned
  // checkpoint containing it) ended without its endorsement quorum is a finding; before that it
  // is pending.
  const noticeRequired = releaseNoticeRequired(p, e.added);
  const noticed = publishedAt === undefined || !counted.met ? undefined : isNoticed(publishedAt, head.aliveAt, noticeRequired);
  let pending = false;
  if (!counted.met) {
    const firstSeen = await ctx.publishedAt(rel.index);
    if (firstSeen !== undefined && isNoticed(firstSeen.seenBy, head.aliveAt, noticeRequired)) {
      add(
        'missing-endorsements',
        `its notice period ended without the endorsement quorum (${counted.orgs.length} orgs of ${p.endorsementQuorum.orgs}, ${counted.jurisdictions.length} jurisdictions of ${p.endorsementQuorum.jurisdictions})`,
        { endorsedBy: counted.orgs.join(' '), firstCheckpoint: text(firstSeen.note), head: text(head.note) },
      );
    } else pending = true;
  }

  const failed = ctx.findings.length > before;
  return {
    sequence: e.sequence,
    index: rel.index,
    leaf: toHex(rel.signed.leafHash),
    policy: view.chain.byLeaf(e.policy)?.entry.sequence,
    database: { root: toBase64(e.database.root), count: e.database.count },
    added: e.added,
    removed: e.removed,
    expires: e.expires,
    publishedAt,
    noticeRequired: Number.isFinite(noticeRequired) ? noticeRequired : undefined,
    noticed,
    contributions: orgCounts,
    jurisdictions,
    endorsements: { orgs: counted.orgs, jurisdictions: counted.jurisdictions, quorum: counted.met, quorumIndex: counted.quorumIndex },
    intersection: audit.report,
    checks: audit.checks,
    status: failed ? 'failed' : pending ? 'pending' : 'ok',
  };
}

// ---------------------------------------------------------------------------------------------
// Blobs seen by release audits, kept so counts need no second download

/**
 * Remembers blob responses fetched through it (by digest path), so per-org counts reuse the
 * bytes the release audit fetched and checked, and release N−1's database is fetched once.
 * `get` re-checks the SHA-256 (the memo holds raw responses). Bodies are read with a cap.
 */
class BlobMemo {
  private readonly memo = new Map<string, Uint8Array>();
  elapsed = 0;

  constructor(private readonly cap: number) {}

  wrap(base: string, inner: Fetch): Fetch {
    const prefix = `${base.replace(/\/+$/, '')}/blob/sha256/`;
    return async (url, init) => {
      if ((init?.method ?? 'GET') !== 'GET' || !url.startsWith(prefix)) return inner(url, init);
      const key = url.slice(prefix.length);
      let body = this.memo.get(key);
      if (body === undefined) {
        const t = performance.now();
        try {
          const res = await inner(url, init);
          if (res.status !== 200) return res;
          const buf = new Uint8Array(await res.arrayBuffer());
          if (buf.length > this.cap) throw new Error(`blob of ${buf.length} bytes exceeds ${this.cap}`);
          body = buf;
          this.memo.set(key, body);
        } finally {
          this.elapsed += performance.now() - t;
        }
      }
      return new Response(body, { status: 200, headers: { 'content-length': String(body.length) } }) as unknown as FetchResponse;
    };
  }

  get(digest: Uint8Array): Uint8Array | undefined {
    const b = this.memo.get(toHex(digest));
    return b !== undefined && equalBytes(createHash('sha256').update(b).digest(), digest) ? b : undefined;
  }

  /** Drops every blob but these (the next release needs only the current database). */
  keepOnly(digests: readonly Uint8Array[]): void {
    const keep = new Set(digests.map((d) => toHex(d)));
    for (const k of [...this.memo.keys()]) if (!keep.has(k)) this.memo.delete(k);
  }
}
