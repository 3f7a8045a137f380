// What the server must know about the log's contents to admit a new entry (DESIGN.md "Concord
// entries", "Policy rules"): the policy chain (which policy is in force at each index) and the
// latest release. Everything else an entry is checked against is in the entry itself.
//
// Admission runs in two steps, because the index an entry gets is known only when the sequencer
// builds a batch:
//
//   precheck(entry)       in the HTTP handler, concurrently with other requests: the author key
//                         is one the policy in force allows for this type (policy.authorKeysFor),
//                         the one signature verifies (native Ed25519, on the thread pool), and the
//                         entry passes the policy rules that need no index (validatePolicy,
//                         checkEntryLimits; a release names the policy in force and follows the
//                         latest release).
//   admit(entry, index)   in the sequencer, one entry at a time in index order, synchronously:
//                         the same author and succession rules against the policy in force at
//                         THIS index and the releases admitted before it (including earlier ones
//                         of the same batch). The signature is not verified again unless the
//                         policy changed in between and the key that verified is no longer allowed.
//
// The policy in force is constant within a batch: an entry that can change the chain (a policy
// entry, or an endorsement of a policy) is always the last of its batch, and a policy that takes
// force does so at the index after the endorsement completing its quorum, or at the index a
// notice decision names (past every entry admitted when it was made; see "Notice" below — the
// one exception, a decision falling inside a retried batch after a failed commit, is handled by
// BatchAdmission switching policy at that index). The chain is updated only after a batch
// commits (apply), so a failed batch leaves nothing behind.
//
// Notice (DESIGN.md "Time, notice and freshness"): a policy n ≥ 2 that is not removal-only takes
// force only once its notice is proven with witness cosignature times, under policy n−1's
// witnesses and quorum k (checkNotice, run after every stored cosignature):
//   P = the earliest checkpoint cosigned by k of those witnesses that contains the policy and the
//       endorsement completing its quorum (size > quorumIndex: store.earliestQuorumCheckpoint);
//   F = the latest such quorum-cosigned checkpoint (store.latestQuorumCheckpoint), consistent
//       with P because both are this log's own checkpoints of one tree;
//   noticed when aliveAt(F) − seenBy(P) ≥ policy n−1's notice-period (client-sdk cosignature's
//   seenBy/aliveAt over the stored earliest/latest time per witness, policy.noticedFromCheckpoints); times
//   dated more than 300 s after the server's clock are not counted.
// The policy then governs from index s = F.size, and F is its notice checkpoint N (the rule all
// verifiers apply: client-sdk policy.ts, NoticedFrom; served at GET /checkpoint/noticed and in
// release bundles). So the decision is taken only when no entry at ≥ F.size has been admitted
// (nothing newer than F is sequenced or being sequenced); otherwise the check waits for a later
// quorum checkpoint (checkNotice runs after every stored cosignature, and the witness pusher
// re-cosigns the latest checkpoint of an idle log). Because a later cosignature can lower
// seenBy(P), s is not recomputed from storage after a restart: it is decided once and persisted
// BEFORE it is used, in storage's witness_state under the pseudo-witness name
// "policy-notice <leaf hex>" (a name no verifier key can have: keys contain no spaces), and
// reloaded by catchUp before the log is replayed. If an entry is admitted while s is being
// persisted, the decision is retracted (the row is set to NOTICE_RETRACTED) and taken again at
// a later checkpoint.
//
// `verifyAuthor` is client-sdk's policy.verifyEntryAuthor with the parsed keys cached and the
// signature check asynchronous (parsing a verifier key decodes an Ed25519 point in JavaScript,
// which costs more than OpenSSL's whole verification); log-server/test/log-state.test.ts checks
// it answers exactly as verifyEntryAuthor does (same key, or same error class and code).

import { equalBytes, toHex, utf8 } from '@concord/client-sdk/bytes';
import { FUTURE_TOLERANCE, aliveAt, seenBy } from '@concord/client-sdk/cosignature';
import type { WitnessCosignature } from '@concord/client-sdk/cosignature';
import { EntryError, parseSignedEntry, ENTRY_TYPES } from '@concord/client-sdk/entries';
import type { ReleaseEntry, SignedEntry } from '@concord/client-sdk/entries';
import { parseVerifierKey, KEY_TYPE_ED25519 } from '@concord/client-sdk/note';
import type { Ed25519Verify } from '@concord/client-sdk/note';
import {
  PolicyChain,
  PolicyError,
  authorKeysFor,
  checkEntryLimits,
  checkReleasePolicy,
  checkReleaseSuccession,
  noticedFromCheckpoints,
  validatePolicy,
} from '@concord/client-sdk/policy';
import type { ChainPolicy, NoticedFrom, PolicyLookup, PolicyRef } from '@concord/client-sdk/policy';
import type { LogStore, StoredCheckpoint } from './storage/types.js';
import type { Ed25519VerifyAsync } from './ed25519-native.js';

