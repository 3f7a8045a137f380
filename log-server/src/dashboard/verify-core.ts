// The verifying page's logic (GET /verify), run in the reader's browser: it trusts nothing the
// server says beyond what it checks here against two trust anchors the reader can replace —
// the log's origin and the leaf hash of its initial policy entry (DESIGN.md trust anchor).
//
//   1. GET /checkpoint (untrusted), then every entry of that tree from the tlog-tiles API: each
//      hash tile is authenticated against the checkpoint's root (tiles.tileHashReader) and each
//      entry bundle against the tree's leaf hashes (LogClient.entries).
//   2. Replay the policy chain from the anchor (policy.PolicyChain): the policy in force at the
//      tree's size names the log key and the witnesses. A policy that needs notice governs from
//      the size of its notice checkpoint (GET /checkpoint/noticed?policy=<index>) if that proves
//      the notice against its published checkpoint (client-sdk policy.ts, NoticedFrom).
//   3. The checkpoint must be signed by that log key and cosigned by a witness quorum of that
//      policy. Only now is anything from step 1 trusted (it all hangs off this root).
//   4. For every release: an RFC 9162 inclusion proof against the root, signed by the operator
//      of the policy in force at its index and naming that policy, endorsed by the policy's
//      endorsement quorum, published (the earliest quorum-cosigned checkpoint P holding it and
//      its endorsements: signed, cosigned, and its root recomputed from the verified tree, so P
//      is consistent with the checkpoint), noticed or not, expired or not.
//   5. What the server's own dashboard claims about each release (/dashboard.json) must match
//      the verified release: a dashboard that shows another root, count or index is caught.
//
// No value import: the client-sdk modules are passed in (`Sdk`), so that the browser page
// uses the one client-sdk build it inlines (scripts/build-browser.ts) and Node tests the
// package itself.

import type * as bytesM from '@concord/client-sdk/bytes';
import type * as checkpointM from '@concord/client-sdk/checkpoint';
import type * as clientM from '@concord/client-sdk/client';
import type * as cosignatureM from '@concord/client-sdk/cosignature';
import type * as entriesM from '@concord/client-sdk/entries';
import type * as merkleM from '@concord/client-sdk/merkle';
import type * as noteM from '@concord/client-sdk/note';
import type * as policyM from '@concord/client-sdk/policy';
import type { ReleaseEntry, SignedEntry } from '@concord/client-sdk/entries';
import type { ChainPolicy, IndexedEntry, PolicyChain } from '@concord/client-sdk/policy';
import type { HashReader } from '@concord/client-sdk/merkle';
import type { Fetch } from '@concord/client-sdk/client';
import type { WitnessCosignature } from '@concord/client-sdk/cosignature';

export interface Sdk {
  readonly bytes: typeof bytesM;
  readonly checkpoint: typeof checkpointM;
  readonly client: typeof clientM;
  readonly cosignature: typeof cosignatureM;
  readonly entries: typeof entriesM;
  readonly merkle: typeof merkleM;
  readonly note: typeof noteM;
  readonly policy: typeof policyM;
}

/** The log sizes the page scans in full (it reads every entry to find every release). */
export const MAX_SCAN = 200_000;

/** One release as the server's dashboard shows it (GET /dashboard.json), untrusted. */
export interface ReleaseClaim {
  readonly sequence: number;
  readonly index: number;
  readonly leaf: string;
  readonly root: string;
  readonly count: number;
  readonly added: number;
  readonly removed: number;
  readonly expires: number;
  /** null: not published (yet). */
  readonly publishedAt: number | null;
  readonly endorsedBy: readonly string[];
}

export interface Claims {
  readonly origin: string | undefined;
  readonly anchor: string | undefined;
  readonly checkpointSize: number | undefined;
  /** The log size the claims were computed at (may be beyond the latest cosigned checkpoint). */
  readonly size: number | undefined;
  readonly releases: readonly ReleaseClaim[];
}

