// The release bundle: everything a device needs to accept a database offline
// (DESIGN.md "Device acceptance"), as one JSON document.
//
//   GET /release/<n>/bundle, /release/latest/bundle          application/vnd.concord.bundle.v1+json
//
//   {
//     "mediaType": "application/vnd.concord.bundle.v1+json",
//     "checkpoint": "<F: checkpoint note with witness cosignatures>",
//     "published": {"checkpoint": "<P note with cosignatures>", "consistency": ["<b64 hash>", …]},
//     "release": {"entry": "<signed entry note>", "proof": "<c2sp.org/tlog-proof@v1 text>"},
//     "endorsements": [{"entry": …, "proof": …}, …],            endorsements of the release
//     "policies": [                                              the chain from the anchor
//       {"entry": …, "proof": …,                                 (sequence 1) to the newest
//        "endorsements": [{"entry": …, "proof": …}, …],          policy in force at F (the
//        "published": {"checkpoint": …, "consistency": […]},     release's or later), one per
//        "noticed": {"checkpoint": …, "consistency": […]}}       sequence, each with the
//                                                                 endorsements that brought it
//                                                                 into force
//     ],
//     "database": {"blob": "sha256:<hex>"}                       the release's blob
//   }
//
// A policy ≥ 2 that needs notice (not removal-only) carries its own P ("published", cosigned
// under its predecessor) and the checkpoint N that proves the notice ("noticed"), each with
// its consistency proof to F.
//
// Every proof is a tlog-proof whose checkpoint is F, byte for byte (so each one
// also verifies on its own with any tlog-proof tool). Consistency proofs go
// from the named checkpoint to F (RFC 9162 §2.1.4; empty when the sizes are equal).
// Strings are the notes' exact UTF-8 text.
//
// Strict: exactly these keys (`published`/`noticed` optional on policies only),
// the media type, sizes capped (MAX_BUNDLE_SIZE bytes, MAX_ENDORSEMENTS per
// subject, MAX_POLICIES), every entry a canonical signed entry of the right
// type, every proof canonical, every proof's checkpoint = F. parseBundle returns
// a whole value or throws BundleError; it checks no signature (device.ts does).
//
// buildBundle assembles a bundle from an injected BundleSource (the log
// server's storage; a test's in-memory log). It trusts its source and verifies
// nothing: a device verifies everything it is handed.

import { EncodingError, equalBytes, fromBase64, fromHex, fromUtf8, toBase64, toHex, utf8 } from './bytes.js';
import { CheckpointError, parseCheckpoint } from './checkpoint.js';
import type { Checkpoint } from './checkpoint.js';
import { EntryError, parseSignedEntry } from './entries.js';
import type { PolicyEntry, SignedEntry } from './entries.js';
import { ConcordError } from './errors.js';
import { HASH_SIZE, proveConsistency, proveInclusion } from './merkle.js';
import type { Hash, HashReader } from './merkle.js';
import { MAX_NOTE_SIZE, NoteError, parseNote } from './note.js';
import { countEndorsements, isRemovalOnly } from './policy.js';
import type { IndexedEntry } from './policy.js';
import { MAX_PROOF_HASHES, ProofError, formatProof, parseProof } from './proof.js';
import type { TlogProof } from './proof.js';

export const BUNDLE_MEDIA_TYPE = 'application/vnd.concord.bundle.v1+json';

/** Largest bundle, in bytes. A typical bundle is a few tens of KB. */
export const MAX_BUNDLE_SIZE = 8 << 20;
/** Most endorsements carried for one subject (release or policy). */
export const MAX_ENDORSEMENTS = 256;
/** Most policies in the chain from the anchor. */
export const MAX_POLICIES = 1024;

export type BundleErrorCode = 'too-large' | 'malformed-bundle' | 'bad-media-type';

/**
 * - too-large: above MAX_BUNDLE_SIZE bytes, MAX_ENDORSEMENTS or MAX_POLICIES;
 * - malformed-bundle: not JSON of exactly the documented shape, a malformed entry, proof,
 *   note or hash, a proof against another checkpoint than F, an entry of the wrong type;
 * - bad-media-type: mediaType is not application/vnd.concord.bundle.v1+json.
 */
export class BundleError extends ConcordError<BundleErrorCode> {
  override readonly name = 'BundleError';
}

/** A log entry with its inclusion proof in F. */
export interface BundleEntry {
  entry: Uint8Array;
  proof: TlogProof;
}

