// GET /release/<n>/bundle and /release/latest/bundle: the device bundle of a release
// (client-sdk bundle.ts, application/vnd.concord.bundle.v1+json), built on demand from storage
// by client-sdk's pure buildBundle over this BundleSource:
//
//   F          store.latestQuorumCheckpoint under the policy in force (witnesses and quorum),
//              with its stored cosignatures; every proof in the bundle is against F
//   P          store.earliestQuorumCheckpoint(max(release, endorsement completing the quorum) + 1)
//              under the release's policy; for a policy that needed notice, under its predecessor
//   N          for such a policy, its notice checkpoint (client-sdk policy.ts, NoticedFrom): the
//              quorum checkpoint whose size is the index it governs from (reader.noticed, also
//              served at GET /checkpoint/noticed?policy=<index>); never another checkpoint
//   proofs     from the reader's stored hash tiles (reader.hashReader(F.size))
//   entries    the release, its endorsements (at most 256), the policy chain from the anchor to
//              the newest policy governing an entry of F (the release's or later), with the
//              endorsements of each policy
//
// Which entries: a small index of releases and endorsements (by subject leaf), built by reading
// the entries appended since the previous request (one storage read per 4,096 entries), so it
// follows the log in a read-only server too. Policies come from the server's own PolicyChain.
// Cosignatures dated more than 300 s after the server's clock are not counted (as devices do).
//
// Answers: 200 with the bundle (Cache-Control: no-cache — F moves); 404 'not-found' when there is
// no such release in a quorum-cosigned checkpoint yet; 400 for a malformed <n>.

import type { Hono } from 'hono';
import { parseDecimal, toHex, equalBytes } from '@concord/client-sdk/bytes';
import { BUNDLE_MEDIA_TYPE, BuildError, MAX_ENDORSEMENTS, buildBundle } from '@concord/client-sdk/bundle';
import type { BundlePlan, BundleSource } from '@concord/client-sdk/bundle';
import { FUTURE_TOLERANCE } from '@concord/client-sdk/cosignature';
import { parseSignedEntry } from '@concord/client-sdk/entries';
import type { PolicyEntry, ReleaseEntry } from '@concord/client-sdk/entries';
import type { Env, RouteContext } from '../app.js';
import { ServerError } from '../http-errors.js';
import { withCosignatures } from '../reader.js';
import type { LogStore } from '../storage/types.js';

const CHUNK = 4096;

/** Releases by sequence and endorsements by subject leaf, following the log. */
class ReleaseIndex {
  private size = 0;
  private catching: Promise<void> | null = null;
  /** Release index by sequence: the first logged (the log admits one release per sequence). */
  private readonly releases = new Map<number, number>();
  private readonly order: number[] = [];
  private readonly endorsements = new Map<string, number[]>();

  constructor(private readonly store: LogStore) {}

  async refresh(target: number): Promise<void> {
    while (this.catching !== null) await this.catching;
    if (this.size >= target) return;
    this.catching = (async () => {
      while (this.size < target) {
        const start = this.size;
        const end = Math.min(target, start + CHUNK);
        const rows = await this.store.readEntries(start, end);
        rows.forEach((bytes, i) => this.add(bytes, start + i));
        this.size = end;
      }
    })().finally(() => (this.catching = null));
    await this.catching;
  }

  private add(bytes: Uint8Array, index: number): void {
    let e;
    try {
      e = parseSignedEntry(bytes).entry;
    } catch {
      return;
    }
    if (e.type === 'release') {
      if (!this.releases.has(e.sequence)) {
        this.releases.set(e.sequence, index);
        this.order.push(index);
      }
    } else if (e.type === 'endorsement') {
      const key = toHex(e.subject.leaf);
      const list = this.endorsements.get(key);
      if (list === undefined) this.endorsements.set(key, [index]);
      else list.push(index);
    }
  }

