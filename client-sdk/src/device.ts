// Device acceptance: the only way the SDK hands out a database (DESIGN.md
// "Device acceptance (fail closed)", "Time, notice and freshness").
//
//   openDatabase({ database, bundle, trust, store, now, consistency? }) → VerifiedDatabase
//
// `bundle` is bundle.ts's JSON (F, P with P → F, the release, its endorsements
// and the policy chain from the trust anchor, each proven included in F);
// `trust` is the initial policy entry's bytes and the log's origin; `store`
// holds what the device accepted last (release, policy, newest checkpoint,
// witness clock, database); `now` is the device's clock in unix seconds, which
// is used only for freshness and expiry, never for notice, and never runs
// behind the newest aliveAt already stored. When F and the stored checkpoint
// differ in size, `consistency` is the RFC 9162 consistency proof between them
// (smaller → larger); fetchConsistencyProof gets it from the log's tiles.
//
// Checks, each failing with its own DeviceError code (cheap ones first, the
// database hash last so a bad bundle costs nothing):
//   bundle        bad-bundle, bundle-too-large
//   trust         bad-trust, anchor-mismatch
//   4 chain       sibling-policy, broken-chain, invalid-policy
//   2 F           bad-log-signature, bad-cosignature, too-few-cosignatures
//   2 inclusion   release-not-included, endorsement-not-included, policy-not-included
//   P             inconsistent-published (P not a prefix of F)
//   4 chain       policy-not-endorsed, policy-not-noticed (PolicyChain replayed from the anchor)
//   release       wrong-policy, bad-release-signature, too-many-entries, blob-mismatch
//   3 quorum      too-few-endorsements (< k orgs), too-few-jurisdictions (< j)
//   published     published-too-early (P lacks the endorsement completing the quorum)
//   5 time        stale-checkpoint, expires-too-late, release-expired
//   6 rollback    consistency-required, fork (evidence: both checkpoints) — a fork is reported
//                 before anything else of the stored state — then rollback, release-conflict,
//                 policy-rollback, policy-conflict
//   1 database    database-count, database-mismatch
//   5 notice      not-noticed (unless the database is a subset of the stored one)
// Only after all pass is the new state stored.
//
// Decisions where DESIGN.md is silent:
// - The bundle's chain runs from the anchor to the newest policy in force at F (which may be
//   newer than the release's): F is verified with that policy's log key and witnesses, and its
//   max-checkpoint-age is the freshness bound; the release's policy (the one in force at its
//   index, checked by replaying the chain) governs P, the endorsement quorum, max-entries,
//   notice and max-release-age. The stored policy (rollback) is the newest one.
// - "Counted endorsements" for P are those up to the one completing the quorum in index order
//   (policy.countEndorsements' quorumIndex), as PolicyChain does for policies; later
//   endorsements are shown as endorsers but do not move publication later.
// - A policy n ≥ 2 that needs notice carries its own P (cosigned under policy n−1) and the
//   checkpoint N proving the notice (aliveAt(N) − seenBy(P) ≥ notice-period of n−1), both with
//   consistency proofs to F; it governs from max(index after its quorum, N's size). N is the
//   log's designated notice checkpoint (policy.ts, NoticedFrom: the rule the server, auditors
//   and the verifying page apply too); without an N that proves the notice, policy-not-noticed.
// - Witness times: cosignatures dated more than 300 s after max(now, stored clock) do not count.
// - Re-opening the release already stored (same sequence and leaf) needs no notice again: it was
//   noticed (or a subset) when first accepted.
// - The stored checkpoint is the larger of the stored one and F, so it never moves back.
// - The database bytes are copied once on entry, so a caller mutating its buffer afterwards
//   cannot change what was verified (VerifiedDatabase.has reads the copy).