/** A checkpoint (with cosignatures) and the consistency proof from it to F. */
export interface CheckpointLink {
  checkpoint: Uint8Array;
  consistency: Hash[];
}

export interface BundlePolicy extends BundleEntry {
  endorsements: BundleEntry[];
  published?: CheckpointLink;
  noticed?: CheckpointLink;
}

export interface Bundle {
  /** F, with cosignatures. */
  checkpoint: Uint8Array;
  /** P for the release, and P → F. */
  published: CheckpointLink;
  release: BundleEntry;
  endorsements: BundleEntry[];
  policies: BundlePolicy[];
  /** SHA-256 of the database blob (the release's `blob`). */
  database: { blob: Uint8Array };
}

/** A parsed entry of a bundle: its bytes parsed (structure only, no signature checked). */
export interface ParsedBundleEntry extends BundleEntry {
  signed: SignedEntry;
}

export interface ParsedBundlePolicy extends ParsedBundleEntry {
  endorsements: ParsedBundleEntry[];
  published?: CheckpointLink;
  noticed?: CheckpointLink;
}

export interface ParsedBundle extends Bundle {
  release: ParsedBundleEntry;
  endorsements: ParsedBundleEntry[];
  policies: ParsedBundlePolicy[];
  /** F's checkpoint text, parsed (unverified). */
  tree: Checkpoint;
}

function malformed(message: string, cause?: unknown): never {
  throw new BundleError('malformed-bundle', message, cause === undefined ? undefined : { cause });
}

// ---------------------------------------------------------------------------
// Format

function noteString(b: Uint8Array, what: string): string {
  try {
    parseNote(b);
    return fromUtf8(b);
  } catch (e) {
    if (e instanceof NoteError || e instanceof EncodingError) malformed(`${what}: ${e.message}`, e);
    throw e;
  }
}

function linkJson(l: CheckpointLink, what: string): { checkpoint: string; consistency: string[] } {
  if (!Array.isArray(l.consistency) || l.consistency.length > MAX_PROOF_HASHES) malformed(`${what}: too many consistency hashes`);
  return {
    checkpoint: noteString(l.checkpoint, `${what} checkpoint`),
    consistency: l.consistency.map((h) => {
      if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) malformed(`${what}: consistency hashes are 32 bytes`);
      return toBase64(h);
    }),
  };
}

function entryJson(e: BundleEntry, what: string): { entry: string; proof: string } {
  let proof: Uint8Array;
  try {
    proof = formatProof(e.proof);
  } catch (err) {
    if (err instanceof ProofError) malformed(`${what} proof: ${err.message}`, err);
    throw err;
  }
  try {
    return { entry: fromUtf8(e.entry), proof: fromUtf8(proof) };
  } catch (err) {
    malformed(`${what}: not UTF-8`, err);
  }
}

/** Encodes a bundle as JSON (keys in the documented order). Throws BundleError. */
export function formatBundle(b: Bundle): Uint8Array {
  const json = {
    mediaType: BUNDLE_MEDIA_TYPE,
    checkpoint: noteString(b.checkpoint, 'checkpoint'),
    published: linkJson(b.published, 'published'),
    release: entryJson(b.release, 'release'),
    endorsements: b.endorsements.map((e, i) => entryJson(e, `endorsement ${i}`)),
    policies: b.policies.map((p, i) => {
      const o: Record<string, unknown> = {
        ...entryJson(p, `policy ${i}`),
        endorsements: p.endorsements.map((e, j) => entryJson(e, `policy ${i} endorsement ${j}`)),
      };
      if (p.published !== undefined) o.published = linkJson(p.published, `policy ${i} published`);
      if (p.noticed !== undefined) o.noticed = linkJson(p.noticed, `policy ${i} noticed`);
      return o;
    }),
    database: { blob: `sha256:${toHex(b.database.blob)}` },
  };
  const out = utf8(JSON.stringify(json));
  if (out.length > MAX_BUNDLE_SIZE) throw new BundleError('too-large', `bundle would be ${out.length} bytes, above ${MAX_BUNDLE_SIZE}`);
  return out;
}

// ---------------------------------------------------------------------------
// Parse

type Json = Record<string, unknown>;

function obj(x: unknown, what: string, required: readonly string[], optional: readonly string[] = []): Json {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) malformed(`${what} must be an object`);
  const o = x as Json;
  for (const k of Object.keys(o)) {
    if (!required.includes(k) && !optional.includes(k)) malformed(`${what}: unknown key ${JSON.stringify(k.slice(0, 40))}`);
  }
  for (const k of required) if (!(k in o)) malformed(`${what}: missing ${k}`);
  return o;
}

