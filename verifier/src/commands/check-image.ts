// concord check-image, concord verify-proof: is an image hash in the current release — with a
// proof anyone can check offline.
//
//   concord check-image --log URL --trust FILE --key AUDITOR_SKEY_FILE --hash HEX [--hash HEX …]
//                       [--out DIR] [--json]
//     1. opens the log (log-view.ts: checkpoint under the policy in force, every entry
//        authenticated) and takes its latest release and that release's policy;
//     2. blinds each raw hash (oprf.blindingInput(hash-algorithm, hash), RFC 9497 Blind) and
//        asks POST /oprf/evaluate, signed by the auditor key (an `auditor` of the policy in
//        force; the operator counts every query against the key's daily oprf-limit);
//     3. verifies the batch DLEQ proof against the release policy's blinding-key and unblinds
//        to the element k·H(x) — an operator that evaluated with another key, or lied about
//        one element, is caught here;
//     4. fetches the release's database blob (checked against its digest, root and count) and
//        proves each element in it (membership) or not in it (non-membership: its two
//        neighbours, adjacent and straddling it).
//     Writes one proof file per hash (DIR/<hash>.proof.json; default: the current directory)
//     and prints in / not in for each. Exit 0 when every hash was checked and every proof
//     verified (whatever the answers), 1 otherwise.
//
//   concord verify-proof --proof FILE (--trust FILE [--log URL] | --root B64 --count N) [--json]
//     Checks a proof file: the element proof against the release's database root and count,
//     the release entry's inclusion (its c2sp.org/tlog-proof) in a checkpoint signed by the
//     anchor's log key and cosigned by its witness quorum (offline, --trust alone), or — with
//     --log — that the log's authenticated entry at that index is that release (needed after a
//     key rotation). With --root/--count only the element proof is checked. Exit 0 when it
//     verifies; the result ("in" or "not in") is printed either way.
//
// The proof file (JSON, mediaType application/vnd.concord.element-proof.v1+json):
//   {"mediaType", "origin", "hashAlgorithm", "hash": hex raw hash, "element": b64 k·H(x),
//    "member": bool, "proof": membership or non-membership proof (database.ts JSON),
//    "release": {"sequence", "index", "entry": b64 release entry bytes,
//                "inclusion": c2sp.org/tlog-proof text}}
// The raw hash is in the file because the person checking it needs to know which image it is
// about; the element alone does not say (only the operator can compute k·H(x)).
//
// Limits, printed with every answer: matching is exact-hash only (one flipped bit is another
// element, so "not in" says nothing about near-duplicates), and every query is counted by the
// operator — who also learns the blinded elements' count, though not the hashes.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fromBase64, fromHex, fromUtf8, toBase64, toHex, utf8 } from '@concord/client-sdk/bytes';
import {
  DatabaseError,
  formatMembershipProof,
  formatNonMembershipProof,
  parseDatabase,
  parseMembershipProof,
  parseNonMembershipProof,
  proveMembership,
  proveNonMembership,
  verifyMembership,
  verifyNonMembership,
} from '@concord/client-sdk/database';
import { parseSignedEntry } from '@concord/client-sdk/entries';
import type { PolicyEntry, ReleaseEntry } from '@concord/client-sdk/entries';
import { proveInclusion } from '@concord/client-sdk/merkle';
import { newSigner } from '@concord/client-sdk/note';
import { MAX_BATCH, blind, blindingInput, formatEvaluateRequest, parseEvaluateResponse, verifyAndUnblind } from '@concord/client-sdk/oprf';
import { formatProof, parseProof, verifyProofAgainst } from '@concord/client-sdk/proof';
import { UsageError, parseArgs, required } from '../cli-common.js';
import type { CliIO, Command } from '../cli-common.js';
import { openLogView, readTrustFile, verifyCheckpointUnder } from '../log-view.js';
import type { LogView } from '../log-view.js';

export const PROOF_MEDIA_TYPE = 'application/vnd.concord.element-proof.v1+json';
const MAX_PROOF_FILE = 1 << 20;

export const CAVEAT =
  'matching is exact-hash only: one flipped bit is a different element, so "not in" says nothing about near-duplicate images; ' +
  'every query is counted by the operator against this auditor key (operator-reported at /oprf/stats)';