import { equalBytes, toHex } from './bytes.js';
import { parseBundle, BundleError } from './bundle.js';
import type { CheckpointLink, ParsedBundle, ParsedBundleEntry } from './bundle.js';
import { CheckpointError, openCheckpoint, parseCheckpoint } from './checkpoint.js';
import type { Checkpoint } from './checkpoint.js';
import type { LogClient } from './client.js';
import { CosignatureError, aliveAt, newCosignatureVerifier, seenBy, verifyCosignatures } from './cosignature.js';
import type { CosignatureVerifier } from './cosignature.js';
import { contains, DatabaseError, ELEMENT_SIZE, isSubset, parseDatabase } from './database.js';
import { EntryError, parseSignedEntry } from './entries.js';
import type { PolicyEntry, ReleaseEntry, SignedEntry } from './entries.js';
import { ConcordError } from './errors.js';
import { MerkleError, proveConsistency, verifyConsistency } from './merkle.js';
import type { Hash } from './merkle.js';
import { NoteError, newVerifier, parseNote } from './note.js';
import type { Ed25519Verify } from './note.js';
import {
  PolicyChain,
  PolicyError,
  checkEntryLimits,
  checkReleaseExpiry,
  checkReleasePolicy,
  countEndorsements,
  isNoticed,
  noticedFromCheckpoints,
  releaseNoticeRequired,
  validatePolicy,
  verifyEntryAuthor,
} from './policy.js';
import type { ChainPolicy, IndexedEntry, NoticeQuery } from './policy.js';
import { ProofError, verifyProofAgainst } from './proof.js';

export type DeviceErrorCode =
  | 'bad-bundle'
  | 'bundle-too-large'
  | 'bad-trust'
  | 'anchor-mismatch'
  | 'sibling-policy'
  | 'broken-chain'
  | 'invalid-policy'
  | 'bad-log-signature'
  | 'bad-cosignature'
  | 'too-few-cosignatures'
  | 'release-not-included'
  | 'endorsement-not-included'
  | 'policy-not-included'
  | 'inconsistent-published'
  | 'policy-not-endorsed'
  | 'policy-not-noticed'
  | 'wrong-policy'
  | 'bad-release-signature'
  | 'too-many-entries'
  | 'blob-mismatch'
  | 'too-few-endorsements'
  | 'too-few-jurisdictions'
  | 'published-too-early'
  | 'stale-checkpoint'
  | 'expires-too-late'
  | 'release-expired'
  | 'rollback'
  | 'release-conflict'
  | 'policy-rollback'
  | 'policy-conflict'
  | 'consistency-required'
  | 'fork'
  | 'database-count'
  | 'database-mismatch'
  | 'not-noticed';

/** A device check failed (see the header for the codes); the database must not be used. */
export class DeviceError extends ConcordError<DeviceErrorCode> {
  override readonly name = 'DeviceError';
  /** For 'fork': the stored checkpoint and the received one, both signed by the log key. */
  readonly evidence?: { stored: Uint8Array; received: Uint8Array };
  constructor(code: DeviceErrorCode, message: string, opts?: { cause?: unknown; evidence?: { stored: Uint8Array; received: Uint8Array } }) {
    super(code, message, opts?.cause === undefined ? undefined : { cause: opts.cause });
    if (opts?.evidence !== undefined) this.evidence = opts.evidence;
  }
}

function fail(code: DeviceErrorCode, message: string, cause?: unknown): never {
  throw new DeviceError(code, message, cause === undefined ? undefined : { cause });
}

/** The trust anchor: the initial policy entry exactly as logged, and the log's origin. */
export interface Trust {
  anchor: Uint8Array;
  origin: string;
}

/** What a device keeps between acceptances. Only verified data is ever stored. */
export interface DeviceState {
  release: { sequence: number; leaf: Uint8Array; index: number };
  policy: { sequence: number; leaf: Uint8Array };
  /** The newest verified checkpoint note (with cosignatures). */
  checkpoint: Uint8Array;
  /** Newest aliveAt seen: the device's clock never runs behind it. */
  clock: number;
  /** The accepted database bytes. */
  database: Uint8Array;
}

