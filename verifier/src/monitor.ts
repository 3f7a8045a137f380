// The monitor behind `concord monitor`: follow a Concord log (and its mirrors), verify each new
// checkpoint's consistency with everything seen before, and report what a watcher must know.
//
// Each poll:
//   1. opens the log (log-view.ts: checkpoint under the policy in force, every entry
//      authenticated; full tiles and bundles are remembered in memory between polls and
//      authenticated again on use, so a poll downloads only what is new);
//   2. proves the head consistent with the last checkpoint seen (from this process or --state):
//      two validly signed checkpoints that are not consistent are a split view, reported with
//      both notes;
//   3. fetches each mirror's checkpoint, verifies it under the same policy, and proves it
//      consistent with the head — through the head's tiles when it is smaller, through the
//      mirror's own tiles when it is larger; inconsistent → split view, both notes as evidence;
//   4. reports entries new since the last poll: releases, policy entries, policies taking force;
//      releases whose notice period (from the first quorum-cosigned checkpoint containing them)
//      ended without their endorsement quorum (once per release); witnesses of the policy in
//      force that did not cosign the head, or cosigned it more than `witnessLag` seconds before
//      the newest cosignature (once per witness until it catches up).
//
// Events are JSON objects with a `type`; the command prints them as JSON lines and POSTs each
// to the webhook. Time comes from witness cosignatures, never from the monitor's clock (which
// only discards cosignatures from the future).

import { toBase64, toHex } from '@concord/client-sdk/bytes';
import { parseCheckpoint } from '@concord/client-sdk/checkpoint';
import { LogClient } from '@concord/client-sdk/client';
import type { Fetch, FetchResponse } from '@concord/client-sdk/client';
import type { ReleaseEntry } from '@concord/client-sdk/entries';
import { MerkleError, proveConsistency, verifyConsistency } from '@concord/client-sdk/merkle';
import type { HashReader } from '@concord/client-sdk/merkle';
import { parseNote } from '@concord/client-sdk/note';
import { countEndorsements, isNoticed, releaseNoticeRequired } from '@concord/client-sdk/policy';
import type { IndexedEntry } from '@concord/client-sdk/policy';
import type { TreeHead } from '@concord/client-sdk/tiles';
import { LogViewError, openLogView, verifyCheckpointUnder } from './log-view.js';
import type { LogView, Trust } from './log-view.js';
import type { StateDir } from './state-dir.js';

export type MonitorEvent =
  | { type: 'checkpoint'; size: number; root: string; seenBy: number; aliveAt: number; witnesses: number }
  | { type: 'new-release'; sequence: number; index: number; leaf: string; policy: number | undefined; count: number; added: number; removed: number; expires: number }
  | { type: 'policy-proposed'; sequence: number; index: number; leaf: string }
  | { type: 'policy-change'; sequence: number; index: number; leaf: string; activeFrom: number; removalOnly: boolean }
  | { type: 'release-missing-endorsements'; sequence: number; index: number; endorsedBy: string[]; required: { orgs: number; jurisdictions: number }; noticeEnded: number }
  | { type: 'witness-behind'; witness: string; lastCosigned: number | null; newest: number; size: number }
  | { type: 'split-view'; source: string; message: string; evidence: { a: string; b: string } }
  | { type: 'error'; source: string; message: string };

export interface MonitorOptions {
  readonly url: string;
  readonly trust: Trust;
  readonly mirrors?: readonly string[];
  readonly fetch?: Fetch;
  /** Unix seconds (only to discard cosignatures from the future). */
  readonly now: () => number;
  readonly state?: StateDir;
  /** Seconds a witness's cosignature on the head may trail the newest one (default 3600). */
  readonly witnessLag?: number;
}

interface Seen {
  note: Uint8Array;
  tree: TreeHead;
}

/** The monitor's memory between polls (persisted in --state as monitor.json). */
export interface MonitorMemory {
  size: number;
  policiesInForce: string[];
  missingReported: string[];
  witnessesBehind: string[];
}

const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Bytes of tiles and bundles kept between polls; beyond it the memo starts over. */
const MEMO_BYTES = 256 << 20;

/** Immutable (full) tiles and bundles, kept in memory: authenticated again on every use. */
function tileMemo(inner: Fetch): Fetch {
  const memo = new Map<string, Uint8Array>();
  let bytes = 0;
  return async (url, init) => {
    const method = init?.method ?? 'GET';
    if (method !== 'GET' || !/\/tile\/(entries|\d+)\/[x0-9/]+$/.test(url)) return inner(url, init);
    let body = memo.get(url);
    if (body === undefined) {
      const res = await inner(url, init);
      if (res.status !== 200) return res;
      body = new Uint8Array(await res.arrayBuffer());
      if (body.length > 256 * (2 + 65_535)) throw new Error('tile too large');
      if (bytes + body.length > MEMO_BYTES) {
        memo.clear();
        bytes = 0;
      }
      memo.set(url, body);
      bytes += body.length;
    }
    return new Response(body, { status: 200, headers: { 'content-length': String(body.length) } }) as unknown as FetchResponse;
  };
}