  /** The release's index among entries below `size`. */
  release(which: number | 'latest', size: number): number | undefined {
    if (which === 'latest') {
      for (let i = this.order.length - 1; i >= 0; i--) if (this.order[i]! < size) return this.order[i];
      return undefined;
    }
    const i = this.releases.get(which);
    return i !== undefined && i < size ? i : undefined;
  }

  /** Endorsements naming `leaf` below `size`, the first MAX_ENDORSEMENTS in index order. */
  endorsementsOf(leaf: Uint8Array, size: number): number[] {
    return (this.endorsements.get(toHex(leaf)) ?? []).filter((i) => i < size).slice(0, MAX_ENDORSEMENTS);
  }
}

export function registerReleaseRoutes(app: Hono<Env>, ctx: RouteContext): void {
  const { store, reader, state } = ctx.deps;
  const index = new ReleaseIndex(store);
  const query = (p: PolicyEntry) => ({
    witnesses: p.witnesses.map((w) => w.vkey),
    quorum: p.witnessQuorum,
    maxTime: ctx.deps.now() + FUTURE_TOLERANCE,
  });

  const source: BundleSource = {
    async latestCheckpoint() {
      const policy = state.current();
      if (policy === undefined) return null;
      const cp = await store.latestQuorumCheckpoint(query(policy.entry));
      return cp === null ? null : withCosignatures(cp);
    },
    async earliestCheckpoint(minSize, p) {
      const cp = await store.earliestQuorumCheckpoint(minSize, query(p));
      return cp === null ? null : withCosignatures(cp);
    },
    async noticeCheckpoint(q) {
      // The policy's notice checkpoint N, exactly: the quorum checkpoint whose size is the index
      // the policy governs from (client-sdk policy.ts, NoticedFrom; the same one
      // GET /checkpoint/noticed serves). Never another one: a device places the policy's start
      // at N's size, so any other checkpoint would move it.
      const from = state.policies().find((p) => equalBytes(p.leaf, q.policy.leaf))?.activeFrom;
      if (from === undefined || from > q.maxSize) return null;
      return reader.noticed(q.policy.index);
    },
    async locate(which, size): Promise<BundlePlan | null> {
      await index.refresh(size);
      const at = index.release(which, size);
      if (at === undefined) return null;
      const [bytes] = await store.readEntries(at, at + 1);
      const rel = parseSignedEntry(bytes!);
      const r = rel.entry as ReleaseEntry;
      // The chain from the anchor to the newest policy governing an entry of F.
      const chain = state.policies().filter((p) => p.activeFrom < size);
      if (!chain.some((p) => equalBytes(p.leaf, r.policy))) return null;
      return {
        release: at,
        endorsements: index.endorsementsOf(rel.leafHash, size),
        policies: chain.map((p, i) => ({
          index: p.index,
          endorsements: i === 0 ? [] : index.endorsementsOf(p.leaf, size),
        })),
      };
    },
    async entries(indexes) {
      return Promise.all(indexes.map(async (i) => (await store.readEntries(i, i + 1))[0]!));
    },
    hashReader: (size) => reader.hashReader(size),
  };

  app.get('/release/:which/bundle', async (c) => {
    ctx.strictPath(c);
    const raw = c.req.param('which');
    let which: number | 'latest';
    if (raw === 'latest') which = 'latest';
    else {
      try {
        which = parseDecimal(raw);
      } catch {
        throw new ServerError('bad-request', 'a release is named by its sequence (a canonical decimal) or "latest"');
      }
      if (which < 1) throw new ServerError('bad-request', 'release sequences start at 1');
    }
    let body: Uint8Array;
    try {
      body = await buildBundle(source, which);
    } catch (err) {
      if (err instanceof BuildError && err.code !== 'bad-source') {
        throw new ServerError('not-found', `no bundle for release ${String(which)} yet: ${err.message}`);
      }
      throw err;
    }
    return new Response(body, {
      headers: {
        'Access-Control-Allow-Origin': '*',
        'Content-Type': BUNDLE_MEDIA_TYPE,
        'Cache-Control': 'no-cache',
      },
    });
  });
}