function str(x: unknown, what: string): string {
  if (typeof x !== 'string') malformed(`${what} must be a string`);
  return x;
}

function arr(x: unknown, what: string, max: number): unknown[] {
  if (!Array.isArray(x)) malformed(`${what} must be an array`);
  if (x.length > max) throw new BundleError('too-large', `${what}: more than ${max} items`);
  return x;
}

function noteBytes(x: unknown, what: string): Uint8Array {
  const s = str(x, what);
  if (s.length > MAX_NOTE_SIZE) throw new BundleError('too-large', `${what} above ${MAX_NOTE_SIZE} bytes`);
  const b = utf8(s);
  try {
    parseNote(b);
  } catch (e) {
    if (e instanceof NoteError) malformed(`${what}: ${e.message}`, e);
    throw e;
  }
  return b;
}

function parseLink(x: unknown, what: string): CheckpointLink {
  const o = obj(x, what, ['checkpoint', 'consistency']);
  const checkpoint = noteBytes(o.checkpoint, `${what} checkpoint`);
  const consistency = arr(o.consistency, `${what} consistency`, MAX_PROOF_HASHES).map((h, i) => {
    try {
      return fromBase64(str(h, `${what} consistency ${i}`), HASH_SIZE);
    } catch (e) {
      if (e instanceof EncodingError) malformed(`${what} consistency ${i}: not base64 of 32 bytes`, e);
      throw e;
    }
  });
  return { checkpoint, consistency };
}


function parseItem(x: unknown, what: string, f: Uint8Array, type: SignedEntry['entry']['type'], extra: readonly string[] = []): { o: Json; item: ParsedBundleEntry } {
  const o = obj(x, what, ['entry', 'proof'], extra);
  const entry = utf8(str(o.entry, `${what} entry`));
  let signed: SignedEntry;
  try {
    signed = parseSignedEntry(entry);
  } catch (e) {
    if (e instanceof EntryError) malformed(`${what} entry: ${e.message}`, e);
    throw e;
  }
  if (signed.entry.type !== type) malformed(`${what} is a ${signed.entry.type} entry, want ${type}`);
  let proof: TlogProof;
  try {
    proof = parseProof(str(o.proof, `${what} proof`));
  } catch (e) {
    if (e instanceof ProofError) {
      if (e.code === 'too-large') throw new BundleError('too-large', `${what} proof: ${e.message}`, { cause: e });
      malformed(`${what} proof: ${e.message}`, e);
    }
    throw e;
  }
  if (!equalBytes(proof.checkpoint, f)) malformed(`${what} proof is not against the bundle's checkpoint`);
  return { o, item: { entry, proof, signed } };
}

/** Parses a bundle strictly (structure only, see the header). Throws BundleError only. */
export function parseBundle(input: Uint8Array): ParsedBundle {
  if (!(input instanceof Uint8Array)) malformed('bundle must be bytes');
  if (input.length > MAX_BUNDLE_SIZE) throw new BundleError('too-large', `bundle is ${input.length} bytes, above ${MAX_BUNDLE_SIZE}`);
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8(input));
  } catch (e) {
    malformed('bundle is not UTF-8 JSON', e);
  }
  const o = obj(json, 'bundle', ['mediaType', 'checkpoint', 'published', 'release', 'endorsements', 'policies', 'database']);
  if (o.mediaType !== BUNDLE_MEDIA_TYPE) throw new BundleError('bad-media-type', `mediaType must be ${BUNDLE_MEDIA_TYPE}`);
  const checkpoint = noteBytes(o.checkpoint, 'checkpoint');
  let tree: Checkpoint;
  try {
    tree = parseCheckpoint(parseNote(checkpoint).text);
  } catch (e) {
    if (e instanceof CheckpointError || e instanceof NoteError) malformed(`checkpoint: ${e.message}`, e);
    throw e;
  }
  const published = parseLink(o.published, 'published');
  const release = parseItem(o.release, 'release', checkpoint, 'release').item;
  const endorsements = arr(o.endorsements, 'endorsements', MAX_ENDORSEMENTS).map(
    (x, i) => parseItem(x, `endorsement ${i}`, checkpoint, 'endorsement').item,
  );
  const policies = arr(o.policies, 'policies', MAX_POLICIES).map((x, i): ParsedBundlePolicy => {
    const { o: po, item } = parseItem(x, `policy ${i}`, checkpoint, 'policy', ['endorsements', 'published', 'noticed']);
    if (!('endorsements' in po)) malformed(`policy ${i}: missing endorsements`);
    const p: ParsedBundlePolicy = {
      ...item,
      endorsements: arr(po.endorsements, `policy ${i} endorsements`, MAX_ENDORSEMENTS).map(
        (y, j) => parseItem(y, `policy ${i} endorsement ${j}`, checkpoint, 'endorsement').item,
      ),
    };
    if (po.published !== undefined) p.published = parseLink(po.published, `policy ${i} published`);
    if (po.noticed !== undefined) p.noticed = parseLink(po.noticed, `policy ${i} noticed`);
    return p;
  });
  const db = obj(o.database, 'database', ['blob']);
  const blobName = str(db.blob, 'database blob');
  if (!blobName.startsWith('sha256:')) malformed('database blob must be sha256:<hex>');
  let blob: Uint8Array;
  try {
    blob = fromHex(blobName.slice(7), 32);
  } catch (e) {
    malformed('database blob must be sha256:<64 lowercase hex>', e);
  }
  return { checkpoint, tree, published, release, endorsements, policies, database: { blob } };
}