export interface ElementProofFile {
  readonly mediaType: typeof PROOF_MEDIA_TYPE;
  readonly origin: string;
  readonly hashAlgorithm: string;
  readonly hash: string;
  readonly element: string;
  readonly member: boolean;
  readonly proof: unknown;
  readonly release: { readonly sequence: number; readonly index: number; readonly entry: string; readonly inclusion: string };
}

export interface ImageResult {
  readonly hash: string;
  readonly element: string;
  readonly member: boolean;
  readonly file: ElementProofFile;
}

/** The latest release in the view with its policy. */
function latestRelease(view: LogView): { index: number; entry: ReleaseEntry; bytes: Uint8Array; policy: PolicyEntry } {
  for (let i = view.entries.length - 1; i >= 0; i--) {
    let e;
    try {
      e = view.parsed(i).entry;
    } catch {
      continue;
    }
    if (e.type === 'release') {
      const p = view.chain.policyAt(i);
      if (p === undefined) throw new Error(`release at entry ${i} precedes every policy`);
      return { index: i, entry: e, bytes: view.entries[i]!, policy: p.entry };
    }
  }
  throw new Error('the log has no release yet');
}

/**
 * Checks raw hashes against the latest release of an opened log: VOPRF through the operator
 * (DLEQ verified against the release policy's blinding-key), then a membership or
 * non-membership proof for each element. Throws on any failed verification.
 */
export async function checkImages(view: LogView, auditorSkey: string, hashes: readonly Uint8Array[]): Promise<ImageResult[]> {
  const rel = latestRelease(view);
  const p = rel.policy;
  const signer = newSigner(auditorSkey);
  const current = view.policy.entry;
  if (!current.auditors.some((a) => a.name === signer.name) && !current.orgs.some((o) => o.name === signer.name)) {
    throw new Error(`key ${signer.name} is not an auditor (or org) of the policy in force: the operator will refuse it`);
  }
  // The release's database: its blob by digest, then its root and count as the entry says.
  const db = await view.client.blob(rel.entry.blob, 32 * rel.entry.database.count + 1);
  const summary = parseDatabase(db);
  if (summary.count !== rel.entry.database.count || toBase64(summary.root) !== toBase64(rel.entry.database.root)) {
    throw new Error(`the database blob of release ${rel.entry.sequence} does not have its entry's root and count`);
  }
  const inclusion = formatProof({ index: rel.index, proof: await proveInclusion(view.head.tree.size, rel.index, view.reader), checkpoint: view.head.note });

  const out: ImageResult[] = [];
  for (let start = 0; start < hashes.length; start += MAX_BATCH) {
    const batch = hashes.slice(start, start + MAX_BATCH);
    const blinded = batch.map((h) => blind(blindingInput(p.hashAlgorithm, h)));
    const body = await view.client.oprfEvaluate(view.origin, formatEvaluateRequest(blinded.map((b) => b.blinded)), signer);
    const response = parseEvaluateResponse(body, batch.length);
    // Nothing is unblinded unless the whole batch's DLEQ proof verifies against the policy's key.
    const elements = verifyAndUnblind(p.blindingKey, blinded.map((b) => b.blind), blinded.map((b) => b.blinded), response);
    batch.forEach((h, i) => {
      const element = elements[i]!;
      let member: boolean;
      let proofJson: string;
      try {
        const m = proveMembership(db, element);
        verifyMembership(summary.root, summary.count, element, m);
        member = true;
        proofJson = formatMembershipProof(m);
      } catch (err) {
        if (!(err instanceof DatabaseError) || err.code !== 'absent') throw err;
        const n = proveNonMembership(db, element);
        verifyNonMembership(summary.root, summary.count, element, n);
        member = false;
        proofJson = formatNonMembershipProof(n);
      }
      const file: ElementProofFile = {
        mediaType: PROOF_MEDIA_TYPE,
        origin: view.origin,
        hashAlgorithm: p.hashAlgorithm,
        hash: toHex(h),
        element: toBase64(element),
        member,
        proof: JSON.parse(proofJson) as unknown,
        release: { sequence: rel.entry.sequence, index: rel.index, entry: toBase64(rel.bytes), inclusion: fromUtf8(inclusion) },
      };
      out.push({ hash: toHex(h), element: toBase64(element), member, file });
    });
  }
  return out;
}