/** Injected persistence: get/put of the last accepted state (put must be atomic). */
export interface DeviceStore {
  get(): Promise<DeviceState | undefined>;
  put(state: DeviceState): Promise<void>;
}

function copyState(s: DeviceState): DeviceState {
  return {
    release: { ...s.release, leaf: s.release.leaf.slice() },
    policy: { ...s.policy, leaf: s.policy.leaf.slice() },
    checkpoint: s.checkpoint.slice(),
    clock: s.clock,
    database: s.database,
  };
}

/** An in-memory DeviceStore (tests, short-lived processes). */
export class MemoryStore implements DeviceStore {
  #state: DeviceState | undefined;
  constructor(initial?: DeviceState) {
    this.#state = initial === undefined ? undefined : copyState(initial);
  }
  async get(): Promise<DeviceState | undefined> {
    return this.#state === undefined ? undefined : copyState(this.#state);
  }
  async put(state: DeviceState): Promise<void> {
    this.#state = copyState(state);
  }
}

export interface OpenOptions {
  /** The database blob bytes. */
  database: Uint8Array;
  /** The bundle's bytes (bundle.ts), or an already parsed bundle. */
  bundle: Uint8Array | ParsedBundle;
  trust: Trust;
  store: DeviceStore;
  /** The device's clock, unix seconds. */
  now: number;
  /** Consistency proof between the stored checkpoint and F when their sizes differ (smaller → larger). */
  consistency?: readonly Hash[];
  /** Native Ed25519 verification, if the platform has one (default: noble). */
  ed25519Verify?: Ed25519Verify;
}

export interface Endorser {
  jurisdiction: string;
  orgs: string[];
}

/** A database that passed every check, with what a Settings screen shows. */
export interface VerifiedDatabase {
  readonly sequence: number;
  /** RFC 6962 root of the database (the release's `database` line). */
  readonly root: Hash;
  readonly count: number;
  readonly release: { index: number; leaf: Hash; expires: number; added: number; removed: number };
  readonly policy: { sequence: number; leaf: Hash };
  /** seenBy(P): the release was public by then. */
  readonly publishedAt: number;
  /** publishedAt + the notice it needed (Infinity if unreachable). */
  readonly noticedAt: number;
  /** The database is a subset of the stored one and was accepted before its notice ended. */
  readonly acceptedWithoutNotice: boolean;
  /** F: its size, root and aliveAt. */
  readonly checkpoint: { size: number; root: Hash; aliveAt: number };
  /** Endorsing orgs of the release's policy, by jurisdiction (sorted). */
  readonly endorsers: Endorser[];
  /**
   * The last second at which this database may still be used without a fresher F (DESIGN.md:
   * "used only while 5 still holds"): min(aliveAt(F) + max-checkpoint-age, expires − 1).
   */
  readonly usableUntil: number;
  /** Is `now` (the device clock, unix seconds) at or before usableUntil? */
  usable(now: number): boolean;
  /** Is `element` (32 bytes) in the database? For auditors and tests: a device cannot compute k·H(x). */
  has(element: Uint8Array): boolean;
}

// ---------------------------------------------------------------------------

interface OpenedCheckpoint {
  tree: Checkpoint;
  cosigned: ReturnType<typeof verifyCosignatures>;
}

function witnessVerifiers(p: PolicyEntry, opts: { ed25519Verify?: Ed25519Verify }): CosignatureVerifier[] {
  return p.witnesses.map((w) => newCosignatureVerifier(w.vkey, opts.ed25519Verify ? { ed25519Verify: opts.ed25519Verify } : undefined));
}

