// What the dashboard shows, derived from the log itself: every release, contribution,
// endorsement and policy entry, indexed by replaying the stored entries in order. The index
// follows the log lazily: each request first reads the entries appended since (one storage
// read per 4,096 entries), so it needs no commit hook and works the same in a read-only
// server. Which policy is in force where comes from the server's LogState (the policy chain).
//
// Derived times follow DESIGN.md "Time, notice and freshness" with the stored cosignatures:
// a release is published at seenBy(P), P the earliest checkpoint cosigned by a witness quorum
// of its policy that contains it and the endorsements counted for it; it is noticed when the
// latest quorum-cosigned checkpoint F has aliveAt(F) − seenBy(P) ≥ its required notice. These
// are what this server computes: the verifying page (/verify) recomputes what it shows from
// signed data in the reader's browser.

import { toHex } from '@concord/client-sdk/bytes';
import { parseSignedEntry } from '@concord/client-sdk/entries';
import type { ContributionEntry, EndorsementEntry, PolicyEntry, ReleaseEntry, SignedEntry } from '@concord/client-sdk/entries';
import { countEndorsements, releaseNoticeRequired } from '@concord/client-sdk/policy';
import type { ChainPolicy, CountedEndorsements, IndexedEntry } from '@concord/client-sdk/policy';
import type { Ed25519Verify } from '@concord/client-sdk/note';
import { REQUEST_MAX_SKEW } from '@concord/client-sdk/entries';
import type { LogState } from '../log-state.js';
import type { LogReader } from '../reader.js';
import type { LogStore, StoredCheckpoint } from '../storage/types.js';

const CHUNK = 4096;

export interface Indexed<E> {
  readonly index: number;
  readonly signed: SignedEntry;
  readonly entry: E;
}

export interface WitnessTimes {
  /** k-th smallest earliest time (DESIGN.md seenBy), undefined without a quorum. */
  readonly seenBy: number | undefined;
  /** k-th largest latest time (DESIGN.md aliveAt), undefined without a quorum. */
  readonly aliveAt: number | undefined;
}

/** The times of a quorum-cosigned checkpoint, counting only `witnesses` and times ≤ maxTime. */
export function witnessTimes(cp: StoredCheckpoint, witnesses: readonly string[], k: number, maxTime: number): WitnessTimes {
  const listed = new Set(witnesses);
  const cs = cp.cosignatures.filter((c) => listed.has(c.witness) && c.firstTime <= maxTime);
  if (cs.length < k) return { seenBy: undefined, aliveAt: undefined };
  const firsts = cs.map((c) => c.firstTime).sort((a, b) => a - b);
  const lasts = cs.map((c) => (c.lastTime <= maxTime ? c.lastTime : c.firstTime)).sort((a, b) => b - a);
  return { seenBy: firsts[k - 1], aliveAt: lasts[k - 1] };
}

/** A release with what the dashboard derives for it. */
export interface ReleaseView {
  readonly release: Indexed<ReleaseEntry>;
  /** The policy in force at the release's index (undefined only in a broken log). */
  readonly policy: ChainPolicy | undefined;
  readonly endorsements: CountedEndorsements | undefined;
  /** seenBy(P), when P exists. */
  readonly publishedAt: number | undefined;
  readonly publishedSize: number | undefined;
  /** Seconds of notice the release needs. */
  readonly noticeRequired: number | undefined;
  /** The time from which it counts as noticed (publishedAt + noticeRequired), proven or not. */
  readonly noticedFrom: number | undefined;
  /** Has a quorum-cosigned checkpoint proven the notice? */
  readonly noticed: boolean;
}

export class LogIndex {
  private size = 0;
  private catching: Promise<void> | null = null;
  readonly releases: Indexed<ReleaseEntry>[] = [];
  readonly policyEntries: Indexed<PolicyEntry>[] = [];
  readonly contributions = new Map<string, Indexed<ContributionEntry>>();
  /** Endorsements by the hex leaf of their subject. */
  readonly endorsements = new Map<string, Indexed<EndorsementEntry>[]>();
  /** Entries that are not Concord entries (never admitted by this server; counted only). */
  unparsable = 0;
  private readonly published = new Map<string, { at: number; size: number }>();
  /** Endorsements counted per release leaf, with how many endorsements of it were known then. */
  private readonly counted = new Map<string, { known: number; policy: ChainPolicy; result: CountedEndorsements }>();

  constructor(
    private readonly store: LogStore,
    private readonly reader: LogReader,
    private readonly state: LogState,
    private readonly now: () => number,
    /** Signature checks of endorsements (the server's native Ed25519). */
    private readonly verify?: Ed25519Verify,
  ) {}

  /** Entries indexed so far. */
  get indexed(): number {
    return this.size;
  }

  /** Reads the entries appended since the last call. */
  async refresh(): Promise<void> {
    while (this.catching !== null) await this.catching;
    const target = await this.reader.size();
    if (this.size >= target) return;
    this.catching = this.catchUp(target).finally(() => (this.catching = null));
    await this.catching;
  }