const isNat = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/** Reads /dashboard.json leniently: whatever is malformed is left out (and then not claimed). */
export function parseClaims(json: unknown): Claims {
  const o = typeof json === 'object' && json !== null ? (json as Record<string, unknown>) : {};
  const releases: ReleaseClaim[] = [];
  if (Array.isArray(o.releases)) {
    for (const r of o.releases as unknown[]) {
      if (typeof r !== 'object' || r === null) continue;
      const x = r as Record<string, unknown>;
      if (!isNat(x.sequence) || !isNat(x.index) || typeof x.leaf !== 'string' || typeof x.root !== 'string') continue;
      if (!isNat(x.count) || !isNat(x.added) || !isNat(x.removed) || !isNat(x.expires)) continue;
      if (!(x.publishedAt === null || isNat(x.publishedAt))) continue;
      if (!Array.isArray(x.endorsedBy) || !x.endorsedBy.every((o): o is string => typeof o === 'string')) continue;
      releases.push({
        sequence: x.sequence,
        index: x.index,
        leaf: x.leaf,
        root: x.root,
        count: x.count,
        added: x.added,
        removed: x.removed,
        expires: x.expires,
        publishedAt: x.publishedAt,
        endorsedBy: x.endorsedBy,
      });
    }
  }
  const cp = typeof o.checkpoint === 'object' && o.checkpoint !== null ? (o.checkpoint as Record<string, unknown>) : {};
  return {
    origin: typeof o.origin === 'string' ? o.origin : undefined,
    anchor: typeof o.anchor === 'string' ? o.anchor : undefined,
    checkpointSize: isNat(cp.size) ? cp.size : undefined,
    size: isNat(o.size) ? o.size : undefined,
    releases,
  };
}

export interface VerifyInput {
  /** The log's base URL. */
  readonly url: string;
  /** Trust anchor: the log's origin (its log key's name). */
  readonly origin: string;
  /** Trust anchor: the leaf hash of the initial policy entry (32 bytes). */
  readonly anchor: Uint8Array;
  /** Unix seconds (the reader's clock). */
  readonly now: number;
  readonly fetch?: Fetch;
  /** What the server's dashboard shows, to be checked. */
  readonly claims?: Claims;
  /** Progress messages for the page. */
  readonly progress?: (message: string) => void;
}

export interface WitnessView {
  readonly name: string;
  readonly vkey: string;
  /** Verified cosignature times on the checkpoint, earliest first (empty: did not cosign). */
  readonly times: number[];
}

export interface CheckpointView {
  readonly size: number;
  readonly root: string;
  readonly policySequence: number;
  readonly policyLeaf: string;
  readonly quorum: number;
  readonly witnesses: WitnessView[];
  readonly seenBy: number | undefined;
  readonly aliveAt: number | undefined;
}

export interface ReleaseResult {
  readonly sequence: number;
  readonly index: number;
  readonly leaf: string;
  readonly root: string;
  readonly rootHex: string;
  readonly count: number;
  readonly added: number;
  readonly removed: number;
  readonly expires: number;
  readonly endorsedBy: { org: string; jurisdiction: string }[];
  readonly endorsementQuorumMet: boolean;
  readonly publishedAt: number | undefined;
  readonly noticed: boolean;
  readonly expired: boolean;
  /** Shown by the server's dashboard (claims given and one names this sequence). */
  readonly claimed: boolean;
  /** Empty: verified. */
  readonly problems: string[];
}

export interface VerifyReport {
  readonly ok: boolean;
  /** Why verification stopped (ok = false), with the step it failed in. */
  readonly error: string | undefined;
  readonly origin: string;
  readonly anchor: string;
  readonly checkpoint: CheckpointView | undefined;
  readonly releases: ReleaseResult[];
  /** Releases the dashboard shows that are not in the verified log (or do not match one). */
  readonly falseClaims: string[];
}

class Step extends Error {}

/** The checkpoint is authentic but lacks a witness quorum. */
class NoQuorum extends Step {}

function msg(err: unknown): string {
  if (err instanceof Error) return (('code' in err && typeof err.code === 'string' ? `${err.code}: ` : '') + err.message).slice(0, 500);
  return String(err).slice(0, 500);
}

async function step<T>(name: string, f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof Step) throw err;
    throw new Step(`${name}: ${msg(err)}`);
  }
}

function keyName(sdk: Sdk, vkey: string): string {
  try {
    return sdk.note.parseVerifierKey(vkey).name;
  } catch {
    return vkey.slice(0, 40);
  }
}

/** Opens a checkpoint note under a policy: log signature, and witness cosignatures (verified). */
function openUnder(sdk: Sdk, note: Uint8Array, p: ChainPolicy, origin: string, now: number): { size: number; root: Uint8Array; cosigs: WitnessCosignature[]; met: boolean } {
  const signed = sdk.checkpoint.openCheckpoint(note, sdk.note.newVerifier(p.entry.log), origin);
  const ws = p.entry.witnesses.map((w) => sdk.cosignature.newCosignatureVerifier(w.vkey));
  const cosigs = sdk.cosignature.verifyCosignatures(note, ws, now);
  const met = sdk.policy.evaluateWitnessQuorum(p.entry, cosigs).met;
  return { size: signed.checkpoint.size, root: signed.checkpoint.root, cosigs, met };
}