/** Opens a checkpoint note with p's log key and counts p's witnesses' cosignatures. */
function openCosigned(note: Uint8Array, p: PolicyEntry, origin: string, now: number, what: string, v: { ed25519Verify?: Ed25519Verify }): OpenedCheckpoint {
  let tree: Checkpoint;
  try {
    tree = openCheckpoint(note, newVerifier(p.log, v.ed25519Verify ? { ed25519Verify: v.ed25519Verify } : undefined), origin).checkpoint;
  } catch (e) {
    if (e instanceof NoteError || e instanceof CheckpointError) fail('bad-log-signature', `${what}: ${e.message}`, e);
    throw e;
  }
  let cosigned: OpenedCheckpoint['cosigned'];
  try {
    cosigned = verifyCosignatures(note, witnessVerifiers(p, v), now);
  } catch (e) {
    if (e instanceof CosignatureError) fail('bad-cosignature', `${what}: ${e.message}`, e);
    throw e;
  }
  const distinct = new Set(cosigned.map((c) => c.witness)).size;
  if (distinct < p.witnessQuorum) fail('too-few-cosignatures', `${what}: ${distinct} witnesses of ${p.witnessQuorum} cosigned`);
  return { tree, cosigned };
}

function consistent(from: Checkpoint, to: Checkpoint, proof: readonly Hash[]): boolean {
  if (from.size > to.size) return false;
  try {
    verifyConsistency(from.size, to.size, proof, from.root, to.root);
    return true;
  } catch (e) {
    if (e instanceof MerkleError) return false;
    throw e;
  }
}

function included(item: ParsedBundleEntry, f: Checkpoint, code: DeviceErrorCode, what: string): IndexedEntry {
  try {
    verifyProofAgainst(item.proof, item.signed.leafHash, f);
  } catch (e) {
    if (e instanceof ProofError) fail(code, `${what} is not included in F: ${e.message}`, e);
    throw e;
  }
  return { signed: item.signed, index: item.proof.index };
}

function parseTrust(trust: Trust): { entry: PolicyEntry; signed: SignedEntry } {
  try {
    const signed = parseSignedEntry(trust.anchor);
    const e = signed.entry;
    if (e.type !== 'policy' || e.sequence !== 1) fail('bad-trust', 'the trust anchor must be policy 1');
    validatePolicy(e, trust.origin);
    verifyEntryAuthor(signed, undefined);
    return { entry: e, signed };
  } catch (e) {
    if (e instanceof EntryError || e instanceof PolicyError) fail('bad-trust', `trust anchor: ${e.message}`, e);
    throw e;
  }
}

/**
 * Verifies a database against its bundle and the device's stored state, and
 * stores the new state. Throws DeviceError (one code per check, see the header).
 */