  private async catchUp(target: number): Promise<void> {
    while (this.size < target) {
      const start = this.size;
      const end = Math.min(target, start + CHUNK);
      const rows = await this.store.readEntries(start, end);
      rows.forEach((bytes, i) => this.add(bytes, start + i));
      this.size = end;
    }
  }

  private add(bytes: Uint8Array, index: number): void {
    let signed: SignedEntry;
    try {
      signed = parseSignedEntry(bytes);
    } catch {
      this.unparsable++;
      return;
    }
    const e = signed.entry;
    switch (e.type) {
      case 'release':
        this.releases.push({ index, signed, entry: e });
        break;
      case 'policy':
        this.policyEntries.push({ index, signed, entry: e });
        break;
      case 'contribution': {
        const c = { index, signed, entry: e };
        this.contributions.set(toHex(signed.leafHash), c);
        break;
      }
      case 'endorsement': {
        const key = toHex(e.subject.leaf);
        let list = this.endorsements.get(key);
        if (list === undefined) this.endorsements.set(key, (list = []));
        list.push({ index, signed, entry: e });
        break;
      }
    }
  }

  /** The release with this sequence (the first one logged; the log admits one per sequence). */
  release(sequence: number): Indexed<ReleaseEntry> | undefined {
    return this.releases.find((r) => r.entry.sequence === sequence);
  }

  endorsementsOf(leaf: Uint8Array): Indexed<EndorsementEntry>[] {
    return this.endorsements.get(toHex(leaf)) ?? [];
  }

  private quorumQuery(p: ChainPolicy): { witnesses: string[]; quorum: number; maxTime: number } {
    return { witnesses: p.entry.witnesses.map((w) => w.vkey), quorum: p.entry.witnessQuorum, maxTime: this.now() + REQUEST_MAX_SKEW };
  }

  /** The latest checkpoint cosigned by a witness quorum of the policy in force, with its times. */
  async latestCosigned(): Promise<{ checkpoint: StoredCheckpoint; policy: ChainPolicy; times: WitnessTimes } | undefined> {
    const policy = this.state.current();
    if (policy === undefined) return undefined;
    const q = this.quorumQuery(policy);
    const cp = await this.store.latestQuorumCheckpoint(q);
    if (cp === null) return undefined;
    return { checkpoint: cp, policy, times: witnessTimes(cp, q.witnesses, q.quorum, q.maxTime) };
  }

  /** Everything the dashboard says about one release. */
  async view(r: Indexed<ReleaseEntry>, latest?: WitnessTimes): Promise<ReleaseView> {
    const policy = this.state.policyAt(r.index);
    if (policy === undefined) {
      return { release: r, policy, endorsements: undefined, publishedAt: undefined, publishedSize: undefined, noticeRequired: undefined, noticedFrom: undefined, noticed: false };
    }
    const e = r.entry;
    const all = this.endorsementsOf(r.signed.leafHash);
    const leafKey = toHex(r.signed.leafHash);
    let hit = this.counted.get(leafKey);
    // Endorsements of a release only accumulate: recount (checking each signature) only when a
    // new one arrived or the policy chain was recomputed.
    if (hit === undefined || hit.known !== all.length || hit.policy !== policy) {
      const ends: IndexedEntry[] = all.map((x) => ({ index: x.index, signed: x.signed }));
      const result = countEndorsements(
        { kind: 'release', sequence: e.sequence, leaf: r.signed.leafHash, index: r.index },
        policy.entry,
        ends,
        { policyAt: (i) => this.state.policyAt(i), ...(this.verify === undefined ? {} : { ed25519Verify: this.verify }) },
      );
      hit = { known: all.length, policy, result };
      this.counted.set(leafKey, hit);
    }
    const counted = hit.result;
    let publishedAt: number | undefined;
    let publishedSize: number | undefined;
    if (counted.quorumIndex !== undefined) {
      let p = this.published.get(leafKey);
      if (p === undefined) {
        const q = this.quorumQuery(policy);
        const cp = await this.store.earliestQuorumCheckpoint(counted.quorumIndex + 1, q);
        const t = cp === null ? undefined : witnessTimes(cp, q.witnesses, q.quorum, q.maxTime).seenBy;
        if (cp !== null && t !== undefined) {
          p = { at: t, size: cp.size };
          this.published.set(leafKey, p);
        }
      }
      publishedAt = p?.at;
      publishedSize = p?.size;
    }
    const noticeRequired = releaseNoticeRequired(policy.entry, e.added);
    const noticedFrom = publishedAt === undefined || !Number.isFinite(noticeRequired) ? undefined : publishedAt + noticeRequired;
    const alive = latest?.aliveAt;
    const noticed = publishedAt !== undefined && alive !== undefined && alive - publishedAt >= noticeRequired;
    return { release: r, policy, endorsements: counted, publishedAt, publishedSize, noticeRequired, noticedFrom, noticed };
  }
}