function parseSeen(note: Uint8Array): Seen | undefined {
  try {
    const cp = parseCheckpoint(parseNote(note).text);
    return { note, tree: { size: cp.size, root: cp.root } };
  } catch {
    return undefined;
  }
}

/** Is `older` (size ≤ newer's) consistent with `newer`, proven through `reader` (authenticated for newer)? */
async function consistent(older: Seen, newer: Seen, reader: HashReader): Promise<boolean> {
  try {
    const proof = await proveConsistency(older.tree.size, newer.tree.size, reader);
    verifyConsistency(older.tree.size, newer.tree.size, proof, older.tree.root, newer.tree.root);
    return true;
  } catch (err) {
    if (err instanceof MerkleError) return false;
    throw err;
  }
}

export class Monitor {
  private readonly opts: MonitorOptions;
  private readonly fetch: Fetch;
  private last: Seen | undefined;
  private memory: MonitorMemory | undefined;

  constructor(opts: MonitorOptions) {
    this.opts = opts;
    this.fetch = tileMemo(opts.fetch ?? (globalThis.fetch as unknown as Fetch));
    const stored = opts.state?.readCheckpoint();
    this.last = stored === undefined ? undefined : parseSeen(stored);
    this.memory = opts.state?.readMonitor();
  }

  /** One round: returns the events it found (in order). Never throws for what a log serves. */
  async poll(): Promise<MonitorEvent[]> {
    const events: MonitorEvent[] = [];
    const now = this.opts.now();
    let view: LogView;
    try {
      view = await openLogView({ url: this.opts.url, trust: this.opts.trust, now, fetch: this.fetch });
    } catch (err) {
      events.push({ type: 'error', source: this.opts.url, message: err instanceof Error ? err.message : String(err) });
      return events;
    }
    const head: Seen = { note: view.head.note, tree: view.head.tree };
    events.push({
      type: 'checkpoint',
      size: head.tree.size,
      root: toBase64(head.tree.root),
      seenBy: view.head.seenBy,
      aliveAt: view.head.aliveAt,
      witnesses: new Set(view.head.cosignatures.map((c) => c.witness)).size,
    });

    // Split views: the head against the last checkpoint seen.
    let split = false;
    if (this.last !== undefined) {
      const [older, newer] = this.last.tree.size <= head.tree.size ? [this.last, head] : [head, this.last];
      const ok = newer === head ? await consistent(older, newer, view.reader) : false;
      if (!ok) {
        split = true;
        events.push({
          type: 'split-view',
          source: this.opts.url,
          message: newer === head ? `the log's checkpoint ${head.tree.size} is not consistent with checkpoint ${this.last.tree.size} seen before` : `the log's checkpoint ${head.tree.size} is smaller than checkpoint ${this.last.tree.size} seen before (rolled back)`,
          evidence: { a: text(this.last.note), b: text(head.note) },
        });
      }
    }
    // … and against each mirror.
    for (const m of this.opts.mirrors ?? []) events.push(...(await this.checkMirror(m, view, head, now)));
    if (events.some((e) => e.type === 'split-view')) split = true;

    // What is new.
    const mem: MonitorMemory = this.memory ?? { size: 0, policiesInForce: [], missingReported: [], witnessesBehind: [] };
    const from = Math.min(mem.size, view.entries.length);
    const releases: (IndexedEntry & { entry: ReleaseEntry })[] = [];
    const endorsements: IndexedEntry[] = [];
    for (let i = 0; i < view.entries.length; i++) {
      let se;
      try {
        se = view.parsed(i);
      } catch {
        continue;
      }
      const e = se.entry;
      if (e.type === 'release') {
        releases.push({ signed: se, index: i, entry: e });
        if (i >= from) {
          events.push({
            type: 'new-release',
            sequence: e.sequence,
            index: i,
            leaf: toHex(se.leafHash),
            policy: view.chain.byLeaf(e.policy)?.entry.sequence,
            count: e.database.count,
            added: e.added,
            removed: e.removed,
            expires: e.expires,
          });
        }
      } else if (e.type === 'endorsement' && e.subject.kind === 'release') endorsements.push({ signed: se, index: i });
      else if (e.type === 'policy' && i >= from && i > 0) events.push({ type: 'policy-proposed', sequence: e.sequence, index: i, leaf: toHex(se.leafHash) });
    }
    const inForce = view.chain.inForce();
    for (const p of inForce) {
      const leaf = toHex(p.leaf);
      if (p.index === 0 || mem.policiesInForce.includes(leaf)) continue;
      events.push({ type: 'policy-change', sequence: p.entry.sequence, index: p.index, leaf, activeFrom: p.activeFrom, removalOnly: p.removalOnly });
    }

    // Releases whose notice period ended without their endorsement quorum (reported once).
    const missing = new Set(mem.missingReported);
    for (const r of releases) {
      const leaf = toHex(r.signed.leafHash);
      if (missing.has(leaf)) continue;
      const p = view.chain.policyAt(r.index);
      if (p === undefined) continue;
      const counted = countEndorsements({ kind: 'release', sequence: r.entry.sequence, leaf: r.signed.leafHash, index: r.index }, p.entry, endorsements, {
        policyAt: (i) => view.chain.policyAt(i),
      });
      if (counted.met) continue;
      const first = await this.firstSeen(view, r.index, now);
      if (first === undefined) continue;
      const required = releaseNoticeRequired(p.entry, r.entry.added);
      if (!isNoticed(first, view.head.aliveAt, required)) continue;
      missing.add(leaf);
      events.push({
        type: 'release-missing-endorsements',
        sequence: r.entry.sequence,
        index: r.index,
        endorsedBy: counted.orgs,
        required: { ...p.entry.endorsementQuorum },
        noticeEnded: first + required,
      });
    }

    // Witnesses falling behind (reported once until they catch up).
    const lag = this.opts.witnessLag ?? 3600;
    const newest = Math.max(...view.head.cosignatures.map((c) => c.time));
    const behind = new Set<string>();
    for (const w of view.policy.entry.witnesses) {
      const mine = view.head.cosignatures.filter((c) => c.witness === w.vkey).map((c) => c.time);
      const t = mine.length === 0 ? null : Math.max(...mine);
      if (t !== null && newest - t <= lag) continue;
      behind.add(w.vkey);
      if (!mem.witnessesBehind.includes(w.vkey)) events.push({ type: 'witness-behind', witness: w.vkey, lastCosigned: t, newest, size: head.tree.size });
    }

    this.memory = {
      size: view.entries.length,
      policiesInForce: inForce.map((p) => toHex(p.leaf)),
      missingReported: [...missing],
      witnessesBehind: [...behind],
    };
    // A split view keeps the earlier checkpoint as the reference (and as evidence).
    if (!split) {
      this.last = head;
      this.opts.state?.writeCheckpoint(head.note);
    }
    this.opts.state?.writeMonitor(this.memory);
    return events;
  }