export async function verifyLog(sdk: Sdk, input: VerifyInput): Promise<VerifyReport> {
  const { origin, now } = input;
  const anchorHex = sdk.bytes.toHex(input.anchor);
  const say = input.progress ?? (() => {});
  const base = { origin, anchor: anchorHex };
  let checkpoint: CheckpointView | undefined;
  try {
    // Default: the global fetch, called as a function of the global object (a browser's fetch
    // throws "Illegal invocation" when called as a method of anything else).
    const fetchFn: Fetch = input.fetch ?? ((u, i) => globalThis.fetch(u, i as RequestInit) as unknown as ReturnType<Fetch>);
    const client = new sdk.client.LogClient({ url: input.url, fetch: fetchFn });
    // Opens one checkpoint: its tree (every entry authenticated), the policy chain, then the
    // checkpoint's signature and witness quorum under the policy in force.
    const open = async (note: Uint8Array) => {
      const unverified = await step('reading the checkpoint', () => sdk.checkpoint.parseCheckpoint(sdk.note.parseNote(note).text));
      if (unverified.origin !== origin) throw new Step(`the checkpoint is for origin ${JSON.stringify(unverified.origin)}, not the trust anchor's ${JSON.stringify(origin)}`);
      if (unverified.size > MAX_SCAN) throw new Step(`the log holds ${unverified.size} entries; this page scans at most ${MAX_SCAN} (use concord audit)`);
      const tree = { size: unverified.size, root: unverified.root };
      const reader: HashReader = client.hashReader(tree, new Map<string, Uint8Array>());
      say(`Fetching and authenticating ${tree.size} entries`);
      const raw = await step('authenticating the log\'s tiles and entries against the checkpoint root', () => client.entries(tree, 0, tree.size, reader));

      say('Replaying the policy chain from the trust anchor');
      const noticed = new Map<string, number>();
      const chain: PolicyChain = new sdk.policy.PolicyChain({ origin, anchor: input.anchor, noticedFrom: (q) => noticed.get(sdk.bytes.toHex(q.policy.leaf)) });
      const releases: { index: number; signed: SignedEntry; entry: ReleaseEntry }[] = [];
      const endorsements: IndexedEntry[] = [];
      raw.forEach((bytes, index) => {
        let se: SignedEntry;
        try {
          se = sdk.entries.parseSignedEntry(bytes);
        } catch {
          return; // not a Concord entry: a log admits none, and nothing here can rely on one
        }
        chain.add(se, index);
        const e = se.entry;
        if (e.type === 'release') releases.push({ index, signed: se, entry: e });
        else if (e.type === 'endorsement' && e.subject.kind === 'release') endorsements.push({ index, signed: se });
      });
      // Policies that needed notice: each governs from its notice checkpoint's size, if that
      // checkpoint proves the notice (client-sdk policy.ts, NoticedFrom).
      for (let round = 0; round < 64; round++) {
        const pending = chain.pending();
        const predecessor = chain.current();
        if (pending === undefined || predecessor === undefined) break;
        say(`Checking the notice of policy ${pending.entry.sequence}`);
        const from = await step(`checking the notice of policy ${pending.entry.sequence}`, () => noticeFrom(sdk, client, reader, tree, predecessor, pending, origin, now));
        if (from === undefined) break;
        noticed.set(sdk.bytes.toHex(pending.leaf), from);
      }
      const policy = chain.current();
      if (policy === undefined) throw new Step(`the trust anchor is not in this log: no valid policy 1 with leaf hash ${anchorHex} signed by its operator`);

      say('Checking the checkpoint signature and witness cosignatures');
      const cp = await step('verifying the checkpoint', () => openUnder(sdk, note, policy, origin, now));
      if (!sdk.bytes.equalBytes(cp.root, tree.root) || cp.size !== tree.size) throw new Step('verifying the checkpoint: bad math: root changed');
      const q = policy.entry.witnessQuorum;
      const witnesses: WitnessView[] = policy.entry.witnesses.map((w) => ({
        name: keyName(sdk, w.vkey),
        vkey: w.vkey,
        times: cp.cosigs.filter((c) => c.witness === w.vkey).map((c) => c.time),
      }));
      checkpoint = {
        size: cp.size,
        root: sdk.bytes.toBase64(cp.root),
        policySequence: policy.entry.sequence,
        policyLeaf: sdk.bytes.toHex(policy.leaf),
        quorum: q,
        witnesses,
        seenBy: sdk.cosignature.seenBy(cp.cosigs, q),
        aliveAt: sdk.cosignature.aliveAt(cp.cosigs, q),
      };
      if (!cp.met) {
        const n = witnesses.filter((w) => w.times.length > 0).length;
        throw new NoQuorum(`the checkpoint is cosigned by ${n} of the policy's ${witnesses.length} witnesses; the quorum is ${q}`);
      }
      return { tree, reader, chain, releases, endorsements, checkpoint };
    };

    say('Fetching the latest checkpoint');
    let opened: Awaited<ReturnType<typeof open>>;
    try {
      opened = await open(await step('fetching the checkpoint', () => client.checkpoint()));
    } catch (err) {
      // Witnesses cosign a new checkpoint within seconds; until they have, fall back to the
      // latest quorum-cosigned checkpoint the dashboard names (verified just the same).
      const size = input.claims?.checkpointSize;
      if (!(err instanceof NoQuorum) || size === undefined || size === 0) throw err;
      say('The latest checkpoint has no witness quorum yet: trying the latest cosigned one');
      const older = await step('fetching the cosigned checkpoint', () => client.published(size - 1));
      if (older === null) throw err;
      checkpoint = undefined;
      opened = await open(older);
    }
    const { tree, reader, chain, releases, endorsements } = opened;
    checkpoint = opened.checkpoint;
    const aliveAtF = checkpoint.aliveAt!;

    const results: ReleaseResult[] = [];
    for (const r of releases) {
      say(`Verifying release ${r.entry.sequence}`);
      results.push(await verifyRelease(sdk, { client, reader, chain, origin, now, tree, aliveAtF, endorsements }, r));
    }

    // The server's dashboard against the verified log.
    const falseClaims: string[] = [];
    if (input.claims !== undefined) {
      // The dashboard may know entries beyond the verified checkpoint (not cosigned yet): those
      // can add releases and endorsements, and publish releases, but never change the rest.
      const ahead = (input.claims.size ?? 0) > tree.size;
      for (const c of input.claims.releases) {
        const v = results.find((x) => x.sequence === c.sequence);
        if (v === undefined && ahead && c.index >= tree.size) continue; // not in the verified tree yet
        if (v === undefined) {
          falseClaims.push(`release ${c.sequence} is shown by the dashboard but is not in the verified log`);
          continue;
        }
        const diffs: string[] = [];
        if (c.index !== v.index) diffs.push(`index ${c.index} (log: ${v.index})`);
        if (c.leaf !== v.leaf) diffs.push('leaf hash');
        if (c.root !== v.root) diffs.push(`database root ${c.root}`);
        if (c.count !== v.count) diffs.push(`count ${c.count} (log: ${v.count})`);
        if (c.added !== v.added) diffs.push(`added ${c.added} (log: ${v.added})`);
        if (c.removed !== v.removed) diffs.push(`removed ${c.removed} (log: ${v.removed})`);
        if (c.expires !== v.expires) diffs.push(`expiry ${c.expires} (log: ${v.expires})`);
        const orgs = v.endorsedBy.map((o) => o.org);
        const sameOrgs = c.endorsedBy.join(', ') === orgs.join(', ');
        if (!sameOrgs && !(ahead && orgs.every((o) => c.endorsedBy.includes(o)))) {
          diffs.push(`list of endorsing organisations ${c.endorsedBy.join(', ') || 'none'} (log: ${orgs.join(', ') || 'none'})`);
        }
        if ((c.publishedAt ?? undefined) !== v.publishedAt && !(ahead && v.publishedAt === undefined)) {
          diffs.push(`publication time ${c.publishedAt ?? 'none'} (witnesses: ${v.publishedAt ?? 'none'})`);
        }
        const k = results.indexOf(v);
        results[k] = { ...v, claimed: true, problems: diffs.length === 0 ? v.problems : [...v.problems, `the dashboard shows a different ${diffs.join(', ')}`] };
        if (diffs.length > 0) falseClaims.push(`release ${c.sequence}: the dashboard shows a different ${diffs.join(', ')}`);
      }
    }
    return { ...base, ok: true, error: undefined, checkpoint, releases: results, falseClaims };
  } catch (err) {
    return { ...base, ok: false, error: err instanceof Step ? err.message : `unexpected error: ${msg(err)}`, checkpoint, releases: [], falseClaims: [] };
  }
}