export type ProofVerification = { member: boolean; release: number | undefined; checked: string[] };

/**
 * Verifies a proof file. `against`: the trust anchor (offline: the inclusion proof's checkpoint
 * under the anchor's log key and witness quorum), an opened log view (the entry at the index is
 * the release), or a bare root and count (the element proof only). Throws on failure.
 */
export function verifyElementProof(
  bytes: Uint8Array,
  against: { trust: ReturnType<typeof readTrustFile>; now: number; view?: LogView } | { root: Uint8Array; count: number },
): ProofVerification {
  if (bytes.length > MAX_PROOF_FILE) throw new Error('proof file too large');
  const j = JSON.parse(fromUtf8(bytes)) as Partial<ElementProofFile>;
  if (j.mediaType !== PROOF_MEDIA_TYPE) throw new Error(`not a ${PROOF_MEDIA_TYPE} document`);
  if (typeof j.member !== 'boolean' || typeof j.element !== 'string') throw new Error('proof file: member and element are required');
  const element = fromBase64(j.element, 32);
  const checked: string[] = [];
  let root: Uint8Array;
  let count: number;
  let release: number | undefined;
  if ('root' in against) {
    root = against.root;
    count = against.count;
  } else {
    const r = j.release;
    if (r === undefined || typeof r.entry !== 'string' || typeof r.inclusion !== 'string' || typeof r.index !== 'number') throw new Error('proof file: release is required');
    const signed = parseSignedEntry(fromBase64(r.entry));
    if (signed.entry.type !== 'release') throw new Error('proof file: release.entry is not a release entry');
    if (j.origin !== against.trust.origin) throw new Error(`proof file is for log ${String(j.origin)}, the trust anchor for ${against.trust.origin}`);
    if (against.view !== undefined) {
      const at = against.view.entries[r.index];
      if (at === undefined || toBase64(at) !== r.entry) throw new Error(`entry ${r.index} of the log is not this release`);
      checked.push(`release ${signed.entry.sequence} is entry ${r.index} of the log, authenticated against its checkpoint of size ${against.view.head.tree.size}`);
    } else {
      const tp = parseProof(utf8(r.inclusion));
      if (tp.index !== r.index) throw new Error('proof file: inclusion index differs from release.index');
      const cp = verifyCheckpointUnder(tp.checkpoint, against.trust.policy, against.trust.origin, against.now);
      verifyProofAgainst(tp, signed.leafHash, cp.tree);
      checked.push(
        `release ${signed.entry.sequence} is entry ${r.index} of a checkpoint of size ${cp.tree.size} signed by the anchor's log key and cosigned by ${new Set(cp.cosignatures.map((c) => c.witness)).size} witnesses (alive at ${cp.aliveAt})`,
      );
    }
    root = signed.entry.database.root;
    count = signed.entry.database.count;
    release = signed.entry.sequence;
  }
  const proofText = JSON.stringify(j.proof);
  if (j.member) verifyMembership(root, count, element, parseMembershipProof(proofText));
  else verifyNonMembership(root, count, element, parseNonMembershipProof(proofText));
  checked.push(`the element is ${j.member ? 'in' : 'not in'} the database with root ${toBase64(root)} and ${count} elements`);
  return { member: j.member, release, checked };
}

function readKeyFile(file: string): string {
  const text = readFileSync(file, 'utf8').trim();
  if (!text.startsWith('PRIVATE+KEY+')) throw new UsageError(`${file} is not a signer key file (PRIVATE+KEY+…)`);
  return text;
}