  /** seenBy of the first quorum-cosigned checkpoint containing entry i (verified, consistent with the head). */
  private async firstSeen(view: LogView, i: number, now: number): Promise<number | undefined> {
    const note = await view.client.published(i).catch(() => null);
    if (note === null) return undefined;
    const seen = parseSeen(note);
    if (seen === undefined || seen.tree.size > view.head.tree.size || seen.tree.size <= i) return undefined;
    try {
      const cp = verifyCheckpointUnder(note, (view.chain.policyAt(seen.tree.size - 1) ?? view.policy).entry, view.origin, now);
      if (!(await consistent(seen, { note: view.head.note, tree: view.head.tree }, view.reader))) return undefined;
      return cp.seenBy;
    } catch (err) {
      if (err instanceof LogViewError) return undefined;
      throw err;
    }
  }

  private async checkMirror(url: string, view: LogView, head: Seen, now: number): Promise<MonitorEvent[]> {
    const client = new LogClient({ url, fetch: this.fetch });
    let note: Uint8Array;
    let mirror: Seen;
    try {
      note = await client.checkpoint();
      const size = parseSeen(note)?.tree.size ?? 0;
      const policy = view.chain.policyAt(Math.max(0, size - 1)) ?? view.policy;
      const cp = verifyCheckpointUnder(note, policy.entry, view.origin, now);
      mirror = { note, tree: cp.tree };
    } catch (err) {
      return [{ type: 'error', source: url, message: `mirror checkpoint: ${err instanceof Error ? err.message : String(err)}` }];
    }
    let ok: boolean;
    try {
      if (mirror.tree.size <= head.tree.size) ok = await consistent(mirror, head, view.reader);
      else ok = await consistent(head, mirror, client.hashReader(mirror.tree));
    } catch (err) {
      // The mirror's tiles do not authenticate against its own signed root: it serves garbage,
      // which is an error, not (yet) evidence of a second view.
      return [{ type: 'error', source: url, message: `mirror tiles: ${err instanceof Error ? err.message : String(err)}` }];
    }
    if (ok) return [];
    return [
      {
        type: 'split-view',
        source: url,
        message: `the mirror's checkpoint ${mirror.tree.size} and the log's checkpoint ${head.tree.size} are both validly signed and not consistent`,
        evidence: { a: text(head.note), b: text(mirror.note) },
      },
    ];
  }
}