export async function openDatabase(o: OpenOptions): Promise<VerifiedDatabase> {
  const v = o.ed25519Verify ? { ed25519Verify: o.ed25519Verify } : {};
  if (!Number.isSafeInteger(o.now) || o.now < 0) throw new RangeError('now must be unix seconds');
  if (!(o.database instanceof Uint8Array)) fail('database-mismatch', 'database must be bytes');
  const database = o.database.slice();

  let b: ParsedBundle;
  if (o.bundle instanceof Uint8Array) {
    try {
      b = parseBundle(o.bundle);
    } catch (e) {
      if (e instanceof BundleError) fail(e.code === 'too-large' ? 'bundle-too-large' : 'bad-bundle', `bundle: ${e.message}`, e);
      throw e;
    }
  } else {
    b = o.bundle;
  }
  const origin = o.trust.origin;
  const anchor = parseTrust(o.trust);
  const stored = await o.store.get();
  const now = Math.max(o.now, stored?.clock ?? 0);

  // --- 4 (structure): one policy per sequence from the anchor, each naming its predecessor.
  const policies = b.policies;
  if (policies.length === 0 || !equalBytes(policies[0]!.entry, o.trust.anchor)) fail('anchor-mismatch', 'the bundle\'s first policy is not the trust anchor');
  const seqs = new Set<number>();
  for (const p of policies) {
    const seq = (p.signed.entry as PolicyEntry).sequence;
    if (seqs.has(seq)) fail('sibling-policy', `the bundle holds two policies of sequence ${seq}`);
    seqs.add(seq);
  }
  for (let i = 0; i < policies.length; i++) {
    const p = policies[i]!.signed.entry as PolicyEntry;
    if (p.sequence !== i + 1) fail('broken-chain', `policy ${i + 1} is missing`);
    if (i > 0) {
      const prev = policies[i - 1]!;
      if (p.previous === null || !equalBytes(p.previous, prev.signed.leafHash)) fail('broken-chain', `policy ${p.sequence} does not name policy ${i} as previous`);
      if (policies[i]!.proof.index <= prev.proof.index) fail('broken-chain', `policy ${p.sequence} precedes its predecessor in the log`);
    }
    try {
      validatePolicy(p, origin);
    } catch (e) {
      if (e instanceof PolicyError || e instanceof EntryError) fail('invalid-policy', `policy ${p.sequence}: ${e.message}`, e);
      throw e;
    }
  }
  // The newest policy of the bundle governs F; the release names its own (the same or older).
  const last = policies[policies.length - 1]!;
  const newest = last.signed.entry as PolicyEntry;
  const release = b.release.signed.entry as ReleaseEntry;
  const named = policies.find((p) => equalBytes(p.signed.leafHash, release.policy));
  if (named === undefined) fail('wrong-policy', `release ${release.sequence} names a policy that is not in the bundle's chain`);
  const policy = named.signed.entry as PolicyEntry;

  // --- 2: F signed by the log key and cosigned by a witness quorum of the newest policy.
  const F = openCosigned(b.checkpoint, newest, origin, now, 'F', v);
  const f = F.tree;
  const aliveAtF = aliveAt(F.cosigned, newest.witnessQuorum)!;

  // --- 2: every entry the decision uses is included in F.
  const rel = included(b.release, f, 'release-not-included', `release ${release.sequence}`);
  const endorsements = b.endorsements.map((e, i) => included(e, f, 'endorsement-not-included', `endorsement ${i}`));
  const chainEntries: IndexedEntry[] = [];
  for (const p of policies) {
    const seq = (p.signed.entry as PolicyEntry).sequence;
    chainEntries.push(included(p, f, 'policy-not-included', `policy ${seq}`));
    p.endorsements.forEach((e, i) => chainEntries.push(included(e, f, 'policy-not-included', `endorsement ${i} of policy ${seq}`)));
  }

  // --- P: a prefix of F cosigned by a witness quorum of the release's policy.
  const P = openCosigned(b.published.checkpoint, policy, origin, now, 'P', v);
  if (!consistent(P.tree, f, b.published.consistency)) fail('inconsistent-published', 'P is not consistent with F');
  const publishedAt = seenBy(P.cosigned, policy.witnessQuorum)!;

  // --- 4: replay the policy chain from the anchor.
  const byLeaf = new Map(policies.map((p) => [toHex(p.signed.leafHash), p]));
  const noticedFrom = (q: NoticeQuery): number | undefined => {
    const bp = byLeaf.get(toHex(q.policy.leaf));
    if (bp?.published === undefined || bp.noticed === undefined) return undefined;
    const pred = q.predecessor.entry;
    const evidence = (l: CheckpointLink, what: string): OpenedCheckpoint | undefined => {
      try {
        const c = openCosigned(l.checkpoint, pred, origin, now, what, v);
        return consistent(c.tree, f, l.consistency) ? c : undefined;
      } catch (e) {
        if (e instanceof DeviceError) return undefined;
        throw e;
      }
    };
    const pp = evidence(bp.published, 'policy P');
    const n = evidence(bp.noticed, 'policy notice');
    if (pp === undefined || n === undefined) return undefined;
    return noticedFromCheckpoints(
      q,
      { size: pp.tree.size, seenBy: seenBy(pp.cosigned, pred.witnessQuorum)! },
      { size: n.tree.size, aliveAt: aliveAt(n.cosigned, pred.witnessQuorum)! },
    );
  };
  const chain = new PolicyChain({ origin, anchor: anchor.signed.leafHash, noticedFrom, ...v });
  const seenIdx = new Set<number>();
  for (const ie of chainEntries.sort((a, c) => a.index - c.index)) {
    if (seenIdx.has(ie.index)) continue; // the same entry twice (proven at one index: same bytes)
    seenIdx.add(ie.index);
    chain.add(ie.signed, ie.index);
  }
  const inForce = chain.inForce();
  for (let i = 0; i < policies.length; i++) {
    const want = policies[i]!;
    const got = inForce[i];
    if (got !== undefined && equalBytes(got.leaf, want.signed.leafHash)) continue;
    const pe = want.signed.entry as PolicyEntry;
    const pending = chain.pending();
    if (pending !== undefined && equalBytes(pending.leaf, want.signed.leafHash)) {
      fail('policy-not-noticed', `policy ${pe.sequence} has its endorsements but its notice is not proven`);
    }
    const pred = policies[i - 1];
    if (pred !== undefined) {
      const counted = countEndorsements(
        { kind: 'policy', sequence: pe.sequence, leaf: want.signed.leafHash, index: want.proof.index },
        pred.signed.entry as PolicyEntry,
        chainEntries.filter((e) => e.signed.entry.type === 'endorsement'),
        v,
      );
      if (!counted.met) fail('policy-not-endorsed', `policy ${pe.sequence} lacks the endorsement quorum of policy ${pe.sequence - 1}`);
    }
    fail('broken-chain', `policy ${pe.sequence} did not take force (signature or placement)`);
  }

  // --- the release: its policy, author, limits, blob.
  let releasePolicy: ChainPolicy;
  try {
    const p = checkReleasePolicy(release, rel.index, chain);
    releasePolicy = chain.byLeaf(p.leaf)!;
  } catch (e) {
    if (e instanceof PolicyError) fail('wrong-policy', e.message, e);
    throw e;
  }
  try {
    verifyEntryAuthor(b.release.signed, releasePolicy, v);
  } catch (e) {
    if (e instanceof PolicyError || e instanceof EntryError) fail('bad-release-signature', e.message, e);
    throw e;
  }
  try {
    checkEntryLimits(release, policy);
  } catch (e) {
    if (e instanceof PolicyError) fail('too-many-entries', e.message, e);
    throw e;
  }
  if (!equalBytes(b.database.blob, release.blob)) fail('blob-mismatch', 'the bundle names another blob than the release');

  // --- 3: endorsements from ≥ k orgs in ≥ j jurisdictions.
  const counted = countEndorsements(
    { kind: 'release', sequence: release.sequence, leaf: b.release.signed.leafHash, index: rel.index },
    policy,
    endorsements,
    { ...v, policyAt: (i) => chain.policyAt(i) },
  );
  if (!counted.met) {
    if (counted.orgs.length < policy.endorsementQuorum.orgs) {
      fail('too-few-endorsements', `${counted.orgs.length} orgs endorsed release ${release.sequence}, ${policy.endorsementQuorum.orgs} needed`);
    }
    fail('too-few-jurisdictions', `endorsements span ${counted.jurisdictions.length} jurisdictions, ${policy.endorsementQuorum.jurisdictions} needed`);
  }
  if (P.tree.size <= Math.max(rel.index, counted.quorumIndex!)) {
    fail('published-too-early', `P (size ${P.tree.size}) does not hold the release and its counted endorsements`);
  }

  // --- 5: freshness and expiry, by the device's clock.
  if (now - aliveAtF > newest.maxCheckpointAge) fail('stale-checkpoint', `F was last seen alive ${now - aliveAtF} s ago, max ${newest.maxCheckpointAge}`);
  try {
    checkReleaseExpiry(release, publishedAt, policy);
  } catch (e) {
    if (e instanceof PolicyError) fail('expires-too-late', e.message, e);
    throw e;
  }
  if (now >= release.expires) fail('release-expired', `release ${release.sequence} expired at ${release.expires}`);

  // --- 6: no rollback, no fork.
  const sameRelease = stored !== undefined && stored.release.sequence === release.sequence && equalBytes(stored.release.leaf, b.release.signed.leafHash);
  let newestNote = b.checkpoint;
  if (stored !== undefined) {
    const s = parseCheckpoint(parseNote(stored.checkpoint).text);
    const fork = (why: string): never => {
      throw new DeviceError('fork', `F is not consistent with the stored checkpoint: ${why}`, { evidence: { stored: stored.checkpoint.slice(), received: b.checkpoint.slice() } });
    };
    if (s.size === f.size) {
      if (!equalBytes(s.root, f.root)) fork(`two roots for size ${f.size}`);
    } else {
      if (o.consistency === undefined) fail('consistency-required', `F (size ${f.size}) and the stored checkpoint (size ${s.size}) differ: a consistency proof is needed`);
      const [small, large] = s.size < f.size ? [s, f] : [f, s];
      if (!consistent(small, large, o.consistency)) fork(`no valid consistency proof from size ${small.size} to ${large.size}`);
      if (s.size > f.size) newestNote = stored.checkpoint;
    }
    if (release.sequence < stored.release.sequence) fail('rollback', `release ${release.sequence} is older than the stored release ${stored.release.sequence}`);
    if (release.sequence === stored.release.sequence && !sameRelease) fail('release-conflict', `a different release ${release.sequence} than the stored one`);
    if (newest.sequence < stored.policy.sequence) fail('policy-rollback', `policy ${newest.sequence} is older than the stored policy ${stored.policy.sequence}`);
    if (newest.sequence === stored.policy.sequence && !equalBytes(stored.policy.leaf, last.signed.leafHash)) {
      fail('policy-conflict', `a different policy ${newest.sequence} than the stored one`);
    }
  }

  // --- 1: the database bytes are the release's (one pass: order check and tree hash).
  let summary: { root: Hash; count: number };
  if (database.length / ELEMENT_SIZE !== release.database.count) {
    fail('database-count', `database holds ${database.length / ELEMENT_SIZE} elements, the release ${release.database.count}`);
  }
  try {
    summary = parseDatabase(database);
  } catch (e) {
    if (e instanceof DatabaseError) fail('database-mismatch', `database: ${e.message}`, e);
    throw e;
  }
  if (!equalBytes(summary.root, release.database.root)) fail('database-mismatch', 'the database\'s root is not the release\'s');

  // --- 5: notice, or a subset of what is stored.
  const required = releaseNoticeRequired(policy, release.added);
  const noticed = isNoticed(publishedAt, aliveAtF, required);
  let withoutNotice = false;
  if (!noticed && !sameRelease) {
    if (stored === undefined || !isSubset(database, stored.database)) {
      fail('not-noticed', `release ${release.sequence} published at ${publishedAt} needs ${required} s of notice; F is alive at ${aliveAtF}`);
    }
    withoutNotice = true;
  }

  await o.store.put({
    release: { sequence: release.sequence, leaf: b.release.signed.leafHash.slice(), index: rel.index },
    policy: { sequence: newest.sequence, leaf: last.signed.leafHash.slice() },
    checkpoint: newestNote.slice(),
    clock: Math.max(stored?.clock ?? 0, aliveAtF),
    database,
  });

  const juris = new Map(policy.orgs.map((x) => [x.name, x.jurisdiction]));
  const groups = new Map<string, string[]>();
  for (const name of counted.orgs) {
    const j = juris.get(name)!;
    groups.set(j, [...(groups.get(j) ?? []), name]);
  }
  const endorsers = [...groups.entries()].sort(([a], [c]) => (a < c ? -1 : 1)).map(([jurisdiction, orgs]) => ({ jurisdiction, orgs: orgs.sort() }));
  const count = summary.count;
  // aliveAt(F) + max-checkpoint-age without overflowing: both are ≤ 2^53 − 1.
  const fresh = aliveAtF > Number.MAX_SAFE_INTEGER - newest.maxCheckpointAge ? Number.MAX_SAFE_INTEGER : aliveAtF + newest.maxCheckpointAge;
  const usableUntil = Math.min(fresh, release.expires - 1);
  return Object.freeze({
    sequence: release.sequence,
    root: summary.root,
    count,
    release: { index: rel.index, leaf: b.release.signed.leafHash.slice(), expires: release.expires, added: release.added, removed: release.removed },
    policy: { sequence: policy.sequence, leaf: named.signed.leafHash.slice() },
    publishedAt,
    noticedAt: Number.isFinite(required) ? publishedAt + required : Infinity,
    acceptedWithoutNotice: withoutNotice,
    checkpoint: { size: f.size, root: f.root, aliveAt: aliveAtF },
    endorsers,
    usableUntil,
    usable: (t: number): boolean => t <= usableUntil,
    has(element: Uint8Array): boolean {
      if (!(element instanceof Uint8Array) || element.length !== ELEMENT_SIZE) return false;
      return contains(database, element);
    },
  });
}

