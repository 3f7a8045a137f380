// An authenticated view of a Concord log from the outside, starting from nothing but the log's
// URL and the pinned trust anchor: what `concord org …`, `audit`, `monitor` and `check-image`
// stand on.
//
// The trust file (`--trust FILE`) is the initial policy entry exactly as logged: the signed
// note bytes of policy 1 (`concord-log init` writes it as <data>/anchor.entry). DESIGN.md's
// trust anchor is "the initial policy entry's bytes plus the log origin"; the origin is the
// name of that policy's `log` key (DESIGN.md "Keys": the log key is named after the origin), so
// one file carries both and they cannot disagree.
//
// openLogView:
//   1. fetches /checkpoint (unverified bytes) and opens it with the log key of policy 1 and
//      checks policy 1's witness quorum on its cosignatures;
//   2. reads every entry [0, size) through tiles authenticated against that root, checking
//      that entry 0 is the anchor itself;
//   3. replays the policy chain (client-sdk PolicyChain, anchored at the trust file's leaf);
//   4. checks the checkpoint once more under the policy in force at its size (its log key and
//      witness quorum), so a chain that rotated the log key or the witnesses is honoured, and
//      a checkpoint that only the old keys signed is refused.
// If step 1 fails because the log key rotated, it is retried after replaying the chain from
// the unverified tree (bounded by MAX_UNVERIFIED_SIZE): the policies are authenticated by their
// own signatures and endorsement quorums from the anchor, not by the checkpoint, and the
// checkpoint must then verify under the policy in force.
//
// Nothing here trusts the server: every byte used is authenticated against the checkpoint,
// whose signature and witness quorum are checked against keys the anchor vouches for.

import { readFileSync } from 'node:fs';
import { equalBytes } from '@concord/client-sdk/bytes';
import { CheckpointError, openCheckpoint, parseCheckpoint } from '@concord/client-sdk/checkpoint';
import type { SignedCheckpoint } from '@concord/client-sdk/checkpoint';
import { LogClient } from '@concord/client-sdk/client';
import type { Fetch, TileCache } from '@concord/client-sdk/client';
import { CosignatureError, aliveAt, newCosignatureVerifier, seenBy, verifyCosignatures } from '@concord/client-sdk/cosignature';
import type { WitnessCosignature } from '@concord/client-sdk/cosignature';
import { EntryError, parseSignedEntry } from '@concord/client-sdk/entries';
import type { PolicyEntry, SignedEntry } from '@concord/client-sdk/entries';
import { ConcordError } from '@concord/client-sdk/errors';
import type { HashReader } from '@concord/client-sdk/merkle';
import { NoteError, newVerifier, parseNote } from '@concord/client-sdk/note';
import type { Ed25519Verify } from '@concord/client-sdk/note';
import { PolicyChain, PolicyError, validatePolicy, verifyEntryAuthor } from '@concord/client-sdk/policy';
import type { ChainPolicy, NoticedFrom } from '@concord/client-sdk/policy';
import { RemoteNotices } from '@concord/client-sdk/notice';
import type { TreeHead } from '@concord/client-sdk/tiles';

export type LogViewErrorCode =
  /** The trust file is not a valid, self-signed policy 1 entry. */
  | 'bad-trust'
  /** The checkpoint is not signed by the log key of the policy in force, or does not parse. */
  | 'bad-checkpoint'
  /** Fewer distinct witnesses of the policy in force cosigned the checkpoint than its quorum. */
  | 'witness-quorum'
  /** Entry 0 of the log is not the trust anchor. */
  | 'anchor-mismatch'
  /** An entry in the log does not parse. */
  | 'bad-entry'
  /** The log has no policy in force at the checkpoint's size. */
  | 'no-policy';

export class LogViewError extends ConcordError<LogViewErrorCode> {
  override readonly name = 'LogViewError';
}

/** Trees larger than this are not read before their checkpoint is authenticated. */
export const MAX_UNVERIFIED_SIZE = 10_000_000;

export interface Trust {
  /** The anchor entry's bytes (policy 1, as logged). */
  readonly bytes: Uint8Array;
  readonly signed: SignedEntry;
  readonly policy: PolicyEntry;
  /** RFC 6962 leaf hash of the anchor. */
  readonly leaf: Uint8Array;
  /** The log origin: the name of policy 1's log key. */
  readonly origin: string;
}