interface ReleaseContext {
  readonly client: clientM.LogClient;
  readonly reader: HashReader;
  readonly chain: PolicyChain;
  readonly origin: string;
  readonly now: number;
  readonly tree: { size: number; root: Uint8Array };
  readonly aliveAtF: number;
  readonly endorsements: readonly IndexedEntry[];
}

async function verifyRelease(sdk: Sdk, x: ReleaseContext, r: { index: number; signed: SignedEntry; entry: ReleaseEntry }): Promise<ReleaseResult> {
  const e = r.entry;
  const problems: string[] = [];
  const policy = x.chain.policyAt(r.index);
  // Inclusion: also implied by the authenticated entry bundle; proven here the RFC 9162 way.
  try {
    const proof = await sdk.merkle.proveInclusion(x.tree.size, r.index, x.reader);
    sdk.merkle.verifyInclusion(r.signed.leafHash, r.index, x.tree.size, proof, x.tree.root);
  } catch (err) {
    problems.push(`inclusion: ${msg(err)}`);
  }
  let endorsedBy: { org: string; jurisdiction: string }[] = [];
  let met = false;
  let publishedAt: number | undefined;
  if (policy === undefined) problems.push('no policy in force at its index');
  else {
    try {
      sdk.policy.verifyEntryAuthor(r.signed, policy);
    } catch (err) {
      problems.push(`not signed by the operator of the policy in force: ${msg(err)}`);
    }
    try {
      sdk.policy.checkReleasePolicy(e, r.index, x.chain);
    } catch (err) {
      problems.push(msg(err));
    }
    const counted = sdk.policy.countEndorsements(
      { kind: 'release', sequence: e.sequence, leaf: r.signed.leafHash, index: r.index },
      policy.entry,
      x.endorsements,
      { policyAt: (i) => x.chain.policyAt(i) },
    );
    endorsedBy = counted.orgs.map((org) => ({ org, jurisdiction: policy.entry.orgs.find((o) => o.name === org)?.jurisdiction ?? '?' }));
    met = counted.met;
    if (!met) {
      const eq = policy.entry.endorsementQuorum;
      problems.push(`endorsed by ${counted.orgs.length} organisations in ${counted.jurisdictions.length} jurisdictions; the quorum is ${eq.orgs} in ${eq.jurisdictions}`);
    } else {
      try {
        publishedAt = await publication(sdk, x, counted.quorumIndex!);
        if (publishedAt === undefined) problems.push('not published: no checkpoint cosigned by a witness quorum holds it and its endorsements yet');
      } catch (err) {
        problems.push(`published checkpoint: ${msg(err)}`);
      }
    }
  }
  const required = policy === undefined ? Infinity : sdk.policy.releaseNoticeRequired(policy.entry, e.added);
  const noticed = publishedAt !== undefined && (e.added === 0 || sdk.policy.isNoticed(publishedAt, x.aliveAtF, required));
  return {
    sequence: e.sequence,
    index: r.index,
    leaf: sdk.bytes.toBase64(r.signed.leafHash),
    root: sdk.bytes.toBase64(e.database.root),
    rootHex: sdk.bytes.toHex(e.database.root),
    count: e.database.count,
    added: e.added,
    removed: e.removed,
    expires: e.expires,
    endorsedBy,
    endorsementQuorumMet: met,
    publishedAt,
    noticed,
    expired: e.expires <= x.now,
    claimed: false,
    problems,
  };
}