export interface LogStateOptions {
  /** The log's origin (the log key's name). */
  readonly origin: string;
  /** Synchronous Ed25519 (the policy chain's checks; re-verification in admit). */
  readonly verify: Ed25519Verify;
  /** The same verification off the event loop (precheck). */
  readonly verifyAsync: Ed25519VerifyAsync;
  /**
   * When a non-removal policy counts as noticed. Default: as decided by checkNotice from witness
   * cosignature times (see the header); tests may inject their own.
   */
  readonly noticedFrom?: NoticedFrom;
}

/** An entry that passed precheck: parsed, and signed by `authorKey`. */
export interface Precheck {
  readonly signed: SignedEntry;
  /** The verifier key whose signature verified. */
  readonly authorKey: string;
}

interface ParsedKey {
  readonly name: string;
  readonly keyHash: number;
  readonly publicKey: Uint8Array;
}

/** Entries read per storage call while replaying the log at startup. */
const REPLAY_CHUNK = 4096;

const PREFIX_POLICY = utf8(ENTRY_TYPES.policy + '\n');
const PREFIX_RELEASE = utf8(ENTRY_TYPES.release + '\n');
const PREFIX_ENDORSEMENT = utf8(ENTRY_TYPES.endorsement + '\n');

function startsWith(b: Uint8Array, prefix: Uint8Array): boolean {
  if (b.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (b[i] !== prefix[i]) return false;
  return true;
}

const SUBJECT_POLICY = Buffer.from('\nsubject policy ');

/** witness_state rows holding notice decisions: "policy-notice <leaf hex>" → first governed index. */
export const NOTICE_STATE_PREFIX = 'policy-notice ';

/**
 * A "policy-notice" row holding 0 is no decision: one withdrawn because an entry was admitted
 * under the predecessor while it was being persisted (a real decision is ≥ 2: past the policy
 * and the endorsement completing its quorum).
 */
export const NOTICE_RETRACTED = 0;

/** A pending successor policy: its quorum is met, its notice not yet proven. */
export type PendingPolicy = PolicyRef & { index: number; quorumIndex: number };

/** The witness times of a stored checkpoint for the listed witnesses (first or last per witness). */
function witnessTimes(cp: StoredCheckpoint, listed: ReadonlySet<string>, which: 'first' | 'last', maxTime: number): WitnessCosignature[] {
  const out: WitnessCosignature[] = [];
  for (const c of cp.cosignatures) {
    if (!listed.has(c.witness)) continue;
    const t = which === 'first' ? c.firstTime : c.lastTime <= maxTime ? c.lastTime : c.firstTime;
    if (t <= maxTime) out.push({ witness: c.witness, time: t });
  }
  return out;
}

/**
 * Might these bytes be an endorsement of a policy? The entry format fixes the text as
 * "concord/endorsement/v1\norg <name>\nsubject <kind> …", so a policy endorsement always has
 * "\nsubject policy " before its signature; anything that passes is parsed, so a false
 * positive costs a parse and nothing else.
 */
function isPolicyEndorsement(b: Uint8Array): boolean {
  return startsWith(b, PREFIX_ENDORSEMENT) && Buffer.from(b.buffer, b.byteOffset, b.byteLength).indexOf(SUBJECT_POLICY) >= 0;
}

/** Does this entry change the policy chain (so it must end its batch)? */
export function changesPolicyChain(se: SignedEntry): boolean {
  const e = se.entry;
  return e.type === 'policy' || (e.type === 'endorsement' && e.subject.kind === 'policy');
}

export class LogState {
  readonly origin: string;
  private readonly opts: LogStateOptions;
  private readonly chain: PolicyChain;
  private readonly keys = new Map<string, ParsedKey>();
  private lastRelease: { entry: ReleaseEntry; leaf: Uint8Array } | undefined;
  private applied = 0;
  private inForce: ChainPolicy | undefined;
  /** Notice decisions: policy leaf hex → first index it governs (persisted; see the header). */
  private readonly noticeAt = new Map<string, number>();
  /** One past the highest index admitted so far (committed, or in a batch being committed). */
  private reserved = 0;
  private noticeRun: Promise<boolean> | null = null;
  private noticeAgain = false;
  private noticeNow = 0;

  constructor(opts: LogStateOptions) {
    this.opts = opts;
    this.origin = opts.origin;
    const noticedFrom: NoticedFrom = opts.noticedFrom ?? ((q) => this.noticeAt.get(toHex(q.policy.leaf)));
    this.chain = new PolicyChain({ origin: opts.origin, ed25519Verify: opts.verify, noticedFrom });
  }

  /** A successor policy whose endorsement quorum is met but whose notice is not proven yet. */
  pending(): PendingPolicy | undefined {
    return this.chain.pending();
  }

  /** Reads the persisted notice decisions (catchUp does this before replaying). */
  async loadNotices(store: LogStore): Promise<void> {
    let changed = false;
    for (const s of await store.readWitnessStates()) {
      if (!s.witness.startsWith(NOTICE_STATE_PREFIX)) continue;
      const leaf = s.witness.slice(NOTICE_STATE_PREFIX.length);
      if (s.size === NOTICE_RETRACTED) continue;
      if (this.noticeAt.get(leaf) !== s.size) {
        this.noticeAt.set(leaf, s.size);
        changed = true;
      }
    }
    if (changed) this.refresh();
  }

  /**
   * Is the pending successor policy (if any) noticed, by the witness cosignatures stored? If so,
   * decides and persists the index it governs from, and makes it the policy in force there
   * (see the header). Concurrent calls share one run (and run once more if asked meanwhile).
   * Resolves true when a policy was decided.
   */
  async checkNotice(store: LogStore, now: number): Promise<boolean> {
    this.noticeNow = now;
    if (this.noticeRun !== null) {
      this.noticeAgain = true;
      return this.noticeRun;
    }
    this.noticeRun = (async () => {
      let decided = false;
      do {
        this.noticeAgain = false;
        if (await this.checkNoticeOnce(store, this.noticeNow)) decided = true;
      } while (this.noticeAgain);
      return decided;
    })().finally(() => (this.noticeRun = null));
    return this.noticeRun;
  }

  private async checkNoticeOnce(store: LogStore, now: number): Promise<boolean> {
    if (this.opts.noticedFrom !== undefined) return false;
    const pend = this.chain.pending();
    const pred = this.chain.current();
    if (pend === undefined || pred === undefined) return false;
    const key = toHex(pend.leaf);
    if (this.noticeAt.has(key)) return false;
    const p = pred.entry;
    const listed = new Set(p.witnesses.map((w) => w.vkey));
    const maxTime = now + FUTURE_TOLERANCE;
    const q = { witnesses: [...listed], quorum: p.witnessQuorum, maxTime };
    const published = await store.earliestQuorumCheckpoint(pend.quorumIndex + 1, q);
    if (published === null) return false;
    const latest = await store.latestQuorumCheckpoint(q);
    if (latest === null) return false;
    const seen = seenBy(witnessTimes(published, listed, 'first', maxTime), p.witnessQuorum);
    const alive = aliveAt(witnessTimes(latest, listed, 'last', maxTime), p.witnessQuorum);
    if (seen === undefined || alive === undefined) return false;
    // The notice rule every verifier applies (client-sdk policy.ts, NoticedFrom): the policy
    // governs from the size of its notice checkpoint N — here the latest quorum checkpoint —, so
    // N is designated only if no entry at ≥ N.size was admitted yet (else wait for a quorum
    // checkpoint covering them: checkNotice runs after every cosignature).
    const s = noticedFromCheckpoints(
      { quorumIndex: pend.quorumIndex, noticePeriod: p.noticePeriod },
      { size: published.size, seenBy: seen },
      { size: latest.size, aliveAt: alive },
    );
    if (s === undefined || Math.max(this.reserved, this.applied) > s) return false;
    await store.setWitnessState({ witness: NOTICE_STATE_PREFIX + key, size: s, updatedAt: now });
    const stillPending = this.chain.pending();
    if (stillPending === undefined || !equalBytes(stillPending.leaf, pend.leaf) || this.noticeAt.has(key)) return false;
    if (Math.max(this.reserved, this.applied) > s) {
      // An entry was admitted under the predecessor while s was being persisted: retract
      // (NOTICE_RETRACTED) and decide again at a later checkpoint.
      await store.setWitnessState({ witness: NOTICE_STATE_PREFIX + key, size: NOTICE_RETRACTED, updatedAt: now });
      return false;
    }
    this.noticeAt.set(key, s);
    this.refresh();
    return true;
  }

  /** Entries applied so far: the next entry gets this index. */
  get size(): number {
    return this.applied;
  }

  /** The policy in force at index `size` (the next entry's). */
  current(): ChainPolicy | undefined {
    return this.inForce;
  }

  /** The newest policy in force at `index` (< size, or the current one). */
  policyAt(index: number): ChainPolicy | undefined {
    return index >= this.applied ? this.inForce : this.chain.policyAt(index);
  }

  /** Every policy that took force, anchor first. */
  policies(): ChainPolicy[] {
    return this.chain.inForce();
  }

  /** The latest release in the log. */
  latestRelease(): { entry: ReleaseEntry; leaf: Uint8Array } | undefined {
    return this.lastRelease;
  }

  /**
   * Reads entries [size, store size) from storage and applies them: at startup, and in a
   * read-only server to follow the sequencer. Only policy, release and endorsement entries are
   * parsed (recognised by their first line).
   */
  async catchUp(store: LogStore, upTo?: number): Promise<void> {
    const end = upTo ?? (await store.size());
    await this.loadNotices(store);
    while (this.applied < end) {
      const start = this.applied;
      const stop = Math.min(end, start + REPLAY_CHUNK);
      const rows = await store.readEntries(start, stop);
      const relevant: { se: SignedEntry; index: number }[] = [];
      rows.forEach((bytes, i) => {
        if (startsWith(bytes, PREFIX_POLICY) || startsWith(bytes, PREFIX_RELEASE) || isPolicyEndorsement(bytes)) {
          relevant.push({ se: parseSignedEntry(bytes), index: start + i });
        }
      });
      this.applyIndexed(relevant, stop);
    }
  }

  /** Applies a committed batch: `entries` at indexes start, start+1, … (start must be size). */
  apply(entries: readonly SignedEntry[], start: number): void {
    if (start !== this.applied) throw new Error(`bad math: applying entries at ${start}, state has ${this.applied}`);
    this.applyIndexed(
      entries.map((se, i) => ({ se, index: start + i })),
      start + entries.length,
    );
  }

  private applyIndexed(entries: readonly { se: SignedEntry; index: number }[], newSize: number): void {
    for (const { se, index } of entries) {
      const e = se.entry;
      if (changesPolicyChain(se)) {
        this.chain.add(se, index);
      } else if (e.type === 'release') {
        this.lastRelease = { entry: e, leaf: se.leafHash };
      }
    }
    this.applied = newSize;
    if (this.reserved < newSize) this.reserved = newSize;
    // After every batch, not only those that change the chain: a notice decided while a batch
    // was in flight takes force at the index after it (cheap: the chain caches its resolution
    // unless a policy is pending).
    this.refresh();
  }

  /** Recomputes the policy in force (also when witness evidence may have completed a notice). */
  refresh(): void {
    this.inForce = this.chain.policyAt(this.applied);
  }

  // --- authors ----------------------------------------------------------------------------

  private parsedKey(vkey: string): ParsedKey {
    let k = this.keys.get(vkey);
    if (k === undefined) {
      let p: ReturnType<typeof parseVerifierKey>;
      try {
        p = parseVerifierKey(vkey);
      } catch (e) {
        throw new EntryError('bad-key', `not a type 0x01 verifier key: ${JSON.stringify(vkey.slice(0, 60))}`, { cause: e });
      }
      if (p.type !== KEY_TYPE_ED25519) throw new EntryError('bad-key', 'not a type 0x01 verifier key');
      k = { name: p.name, keyHash: p.keyHash, publicKey: p.publicKey };
      if (this.keys.size > 10_000) this.keys.clear(); // keys come from policies: never in practice
      this.keys.set(vkey, k);
    }
    return k;
  }

  /** The allowed key matching the entry's signature line, or PolicyError('wrong-author'). */
  private matchAuthor(se: SignedEntry, allowed: readonly string[]): { vkey: string; key: ParsedKey } {
    for (const vkey of allowed) {
      const key = this.parsedKey(vkey);
      if (key.name === se.signature.name && key.keyHash === se.signature.keyHash) return { vkey, key };
    }
    throw new PolicyError('wrong-author', `entry signed by ${JSON.stringify(se.signature.name)}, not an allowed author`);
  }

  private static checkSignature(key: ParsedKey, ok: boolean): void {
    if (!ok) throw new EntryError('invalid-signature', `signature by ${JSON.stringify(key.name)} does not verify`);
  }

  /**
   * policy.verifyEntryAuthor, asynchronously: the allowed key that signed the entry, after its
   * signature verified. Throws what verifyEntryAuthor throws: PolicyError (authorKeysFor's codes,
   * 'wrong-author') or EntryError ('invalid-signature').
   */
  async verifyAuthor(se: SignedEntry, inForce: PolicyRef | undefined): Promise<string> {
    const { vkey, key } = this.matchAuthor(se, authorKeysFor(se.entry, inForce));
    const sig = se.signature.signature;
    const ok = sig.length === 64 && (await this.opts.verifyAsync(key.publicKey, utf8(se.text), sig));
    LogState.checkSignature(key, ok);
    return vkey;
  }

  /** verifyAuthor, synchronously. */
  verifyAuthorSync(se: SignedEntry, inForce: PolicyRef | undefined): string {
    const { vkey, key } = this.matchAuthor(se, authorKeysFor(se.entry, inForce));
    const sig = se.signature.signature;
    let ok = false;
    try {
      ok = sig.length === 64 && this.opts.verify(key.publicKey, utf8(se.text), sig) === true;
    } catch {
      ok = false;
    }
    LogState.checkSignature(key, ok);
    return vkey;
  }

  // --- admission --------------------------------------------------------------------------

  /** The rules of an entry that depend on the policy and the latest release, not on its index. */
  private checkRules(se: SignedEntry, policy: ChainPolicy | undefined, index: number, prevRelease: LogState['lastRelease']): void {
    const e = se.entry;
    if (e.type === 'policy') {
      validatePolicy(e, this.origin);
      return;
    }
    if (policy === undefined) throw new PolicyError('no-policy', `a ${e.type} entry with no policy in force`);
    checkEntryLimits(e, policy.entry);
    if (e.type === 'release') {
      const lookup: PolicyLookup = { policyAt: () => policy, byLeaf: (leaf) => (equalBytes(leaf, policy.leaf) ? policy : undefined) };
      checkReleasePolicy(e, index, lookup);
      checkReleaseSuccession(prevRelease, e);
    }
  }

  /** Step 1 (see the header): author, signature and index-free rules against the current state. */
  async precheck(se: SignedEntry): Promise<Precheck> {
    const policy = this.inForce;
    const authorKey = await this.verifyAuthor(se, policy);
    // The state may have moved on while the signature was being verified: check the rules
    // against the state now (admit checks them once more at the entry's index).
    this.checkRules(se, this.inForce, this.applied, this.lastRelease);
    return { signed: se, authorKey };
  }

  /** Step 2 (see the header): a batch starting at index `start` (= size). */
  beginBatch(start: number): BatchAdmission {
    if (start !== this.applied) throw new Error(`bad math: batch at ${start}, state has ${this.applied}`);
    this.refresh();
    // A noticed policy decided to govern from inside this batch (only after a batch that failed
    // to commit: decisions are placed past every admitted index) takes over at its index.
    let boundary = Infinity;
    for (const v of this.noticeAt.values()) if (v > start && v < boundary) boundary = v;
    return new BatchAdmission(this, this.inForce, this.lastRelease, boundary);
  }

  /** @internal The chain's policy at `index` (BatchAdmission, past a notice boundary). */
  chainPolicyAt(index: number): ChainPolicy | undefined {
    return this.chain.policyAt(index);
  }

  /** @internal An entry was admitted at `index` (it may commit: notices are decided past it). */
  noteAdmitted(index: number): void {
    if (index + 1 > this.reserved) this.reserved = index + 1;
  }

  /** @internal BatchAdmission's check of one entry. */
  admitOne(p: Precheck, index: number, policy: ChainPolicy | undefined, prevRelease: LogState['lastRelease']): void {
    const allowed = authorKeysFor(p.signed.entry, policy);
    if (!allowed.includes(p.authorKey)) this.verifyAuthorSync(p.signed, policy);
    this.checkRules(p.signed, policy, index, prevRelease);
  }
}

/** Admits the entries of one batch in index order; see LogState. */
export class BatchAdmission {
  private lastRelease: { entry: ReleaseEntry; leaf: Uint8Array } | undefined;

  constructor(
    private readonly state: LogState,
    private readonly policy: ChainPolicy | undefined,
    lastRelease: { entry: ReleaseEntry; leaf: Uint8Array } | undefined,
    private readonly boundary = Infinity,
  ) {
    this.lastRelease = lastRelease;
  }

  /** Throws the typed error that refuses the entry at `index`; else records it as admitted. */
  admit(p: Precheck, index: number): void {
    const policy = index >= this.boundary ? this.state.chainPolicyAt(index) : this.policy;
    this.state.admitOne(p, index, policy, this.lastRelease);
    this.state.noteAdmitted(index);
    const e = p.signed.entry;
    if (e.type === 'release') this.lastRelease = { entry: e, leaf: p.signed.leafHash };
  }
}