/** Parses and checks a trust anchor: a valid policy with sequence 1 signed by its own operator key. */
export function parseTrust(bytes: Uint8Array, opts?: { ed25519Verify?: Ed25519Verify }): Trust {
  let signed: SignedEntry;
  try {
    signed = parseSignedEntry(bytes);
  } catch (err) {
    throw new LogViewError('bad-trust', `trust anchor: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const e = signed.entry;
  if (e.type !== 'policy' || e.sequence !== 1 || e.previous !== null) {
    throw new LogViewError('bad-trust', 'the trust anchor must be a policy entry with sequence 1 and previous none');
  }
  let origin: string;
  try {
    origin = newVerifier(e.log).name;
    validatePolicy(e, origin);
    verifyEntryAuthor(signed, undefined, opts?.ed25519Verify === undefined ? undefined : { ed25519Verify: opts.ed25519Verify });
  } catch (err) {
    throw new LogViewError('bad-trust', `trust anchor: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return { bytes, signed, policy: e, leaf: signed.leafHash, origin };
}

export function readTrustFile(file: string): Trust {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(file));
  } catch (err) {
    throw new LogViewError('bad-trust', `cannot read trust file ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (bytes.length > 65_535) throw new LogViewError('bad-trust', `${file} is larger than any entry`);
  return parseTrust(bytes);
}

/** A checkpoint verified under a policy: log signature, and the policy's witness quorum. */
export interface VerifiedCheckpoint {
  readonly note: Uint8Array;
  readonly checkpoint: SignedCheckpoint;
  readonly tree: TreeHead;
  /** Counted cosignatures of the policy's witnesses (not dated > 300 s after now). */
  readonly cosignatures: WitnessCosignature[];
  readonly seenBy: number;
  readonly aliveAt: number;
}

/**
 * Verifies a checkpoint note under `policy`: signed by its log key (named `origin`), and
 * cosigned by ≥ witness-quorum distinct witnesses of the policy. Throws LogViewError.
 */
export function verifyCheckpointUnder(note: Uint8Array, policy: PolicyEntry, origin: string, now: number): VerifiedCheckpoint {
  let checkpoint: SignedCheckpoint;
  try {
    checkpoint = openCheckpoint(note, newVerifier(policy.log), origin);
  } catch (err) {
    if (err instanceof NoteError || err instanceof CheckpointError) {
      throw new LogViewError('bad-checkpoint', `checkpoint: ${err.message}`, { cause: err });
    }
    throw err;
  }
  let cosignatures: WitnessCosignature[];
  try {
    cosignatures = verifyCosignatures(
      note,
      policy.witnesses.map((w) => newCosignatureVerifier(w.vkey)),
      now,
    );
  } catch (err) {
    if (err instanceof CosignatureError) throw new LogViewError('bad-checkpoint', `checkpoint cosignatures: ${err.message}`, { cause: err });
    throw err;
  }
  const k = policy.witnessQuorum;
  const s = seenBy(cosignatures, k);
  const a = aliveAt(cosignatures, k);
  if (s === undefined || a === undefined) {
    const distinct = new Set(cosignatures.map((c) => c.witness)).size;
    throw new LogViewError('witness-quorum', `checkpoint ${checkpoint.checkpoint.size} is cosigned by ${distinct} of the policy's witnesses; its quorum is ${k}`);
  }
  return {
    note,
    checkpoint,
    tree: { size: checkpoint.checkpoint.size, root: checkpoint.checkpoint.root },
    cosignatures,
    seenBy: s,
    aliveAt: a,
  };
}

export interface LogView {
  readonly client: LogClient;
  readonly trust: Trust;
  readonly origin: string;
  /** The latest checkpoint, verified under the policy in force at its size. */
  readonly head: VerifiedCheckpoint;
  /** An authenticating hash reader for head.tree. */
  readonly reader: HashReader;
  /** Every entry [0, head.tree.size), authenticated; parsed lazily by `parsed(i)`. */
  readonly entries: readonly Uint8Array[];
  /** The policy chain replayed over the log. */
  readonly chain: PolicyChain;
  /** The policy in force at head.tree.size. */
  readonly policy: ChainPolicy;
  /** Entry i parsed (cached); throws LogViewError('bad-entry'). */
  parsed(i: number): SignedEntry;
}

export interface OpenLogViewOptions {
  readonly url: string;
  readonly trust: Trust;
  readonly fetch?: Fetch;
  /** Unix seconds. */
  readonly now: number;
  /** Authenticated tiles cache (e.g. a directory; see client.ts TileCache). */
  readonly cache?: TileCache;
  readonly noticedFrom?: NoticedFrom;
  /** Only entries [0, upTo) are read (default: all). */
  readonly upTo?: number;
  /** Progress callback while entries download. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** Reads entries [0, size) in chunks through authenticated bundles. */
async function readAll(client: LogClient, tree: TreeHead, reader: HashReader, end: number, onProgress?: (d: number, t: number) => void): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  const CHUNK = 256 * 64;
  for (let start = 0; start < end; start += CHUNK) {
    const stop = Math.min(end, start + CHUNK);
    out.push(...(await client.entries(tree, start, stop, reader)));
    onProgress?.(stop, end);
  }
  return out;
}

export async function openLogView(opts: OpenLogViewOptions): Promise<LogView> {
  const { trust, now } = opts;
  const origin = trust.origin;
  const client = new LogClient({ url: opts.url, ...(opts.fetch !== undefined ? { fetch: opts.fetch } : {}) });
  const note = await client.checkpoint();

  // 1. Under the anchor's keys (the common case: no rotation).
  let head: VerifiedCheckpoint | undefined;
  let tree: TreeHead;
  try {
    head = verifyCheckpointUnder(note, trust.policy, origin, now);
    tree = head.tree;
  } catch (err) {
    if (!(err instanceof LogViewError)) throw err;
    // Possibly rotated keys: read the unverified tree (bounded) and decide under the chain.
    let size: number;
    let root: Uint8Array;
    try {
      const cp = parseCheckpoint(parseNote(note).text);
      if (cp.origin !== origin) throw err;
      size = cp.size;
      root = cp.root;
    } catch {
      throw err;
    }
    if (size > MAX_UNVERIFIED_SIZE) throw err;
    tree = { size, root };
  }

  // 2. Every entry, authenticated against the tree.
  const reader = client.hashReader(tree, opts.cache);
  const end = Math.min(opts.upTo ?? tree.size, tree.size);
  const entries = await readAll(client, tree, reader, end, opts.onProgress);
  if (tree.size === 0 || entries.length === 0 || !equalBytes(entries[0]!, trust.bytes)) {
    throw new LogViewError('anchor-mismatch', 'entry 0 of the log is not the trust anchor');
  }

  // 3. The policy chain.
  // Successors that need notice take force from the notice checkpoint the log designates
  // (client-sdk notice.ts), unless the caller decides notices itself.
  const notices = new RemoteNotices({ client, origin, tree, reader, now });
  const chain = new PolicyChain({ origin, anchor: trust.leaf, noticedFrom: opts.noticedFrom ?? notices.noticedFrom });
  const parsedCache = new Map<number, SignedEntry>();
  const parsed = (i: number): SignedEntry => {
    let se = parsedCache.get(i);
    if (se === undefined) {
      const bytes = entries[i];
      if (bytes === undefined) throw new LogViewError('bad-entry', `entry ${i} is outside the view`);
      try {
        se = parseSignedEntry(bytes);
      } catch (err) {
        if (err instanceof EntryError) throw new LogViewError('bad-entry', `entry ${i}: ${err.message}`, { cause: err });
        throw err;
      }
      parsedCache.set(i, se);
    }
    return se;
  };
  for (let i = 0; i < entries.length; i++) {
    const se = tryParse(entries[i]!);
    if (se === undefined) continue; // audits report unparsable entries; the chain ignores them
    parsedCache.set(i, se);
    const e = se.entry;
    if (e.type === 'policy' || (e.type === 'endorsement' && e.subject.kind === 'policy')) chain.add(se, i);
  }
  if (opts.noticedFrom === undefined) await notices.resolve(chain);
  const policy = chain.policyAt(tree.size) ?? chain.current();
  if (policy === undefined) throw new LogViewError('no-policy', 'no policy is in force in this log');

  // 4. The checkpoint under the policy in force at its size.
  const verified = verifyCheckpointUnder(note, policy.entry, origin, now);
  if (head !== undefined && !equalBytes(verified.tree.root, head.tree.root)) throw new Error('bad math: one note, two roots');
  return { client, trust, origin, head: verified, reader, entries, chain, policy, parsed };
}

function tryParse(bytes: Uint8Array): SignedEntry | undefined {
  try {
    return parseSignedEntry(bytes);
  } catch (err) {
    if (err instanceof EntryError || err instanceof PolicyError) return undefined;
    throw err;
  }
}
