// DESIGN.md "Time, notice and freshness" for a policy successor, from a remote log: the rule of
// policy.ts NoticedFrom applied to the checkpoints the log designates, for every party that
// replays a log over HTTP (auditors' log views, the operator's release builder).
//
//   P = GET /checkpoint/published?entry=<quorumIndex>   the policy and its quorum were public by seenBy(P)
//   N = GET /checkpoint/noticed?policy=<index>          the notice checkpoint: governs from N's size
//
// Both are verified under the PREDECESSOR policy (its log key, a quorum of its witnesses, not
// dated more than 300 s after `now`), and both must be prefixes of the caller's verified tree
// (their roots equal the tree's root at their sizes, read through an authenticating reader).
// policy.noticedFromCheckpoints then decides. Anything missing, unverifiable or inconsistent
// proves nothing: the predecessor stays in force (fail closed).

import { toHex, equalBytes } from './bytes.js';
import { CheckpointError, openCheckpoint } from './checkpoint.js';
import type { Checkpoint } from './checkpoint.js';
import type { LogClient } from './client.js';
import { CosignatureError, aliveAt, newCosignatureVerifier, seenBy, verifyCosignatures } from './cosignature.js';
import type { PolicyEntry } from './entries.js';
import { treeHash } from './merkle.js';
import type { HashReader } from './merkle.js';
import { NoteError, newVerifier } from './note.js';
import type { Ed25519Verify } from './note.js';
import { noticedFromCheckpoints } from './policy.js';
import type { NoticeQuery, PolicyChain } from './policy.js';
import type { TreeHead } from './tiles.js';

/** A checkpoint verified under a policy, with its witness times. */
interface Witnessed {
  tree: Checkpoint;
  seenBy: number;
  aliveAt: number;
}

/** Opens `note` under policy `p` (log key, witness quorum), or undefined. */
function witnessedUnder(note: Uint8Array, p: PolicyEntry, origin: string, now: number, v: { ed25519Verify?: Ed25519Verify }): Witnessed | undefined {
  try {
    const tree = openCheckpoint(note, newVerifier(p.log, v), origin).checkpoint;
    const cosigs = verifyCosignatures(
      note,
      p.witnesses.map((w) => newCosignatureVerifier(w.vkey, v)),
      now,
    );
    const s = seenBy(cosigs, p.witnessQuorum);
    const a = aliveAt(cosigs, p.witnessQuorum);
    return s === undefined || a === undefined ? undefined : { tree, seenBy: s, aliveAt: a };
  } catch (err) {
    if (err instanceof NoteError || err instanceof CheckpointError || err instanceof CosignatureError) return undefined;
    throw err;
  }
}

export interface RemoteNoticeOptions {
  readonly client: LogClient;
  readonly origin: string;
  /** The caller's verified tree and an authenticating reader for it. */
  readonly tree: TreeHead;
  readonly reader: HashReader;
  /** Unix seconds. */
  readonly now: number;
  readonly ed25519Verify?: Ed25519Verify;
}

/**
 * Decisions for a PolicyChain's NoticedFrom: create one, pass `noticedFrom` to the chain, add the
 * log's entries, then `await resolve(chain)` — it proves pending successors one at a time (each
 * may unlock the next) until none is pending or one cannot be proven.
 */
export class RemoteNotices {
  private readonly decided = new Map<string, number | undefined>();
  constructor(private readonly o: RemoteNoticeOptions) {}

  /** The NoticedFrom callback: stable answers, from decisions already taken. */
  readonly noticedFrom = (q: NoticeQuery): number | undefined => this.decided.get(toHex(q.policy.leaf));

  async resolve(chain: PolicyChain): Promise<void> {
    for (;;) {
      const pending = chain.pending();
      const predecessor = chain.current();
      if (pending === undefined || predecessor === undefined) return;
      const key = toHex(pending.leaf);
      if (this.decided.has(key)) return; // tried, not proven
      this.decided.set(key, await this.prove(predecessor.entry, pending));
      if (this.decided.get(key) === undefined) return;
    }
  }

  private async prove(predecessor: PolicyEntry, pending: { index: number; quorumIndex: number }): Promise<number | undefined> {
    const { client, origin, now, tree, reader } = this.o;
    const v = this.o.ed25519Verify === undefined ? {} : { ed25519Verify: this.o.ed25519Verify };
    const [pNote, nNote] = await Promise.all([client.published(pending.quorumIndex), client.noticed(pending.index)]);
    if (pNote === null || nNote === null) return undefined;
    const p = witnessedUnder(pNote, predecessor, origin, now, v);
    const n = witnessedUnder(nNote, predecessor, origin, now, v);
    if (p === undefined || n === undefined) return undefined;
    for (const c of [p, n]) {
      if (c.tree.size > tree.size || !equalBytes(await treeHash(c.tree.size, reader), c.tree.root)) return undefined;
    }
    return noticedFromCheckpoints(
      { quorumIndex: pending.quorumIndex, noticePeriod: predecessor.noticePeriod },
      { size: p.tree.size, seenBy: p.seenBy },
      { size: n.tree.size, aliveAt: n.aliveAt },
    );
  }
}
