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
// Which entries: the app's one index of the log (dashboard/log-index.ts: releases, endorsements
// by subject leaf), which reads the entries appended since the previous request, so it follows
// the log in a read-only server too. Policies come from the server's own PolicyChain.
// Cosignatures dated more than 300 s after the server's clock are not counted (as devices do).
//
// Answers: 200 with the bundle (Cache-Control: no-cache — F moves); 404 'not-found' when there is
// no such release in a quorum-cosigned checkpoint yet; 400 for a malformed <n>.

import type { Hono } from 'hono';
import { parseDecimal, equalBytes } from '@concord/client-sdk/bytes';
import { BUNDLE_MEDIA_TYPE, BuildError, MAX_ENDORSEMENTS, buildBundle } from '@concord/client-sdk/bundle';
import type { BundlePlan, BundleSource } from '@concord/client-sdk/bundle';
import { FUTURE_TOLERANCE } from '@concord/client-sdk/cosignature';
import type { PolicyEntry, ReleaseEntry } from '@concord/client-sdk/entries';
import type { Env, RouteContext } from '../app.js';
import { ServerError } from '../http-errors.js';
import { withCosignatures } from '../reader.js';
import type { Indexed, LogIndex } from '../dashboard/log-index.js';

/** Where release `which` is among the entries below `size` (the first logged per sequence). */
function releaseBelow(index: LogIndex, which: number | 'latest', size: number): Indexed<ReleaseEntry> | undefined {
  if (which === 'latest') {
    for (let i = index.releases.length - 1; i >= 0; i--) if (index.releases[i]!.index < size) return index.releases[i];
    return undefined;
  }
  const r = index.release(which);
  return r !== undefined && r.index < size ? r : undefined;
}

/** Endorsements naming `leaf` below `size`, the first MAX_ENDORSEMENTS in index order. */
function endorsementsBelow(index: LogIndex, leaf: Uint8Array, size: number): number[] {
  return index
    .endorsementsOf(leaf)
    .map((e) => e.index)
    .filter((i) => i < size)
    .slice(0, MAX_ENDORSEMENTS);
}

export function registerReleaseRoutes(app: Hono<Env>, ctx: RouteContext): void {
  const { store, reader, state } = ctx.deps;
  const index = ctx.logIndex;
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
      await index.refresh();
      const found = releaseBelow(index, which, size);
      if (found === undefined) return null;
      const at = found.index;
      const rel = found.signed;
      const r = found.entry;
      // The chain from the anchor to the newest policy governing an entry of F.
      const chain = state.policies().filter((p) => p.activeFrom < size);
      if (!chain.some((p) => equalBytes(p.leaf, r.policy))) return null;
      return {
        release: at,
        endorsements: endorsementsBelow(index, rel.leafHash, size),
        policies: chain.map((p, i) => ({
          index: p.index,
          endorsements: i === 0 ? [] : endorsementsBelow(index, p.leaf, size),
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