// ---------------------------------------------------------------------------
// Fetching from a log

/**
 * The consistency proof between two checkpoint notes of the log (either
 * order: from the smaller to the larger tree), computed from the log's hash
 * tiles, each authenticated against the larger tree's root by
 * tiles.tileHashReader. The checkpoints are not verified here: openDatabase
 * verifies F and the proof. Empty when the sizes are equal.
 */
export async function fetchConsistencyProof(client: LogClient, a: Uint8Array, b: Uint8Array): Promise<Hash[]> {
  const x = parseCheckpoint(parseNote(a).text);
  const y = parseCheckpoint(parseNote(b).text);
  const [small, large] = x.size <= y.size ? [x, y] : [y, x];
  if (small.size === large.size) return [];
  return proveConsistency(small.size, large.size, client.hashReader({ size: large.size, root: large.root }));
}

/**
 * Supersession: fetches /release/<which>/bundle (default latest), the
 * consistency proof to the stored checkpoint when needed and the database
 * blob (checked against its SHA-256; at most 32 bytes per element the release
 * counts), then openDatabase with the same rules.
 */
export async function updateFromLog(o: {
  client: LogClient;
  trust: Trust;
  store: DeviceStore;
  now: number;
  which?: number | 'latest';
  ed25519Verify?: Ed25519Verify;
}): Promise<VerifiedDatabase> {
  const bytes = await o.client.releaseBundle(o.which ?? 'latest');
  let b: ParsedBundle;
  try {
    b = parseBundle(bytes);
  } catch (e) {
    if (e instanceof BundleError) fail(e.code === 'too-large' ? 'bundle-too-large' : 'bad-bundle', `bundle: ${e.message}`, e);
    throw e;
  }
  const stored = await o.store.get();
  let consistency: Hash[] | undefined;
  if (stored !== undefined) consistency = await fetchConsistencyProof(o.client, stored.checkpoint, b.checkpoint);
  // Exactly the release's count of elements (openDatabase checks the rest).
  const maxBytes = ELEMENT_SIZE * (b.release.signed.entry as ReleaseEntry).database.count;
  const database = await o.client.blob(b.database.blob, maxBytes);
  const opts: OpenOptions = { database, bundle: b, trust: o.trust, store: o.store, now: o.now };
  if (consistency !== undefined) opts.consistency = consistency;
  if (o.ed25519Verify !== undefined) opts.ed25519Verify = o.ed25519Verify;
  return openDatabase(opts);
}