// ---------------------------------------------------------------------------
// Build

/** Where a bundle's entries are in the log (indexes, all below F's size). */
export interface BundlePlan {
  release: number;
  /** Endorsements of the release (any order; at most MAX_ENDORSEMENTS). */
  endorsements: number[];
  /**
   * The policy chain from the anchor to the newest policy in force at F (at least up to the
   * release's policy), each with the endorsements that brought it into force.
   */
  policies: { index: number; endorsements: number[] }[];
}

/**
 * What buildBundle reads. Checkpoint notes are returned WITH the stored
 * witness cosignatures appended.
 */
export interface BundleSource {
  /** F: the newest checkpoint cosigned by a witness quorum of the policy in force, or null if none. */
  latestCheckpoint(): Promise<Uint8Array | null>;
  /** The earliest checkpoint of size ≥ minSize cosigned by a quorum of `witnesses`' policy, or null. */
  earliestCheckpoint(minSize: number, witnesses: PolicyEntry): Promise<Uint8Array | null>;
  /**
   * For a policy that needs notice: its notice checkpoint N (policy.ts, NoticedFrom: the one
   * checkpoint the log designates, whose size is where the policy took force), of size ≤
   * maxSize, cosigned by a quorum of `predecessor`'s witnesses with aliveAt(N) −
   * seenBy(published) ≥ predecessor's notice-period (devices let it govern from max(index after
   * its endorsement quorum, N's size), so any other checkpoint would move its start); or null
   * (then the bundle carries no `noticed` link and devices treat the policy as not noticed).
   */
  noticeCheckpoint?(q: {
    policy: { index: number; leaf: Uint8Array };
    published: Uint8Array;
    predecessor: PolicyEntry;
    maxSize: number;
  }): Promise<Uint8Array | null>;
  /** The entries a bundle of release `which` uses, in the tree of `size` entries; null if there is no such release. */
  locate(which: number | 'latest', size: number): Promise<BundlePlan | null>;
  entries(indexes: readonly number[]): Promise<Uint8Array[]>;
  /** Stored hashes of the tree of `size` entries. */
  hashReader(size: number): HashReader;
}

export type BuildErrorCode = 'no-checkpoint' | 'no-release' | 'not-published' | 'bad-source';

/** buildBundle cannot build: nothing cosigned yet, no such release, or no quorum checkpoint holds it yet. */
export class BuildError extends ConcordError<BuildErrorCode> {
  override readonly name = 'BuildError';
}