/**
 * seenBy(P) for P = GET /checkpoint/published?entry=<quorumIndex>: signed by the log key and
 * cosigned by a witness quorum of the policy in force at its size, holding the entry, and no
 * larger than the verified tree, whose hashes give P's root (so P is consistent with it).
 */
async function publication(sdk: Sdk, x: ReleaseContext, quorumIndex: number): Promise<number | undefined> {
  const note = await x.client.published(quorumIndex);
  if (note === null) return undefined;
  const size = sdk.checkpoint.parseCheckpoint(sdk.note.parseNote(note).text).size;
  if (size <= quorumIndex) throw new Error(`checkpoint of size ${size} does not hold entry ${quorumIndex}`);
  if (size > x.tree.size) return undefined; // newer than the verified checkpoint: verify again later
  const p = x.chain.policyAt(size) ?? x.chain.policyAt(size - 1);
  if (p === undefined) throw new Error('no policy in force');
  const opened = openUnder(sdk, note, p, x.origin, x.now);
  if (!opened.met) throw new Error('not cosigned by a witness quorum');
  const root = await sdk.merkle.treeHash(size, x.reader);
  if (!sdk.bytes.equalBytes(root, opened.root)) throw new Error(`its root is not the verified tree's root at size ${size}: the log forked`);
  return sdk.cosignature.seenBy(opened.cosigs, p.entry.witnessQuorum);
}