export const commands: Record<string, Command> = {
  'check-image': {
    summary: 'is an image hash in the current release? (with a proof)',
    usage: `usage: concord check-image --log URL --trust FILE --key AUDITOR_SKEY_FILE --hash HEX [--hash HEX …] [--out DIR] [--json]

  --key FILE   the auditor's signer key (an auditor line of the policy in force)
  --hash HEX   a raw perceptual hash (the policy's hash-algorithm, e.g. pdq-256 = 32 bytes)
  --out DIR    where to write <hash>.proof.json (default: the current directory)

Note: ${CAVEAT}.`,
    run: async (args: readonly string[], io: CliIO): Promise<number> => {
      const a = parseArgs(args, { values: ['log', 'trust', 'key', 'out'], multi: ['hash'], flags: ['json'] });
      const url = required(a, 'log');
      const trust = readTrustFile(path.resolve(io.cwd, required(a, 'trust')));
      const skey = readKeyFile(path.resolve(io.cwd, required(a, 'key')));
      const hashes = a.multi.hash ?? [];
      if (hashes.length === 0) throw new UsageError('at least one --hash is required');
      const raw = hashes.map((h) => {
        try {
          return fromHex(h.toLowerCase());
        } catch {
          throw new UsageError(`--hash ${JSON.stringify(h)} is not hex`);
        }
      });
      const outDir = path.resolve(io.cwd, a.values.out ?? '.');
      const view = await openLogView({ url, trust, now: io.now(), fetch: io.fetch });
      const results = await checkImages(view, skey, raw);
      mkdirSync(outDir, { recursive: true });
      const files = results.map((r) => {
        const f = path.join(outDir, `${r.hash}.proof.json`);
        writeFileSync(f, JSON.stringify(r.file, null, 2) + '\n');
        return f;
      });
      const rel = results[0]!.file.release;
      if (a.flags.json === true) {
        io.stdout(
          JSON.stringify({ origin: view.origin, release: rel.sequence, checkpoint: view.head.tree.size, note: CAVEAT, results: results.map((r, i) => ({ hash: r.hash, member: r.member, element: r.element, proofFile: files[i] })) }, null, 2) + '\n',
        );
      } else {
        const lines = [`release ${rel.sequence} of ${view.origin} (checkpoint of ${view.head.tree.size} entries); the operator's evaluations verified against the policy's blinding-key`];
        results.forEach((r, i) => lines.push(`${r.hash}: ${r.member ? 'IN the database' : 'NOT in the database'} — proof: ${files[i]}`));
        lines.push(`note: ${CAVEAT}`);
        io.stdout(lines.join('\n') + '\n');
      }
      return 0;
    },
  },
  'verify-proof': {
    summary: 'check a check-image proof offline',
    usage: `usage: concord verify-proof --proof FILE (--trust FILE [--log URL] | --root B64 --count N) [--json]

  --trust FILE   check the release's inclusion under the anchor's log key and witnesses (offline)
  --log URL      instead, check that the log's authenticated entry is this release (after key rotations)
  --root, --count  check only the element proof against this database root and count`,
    run: async (args: readonly string[], io: CliIO): Promise<number> => {
      const a = parseArgs(args, { values: ['proof', 'trust', 'log', 'root', 'count'], flags: ['json'] });
      const bytes = new Uint8Array(readFileSync(path.resolve(io.cwd, required(a, 'proof'))));
      let result: ProofVerification;
      try {
        if (a.values.trust !== undefined) {
          const trust = readTrustFile(path.resolve(io.cwd, a.values.trust));
          const view = a.values.log === undefined ? undefined : await openLogView({ url: a.values.log, trust, now: io.now(), fetch: io.fetch });
          result = verifyElementProof(bytes, { trust, now: io.now(), ...(view !== undefined ? { view } : {}) });
        } else {
          const root = fromBase64(required(a, 'root'), 32);
          const count = Number(required(a, 'count'));
          if (!Number.isSafeInteger(count) || count < 0) throw new UsageError('--count must be a non-negative integer');
          result = verifyElementProof(bytes, { root, count });
        }
      } catch (err) {
        if (err instanceof UsageError) throw err;
        const msg = err instanceof Error ? err.message : String(err);
        if (a.flags.json === true) io.stdout(JSON.stringify({ ok: false, error: msg }) + '\n');
        else io.stdout(`proof does NOT verify: ${msg}\n`);
        return 1;
      }
      if (a.flags.json === true) io.stdout(JSON.stringify({ ok: true, ...result, note: CAVEAT }, null, 2) + '\n');
      else io.stdout([`proof verifies: the element is ${result.member ? 'IN' : 'NOT in'} ${result.release !== undefined ? `release ${result.release}` : 'the database'}`, ...result.checked.map((c) => `  ✓ ${c}`), `note: ${CAVEAT}`].join('\n') + '\n');
      return 0;
    },
  },
};