function treeOf(note: Uint8Array): Checkpoint {
  try {
    return parseCheckpoint(parseNote(note).text);
  } catch (e) {
    throw new BuildError('bad-source', `source checkpoint: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/**
 * Assembles the bundle of release `which` against the newest quorum-cosigned
 * checkpoint F. The release's P is the earliest checkpoint cosigned by a quorum
 * of the release policy's witnesses that holds the release and the
 * endorsement completing its quorum (countEndorsements, in index order); a
 * policy's P likewise under its predecessor. Throws BuildError.
 */
export async function buildBundle(source: BundleSource, which: number | 'latest'): Promise<Uint8Array> {
  const fNote = await source.latestCheckpoint();
  if (fNote === null) throw new BuildError('no-checkpoint', 'no checkpoint is cosigned by a witness quorum yet');
  const f = treeOf(fNote);
  const plan = await source.locate(which, f.size);
  if (plan === null) throw new BuildError('no-release', `no release ${String(which)} in the tree of ${f.size} entries`);
  const reader = source.hashReader(f.size);
  const all = [plan.release, ...plan.endorsements, ...plan.policies.flatMap((p) => [p.index, ...p.endorsements])];
  if (all.some((i) => !Number.isSafeInteger(i) || i < 0 || i >= f.size)) throw new BuildError('bad-source', 'plan names entries beyond F');
  const bytes = await source.entries(all);
  const byIndex = new Map<number, Uint8Array>();
  all.forEach((i, k) => byIndex.set(i, bytes[k]!));
  const parse = (i: number): IndexedEntry => {
    try {
      return { index: i, signed: parseSignedEntry(byIndex.get(i)!) };
    } catch (e) {
      throw new BuildError('bad-source', `entry ${i}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  };
  const item = async (i: number): Promise<BundleEntry> => ({
    entry: byIndex.get(i)!,
    proof: { index: i, proof: await proveInclusion(f.size, i, reader), checkpoint: fNote },
  });
  const link = async (note: Uint8Array): Promise<CheckpointLink> => ({
    checkpoint: note,
    consistency: await proveConsistency(treeOf(note).size, f.size, reader),
  });
  const earliest = async (minSize: number, witnesses: PolicyEntry, what: string): Promise<CheckpointLink> => {
    const note = await source.earliestCheckpoint(minSize, witnesses);
    if (note === null || treeOf(note).size > f.size) throw new BuildError('not-published', `${what}: no quorum checkpoint of size ≥ ${minSize} up to F`);
    return link(note);
  };

  const policies: BundlePolicy[] = [];
  let prev: PolicyEntry | undefined;
  const policyEntries: { entry: PolicyEntry; leaf: Uint8Array }[] = [];
  for (const pp of plan.policies) {
    const ie = parse(pp.index);
    if (ie.signed.entry.type !== 'policy') throw new BuildError('bad-source', `entry ${pp.index} is not a policy`);
    const bp: BundlePolicy = { ...(await item(pp.index)), endorsements: await Promise.all(pp.endorsements.map(item)) };
    if (prev !== undefined && !isRemovalOnly(prev, ie.signed.entry)) {
      const counted = countEndorsements(
        { kind: 'policy', sequence: ie.signed.entry.sequence, leaf: ie.signed.leafHash, index: pp.index },
        prev,
        pp.endorsements.map(parse),
      );
      if (counted.quorumIndex !== undefined) {
        const published = await source.earliestCheckpoint(counted.quorumIndex + 1, prev);
        if (published !== null && treeOf(published).size <= f.size) {
          bp.published = await link(published);
          const n = await source.noticeCheckpoint?.({ policy: { index: pp.index, leaf: ie.signed.leafHash }, published, predecessor: prev, maxSize: f.size });
          if (n !== null && n !== undefined && treeOf(n).size <= f.size) bp.noticed = await link(n);
        }
      }
    }
    policies.push(bp);
    prev = ie.signed.entry;
    policyEntries.push({ entry: ie.signed.entry, leaf: ie.signed.leafHash });
  }

  const rel = parse(plan.release);
  const r = rel.signed.entry;
  if (r.type !== 'release') throw new BuildError('bad-source', `entry ${plan.release} is not a release`);
  const policy = policyEntries.find((p) => toHex(p.leaf) === toHex(r.policy))?.entry;
  if (policy === undefined) throw new BuildError('bad-source', `release ${r.sequence}'s policy is not in the plan`);
  const counted = countEndorsements(
    { kind: 'release', sequence: r.sequence, leaf: rel.signed.leafHash, index: plan.release },
    policy,
    plan.endorsements.map(parse),
  );
  const minSize = Math.max(plan.release, counted.quorumIndex ?? plan.release) + 1;
  const bundle: Bundle = {
    checkpoint: fNote,
    published: await earliest(minSize, policy, `release ${r.sequence}`),
    release: await item(plan.release),
    endorsements: await Promise.all([...plan.endorsements].sort((a, b) => a - b).map(item)),
    policies,
    database: { blob: r.blob },
  };
  return formatBundle(bundle);
}