/**
 * From which index a policy that needs notice governs, or undefined (not proven: it does not
 * govern). N = GET /checkpoint/noticed?policy=<index> and P = /checkpoint/published?entry=<its
 * quorum index>, both signed by the predecessor's log key, cosigned by a witness quorum of its
 * witnesses, within the verified tree (roots recomputed from its hashes: consistent with it);
 * noticed when aliveAt(N) − seenBy(P) ≥ the predecessor's notice-period; governs from N's size.
 */
async function noticeFrom(
  sdk: Sdk,
  client: clientM.LogClient,
  reader: HashReader,
  tree: { size: number; root: Uint8Array },
  predecessor: ChainPolicy,
  pending: { index: number; quorumIndex: number },
  origin: string,
  now: number,
): Promise<number | undefined> {
  const opened = async (note: Uint8Array, what: string) => {
    const c = openUnder(sdk, note, predecessor, origin, now);
    // Not cosigned by a quorum, too small, or newer than the verified tree: proves nothing (yet).
    if (!c.met || c.size <= pending.quorumIndex || c.size > tree.size) return undefined;
    const root = await sdk.merkle.treeHash(c.size, reader);
    if (!sdk.bytes.equalBytes(root, c.root)) throw new Error(`${what}'s root is not the verified tree's root at size ${c.size}: the log forked`);
    return c;
  };
  let nNote: Uint8Array;
  try {
    nNote = await sdk.client.readCapped(await client.request(`/checkpoint/noticed?policy=${pending.index}`), sdk.client.MAX_CHECKPOINT_BYTES, 'notice checkpoint');
  } catch (err) {
    if (err instanceof sdk.client.ClientError && err.status === 404) return undefined;
    throw err;
  }
  const pNote = await client.published(pending.quorumIndex);
  if (pNote === null) return undefined;
  const p = await opened(pNote, 'its published checkpoint');
  const n = await opened(nNote, 'its notice checkpoint');
  if (p === undefined || n === undefined) return undefined;
  const k = predecessor.entry.witnessQuorum;
  const seen = sdk.cosignature.seenBy(p.cosigs, k);
  const alive = sdk.cosignature.aliveAt(n.cosigs, k);
  if (seen === undefined || alive === undefined) return undefined;
  return sdk.policy.noticedFromCheckpoints({ quorumIndex: pending.quorumIndex, noticePeriod: predecessor.entry.noticePeriod }, { size: p.size, seenBy: seen }, { size: n.size, aliveAt: alive });
}

/** A root as pasted: 64 hex or 44 base64 characters. */
export function parseRoot(sdk: Sdk, s: string): Uint8Array | undefined {
  const t = s.trim().replace(/ /g, '+');
  try {
    if (/^[0-9a-fA-F]{64}$/.test(t)) return sdk.bytes.fromHex(t.toLowerCase(), 32);
    return sdk.bytes.fromBase64(t, 32);
  } catch {
    return undefined;
  }
}

export interface RootAnswer {
  /** 'verified': the root of a release that passed every check; 'unverified': of a release with problems. */
  readonly outcome: 'not-a-root' | 'unknown' | 'verified' | 'unverified';
  readonly release: ReleaseResult | undefined;
}

/** Is `root` the database root of a release in the verified report? */
export function checkRoot(sdk: Sdk, report: VerifyReport, root: string): RootAnswer {
  const r = parseRoot(sdk, root);
  if (r === undefined) return { outcome: 'not-a-root', release: undefined };
  const b64 = sdk.bytes.toBase64(r);
  const hit = report.releases.find((x) => x.root === b64);
  if (hit === undefined) return { outcome: 'unknown', release: undefined };
  return { outcome: hit.problems.length === 0 ? 'verified' : 'unverified', release: hit };
}
