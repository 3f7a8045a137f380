// Concord policy rules as pure functions, shared by the server, auditors and
// devices: DESIGN.md "Witnesses", "Policy rules", "Which contributions a
// release uses", and the notice arithmetic of "Time, notice and freshness".
// The policy entry's wire format is in entries.ts:
//
//   concord/policy/v1
//   sequence <n>                   previous <leaf of policy n−1 | none>
//   log <vkey>                     operator <vkey>
//   hash-algorithm <id>            blinding-key <base64>
//   min-orgs <n ≥ 2>               min-jurisdictions <n ≥ 2>
//   endorsement-quorum <k ≥ 2> <j ≥ 2>
//   notice-period, max-checkpoint-age, max-release-age, max-entries, max-added, oprf-limit
//   org <name> <CC> <vkey>…        auditor <name> <vkey>…
//   witness <vkey> <url>…          witness-quorum <k>      2k − N ≥ 2, N − k ≥ 1
//
// Nothing here does I/O or reads a clock: times (seenBy / aliveAt of
// checkpoints, publication times) are computed by the caller from verified
// cosignatures (cosignature.ts) and passed in.
//
// Decisions where DESIGN.md is silent (each enforced by a rule below):
// - validatePolicy also refuses a policy whose endorsement quorum (k orgs, j
//   jurisdictions) or database threshold (min-orgs, min-jurisdictions) cannot
//   be met by its own org lines: an unsatisfiable endorsement quorum could
//   never authorise another policy, freezing the log's keys forever;
// - max-entries, max-added, max-checkpoint-age and max-release-age are ≥ 1
//   (max-added divides; a zero age or size admits nothing);
// - "each key once" covers every key of the policy, not only witnesses: all
//   key names, key IDs and public keys (the log's, the operator's, orgs',
//   auditors', witnesses') are distinct. Ed25519 signatures do not commit to
//   the key's name, so one public key under two names is one signer counted
//   twice;
// - a policy entry n ≥ 2 is valid only if policy n−1 is in force at its index
//   (`previous` names it) — DESIGN.md's "previous must be the leaf of policy
//   n−1" read against the chain as it stood when the entry was sequenced;
// - the notice for policy n is measured with policy n−1's notice-period (the
//   policy in force decides how much warning its successor needs; otherwise
//   a new policy could waive its own notice);
// - endorsements count only when sequenced after their subject, by an org of
//   the authorising policy (n−1 for a policy, the release's policy for a
//   release), with that org's key in that policy; one per org;
// - contribution selection: "earlier contributions" for the void rule are the
//   org's authentic ones (signed by the org's key in the policy in force at
//   their index), valid or not, so a forged or misplaced line cannot void an
//   org's real contributions but the org's own mistakes bind it; the
//   selection takes the highest-sequence contribution that passes EVERY
//   filter (so an expired latest contribution falls back to an older one that
//   has not expired, as DESIGN.md's sentence reads).

import { equalBytes, toHex } from './bytes.js';
import { ConcordError } from './errors.js';
import {
  EntryError,
  formatEntryText,
  verifyEntrySignature,
  verifyRequestSignature,
  type ContributionEntry,
  type EndorsementEntry,
  type ConcordEntry,
  type PolicyEntry,
  type ReleaseEntry,
  type RequestAuthorization,
  type SignedEntry,
  type VerifyOptions,
} from './entries.js';
import { parseVerifierKey } from './note.js';
import type { WitnessCosignature } from './cosignature.js';

export type PolicyErrorCode =
  // validatePolicy
  | 'min-orgs-too-low'
  | 'min-jurisdictions-too-low'
  | 'endorsement-orgs-too-low'
  | 'endorsement-jurisdictions-too-low'
  | 'witness-quorum-too-low'
  | 'witness-quorum-too-high'
  | 'bad-limit'
  | 'bad-log-key-name'
  | 'bad-operator-key-name'
  | 'duplicate-key-name'
  | 'duplicate-key-id'
  | 'duplicate-key'
  | 'endorsement-quorum-unsatisfiable'
  | 'min-orgs-unsatisfiable'
  // who may sign
  | 'no-policy'
  | 'bad-policy-sequence'
  | 'bad-previous'
  | 'unknown-org'
  | 'wrong-author'
  | 'unknown-requester'
  // releases and the chain
  | 'wrong-policy'
  | 'wrong-contributions'
  | 'release-expires-too-late'
  | 'too-many-entries'
  | 'bad-release-sequence'
  | 'bad-index';

/**
 * A policy breaks a rule, an entry's author is not the key the policy allows,
 * or a release does not follow the policy. One code per rule.
 */
export class PolicyError extends ConcordError<PolicyErrorCode> {
  override readonly name = 'PolicyError';
}

function fail(code: PolicyErrorCode, message: string): never {
  throw new PolicyError(code, message);
}

/** An entry together with its log index. */
export interface IndexedEntry {
  signed: SignedEntry;
  index: number;
}

/** A policy entry with its leaf (how other entries name it). */
export interface PolicyRef {
  entry: PolicyEntry;
  leaf: Uint8Array;
}

// ---------------------------------------------------------------------------
// Validity of one policy

interface KeyInfo {
  role: string;
  name: string;
  keyHash: number;
  publicKey: Uint8Array;
}

function keyInfo(role: string, vkey: string): KeyInfo {
  const k = parseVerifierKey(vkey); // already checked by the entry parser
  return { role, name: k.name, keyHash: k.keyHash, publicKey: k.publicKey };
}

/**
 * Checks every rule of a single policy (DESIGN.md "Policy rules",
 * "Witnesses"), given the log's origin. Field-level rules are checked by
 * formatting the entry (EntryError); policy rules throw PolicyError, checked
 * in this order:
 *   min-orgs-too-low, min-jurisdictions-too-low           each ≥ 2
 *   endorsement-orgs-too-low, endorsement-jurisdictions-too-low   k, j ≥ 2
 *   witness-quorum-too-low                                2k − N ≥ 2
 *   witness-quorum-too-high                               N − k ≥ 1
 *   bad-limit                                             max-entries, max-added, max-*-age ≥ 1
 *   bad-log-key-name                                      log key named <origin>
 *   bad-operator-key-name                                 operator key named <origin>/operator
 *   duplicate-key-name, duplicate-key-id, duplicate-key   across every key of the policy
 *   endorsement-quorum-unsatisfiable                      k ≤ #orgs, j ≤ #jurisdictions
 *   min-orgs-unsatisfiable                                min-orgs ≤ #orgs, min-jurisdictions ≤ #jurisdictions
 */
export function validatePolicy(p: PolicyEntry, origin: string): void {
  formatEntryText(p); // every field-level rule of entries.ts
  if (p.minOrgs < 2) fail('min-orgs-too-low', `min-orgs ${p.minOrgs} < 2`);
  if (p.minJurisdictions < 2) fail('min-jurisdictions-too-low', `min-jurisdictions ${p.minJurisdictions} < 2`);
  const { orgs: k, jurisdictions: j } = p.endorsementQuorum;
  if (k < 2) fail('endorsement-orgs-too-low', `endorsement quorum of ${k} orgs < 2`);
  if (j < 2) fail('endorsement-jurisdictions-too-low', `endorsement quorum of ${j} jurisdictions < 2`);

  // Witnesses: any two quorums share ≥ 2 witnesses (2k − N ≥ 2), and one
  // witness may be down (N − k ≥ 1). Both are differences of small counts.
  const n = p.witnesses.length;
  const wk = p.witnessQuorum;
  if (2 * wk - n < 2) fail('witness-quorum-too-low', `witness quorum ${wk} of ${n}: 2k − N < 2`);
  if (n - wk < 1) fail('witness-quorum-too-high', `witness quorum ${wk} of ${n}: N − k < 1`);

  for (const [what, v] of [
    ['max-entries', p.maxEntries],
    ['max-added', p.maxAdded],
    ['max-checkpoint-age', p.maxCheckpointAge],
    ['max-release-age', p.maxReleaseAge],
  ] as const) {
    if (v < 1) fail('bad-limit', `${what} must be at least 1`);
  }

  const keys: KeyInfo[] = [keyInfo('log', p.log), keyInfo('operator', p.operator)];
  if (keys[0]!.name !== origin) fail('bad-log-key-name', `log key is named ${JSON.stringify(keys[0]!.name)}, want the origin`);
  if (keys[1]!.name !== `${origin}/operator`) {
    fail('bad-operator-key-name', `operator key is named ${JSON.stringify(keys[1]!.name)}, want "<origin>/operator"`);
  }
  for (const o of p.orgs) keys.push(keyInfo(`org ${o.name}`, o.vkey));
  for (const a of p.auditors) keys.push(keyInfo(`auditor ${a.name}`, a.vkey));
  for (const w of p.witnesses) keys.push(keyInfo('witness', w.vkey));
  const names = new Map<string, string>();
  const ids = new Map<number, string>();
  const pubs = new Map<string, string>();
  for (const key of keys) {
    const prev = names.get(key.name);
    if (prev !== undefined) fail('duplicate-key-name', `${key.role} and ${prev} share the key name ${JSON.stringify(key.name)}`);
    names.set(key.name, key.role);
  }
  for (const key of keys) {
    const prev = ids.get(key.keyHash);
    if (prev !== undefined) fail('duplicate-key-id', `${key.role} and ${prev} share a key ID`);
    ids.set(key.keyHash, key.role);
  }
  for (const key of keys) {
    const hex = toHex(key.publicKey);
    const prev = pubs.get(hex);
    if (prev !== undefined) fail('duplicate-key', `${key.role} and ${prev} share a public key`);
    pubs.set(hex, key.role);
  }

  const jurisdictions = new Set(p.orgs.map((o) => o.jurisdiction)).size;
  if (k > p.orgs.length || j > jurisdictions) {
    fail('endorsement-quorum-unsatisfiable', `endorsement quorum ${k}/${j} needs more than ${p.orgs.length} orgs in ${jurisdictions} jurisdictions`);
  }
  if (p.minOrgs > p.orgs.length || p.minJurisdictions > jurisdictions) {
    fail('min-orgs-unsatisfiable', `min-orgs ${p.minOrgs}/${p.minJurisdictions} needs more than ${p.orgs.length} orgs in ${jurisdictions} jurisdictions`);
  }
}

// ---------------------------------------------------------------------------
// Which key may sign what

/**
 * The verifier keys allowed to sign `entry` when it is sequenced while
 * `inForce` is the policy in force (undefined: before any policy).
 * - policy n: the operator key of policy n−1 (inForce, which must be policy
 *   n−1 and named by `previous`) or of policy n itself; policy 1 (no policy in
 *   force) by its own operator key;
 * - release: the operator key of the policy in force;
 * - contribution, endorsement: the key of the named org in the policy in force.
 * Throws PolicyError: no-policy, bad-policy-sequence, bad-previous, unknown-org.
 */
export function authorKeysFor(entry: ConcordEntry, inForce: PolicyRef | undefined): string[] {
  if (entry.type === 'policy') {
    if (inForce === undefined) {
      if (entry.sequence !== 1) fail('bad-policy-sequence', `policy ${entry.sequence} with no policy in force`);
      return [entry.operator];
    }
    if (entry.sequence !== inForce.entry.sequence + 1) {
      fail('bad-policy-sequence', `policy ${entry.sequence} while policy ${inForce.entry.sequence} is in force`);
    }
    if (entry.previous === null || !equalBytes(entry.previous, inForce.leaf)) {
      fail('bad-previous', `policy ${entry.sequence} does not name the policy in force as previous`);
    }
    return entry.operator === inForce.entry.operator ? [entry.operator] : [inForce.entry.operator, entry.operator];
  }
  if (inForce === undefined) fail('no-policy', `a ${entry.type} entry with no policy in force`);
  if (entry.type === 'release') return [inForce.entry.operator];
  const org = inForce.entry.orgs.find((o) => o.name === entry.org);
  if (org === undefined) fail('unknown-org', `${JSON.stringify(entry.org)} is not an org of the policy in force`);
  return [org.vkey];
}

/**
 * Checks that a signed entry's one signature is by a key authorKeysFor allows
 * and verifies. Returns that key. Throws PolicyError ('wrong-author' and
 * authorKeysFor's codes) or EntryError ('invalid-signature').
 */
export function verifyEntryAuthor(se: SignedEntry, inForce: PolicyRef | undefined, opts?: VerifyOptions): string {
  const key = matchingKey(se.signature, authorKeysFor(se.entry, inForce));
  if (key === undefined) fail('wrong-author', `entry signed by ${JSON.stringify(se.signature.name)}, not an allowed author`);
  verifyEntrySignature(se, key, opts);
  return key;
}

function matchingKey(sig: { name: string; keyHash: number }, keys: readonly string[]): string | undefined {
  for (const vkey of keys) {
    const k = parseVerifierKey(vkey);
    if (k.name === sig.name && k.keyHash === sig.keyHash) return vkey;
  }
  return undefined;
}

export type RequesterRole = 'org' | 'auditor' | 'operator';

/** Keys that may sign request notes under a policy: its orgs, auditors and operator. */
export function requestKeysFor(p: PolicyEntry): { role: RequesterRole; name: string; vkey: string }[] {
  return [
    ...p.orgs.map((o) => ({ role: 'org' as const, name: o.name, vkey: o.vkey })),
    ...p.auditors.map((a) => ({ role: 'auditor' as const, name: a.name, vkey: a.vkey })),
    { role: 'operator' as const, name: parseVerifierKey(p.operator).name, vkey: p.operator },
  ];
}

/**
 * Checks a request note's signature against the policy in force: by an org,
 * an auditor or the operator, and valid. Returns who signed. Throws
 * PolicyError('unknown-requester') or EntryError('invalid-signature').
 * (Matching the request to the HTTP request and its clock: entries.checkRequest.)
 */
export function verifyRequestAuthor(
  auth: RequestAuthorization,
  p: PolicyEntry,
  opts?: VerifyOptions,
): { role: RequesterRole; name: string; vkey: string } {
  const candidates = requestKeysFor(p);
  const key = matchingKey(
    auth.signature,
    candidates.map((c) => c.vkey),
  );
  const who = candidates.find((c) => c.vkey === key);
  if (key === undefined || who === undefined) {
    fail('unknown-requester', `request signed by ${JSON.stringify(auth.signature.name)}, not an org, auditor or operator`);
  }
  verifyRequestSignature(auth, key, opts);
  return who;
}

// ---------------------------------------------------------------------------
// Quorums

export interface EndorsementQuorumResult {
  met: boolean;
  /** Distinct endorsing orgs of the policy, sorted. */
  orgs: string[];
  /** Distinct jurisdictions of those orgs, sorted. */
  jurisdictions: string[];
}

/**
 * Endorsement quorum: at least k distinct orgs OF THIS POLICY spanning at
 * least j distinct jurisdictions. Names not in the policy are ignored.
 */
export function evaluateEndorsementQuorum(p: PolicyEntry, endorsingOrgs: readonly string[]): EndorsementQuorumResult {
  const byName = new Map(p.orgs.map((o) => [o.name, o.jurisdiction]));
  const orgs = [...new Set(endorsingOrgs.filter((n) => byName.has(n)))].sort();
  const jurisdictions = [...new Set(orgs.map((n) => byName.get(n)!))].sort();
  return {
    met: orgs.length >= p.endorsementQuorum.orgs && jurisdictions.length >= p.endorsementQuorum.jurisdictions,
    orgs,
    jurisdictions,
  };
}

/**
 * Witness quorum: at least witness-quorum distinct witnesses of this policy
 * (by verifier key) among verified cosignatures. Other keys are ignored.
 */
export function evaluateWitnessQuorum(
  p: PolicyEntry,
  cosignatures: readonly WitnessCosignature[],
): { met: boolean; witnesses: string[] } {
  const listed = new Set(p.witnesses.map((w) => w.vkey));
  const witnesses = [...new Set(cosignatures.map((c) => c.witness).filter((w) => listed.has(w)))].sort();
  return { met: witnesses.length >= p.witnessQuorum, witnesses };
}

export interface CountedEndorsements extends EndorsementQuorumResult {
  /** One endorsement per org (its earliest valid one), in index order. */
  endorsements: IndexedEntry[];
  /**
   * Index of the endorsement that completed the quorum, counting in index
   * order; undefined if not met. A checkpoint of size > quorumIndex contains
   * the subject and every endorsement counted for it (DESIGN.md "published").
   */
  quorumIndex: number | undefined;
}

/**
 * The endorsements that count for a subject entry (at `subject.index`, with
 * leaf `subject.leaf`) under the authorising policy `authority` (the
 * release's policy, or policy n−1 for policy n): endorsement entries naming
 * exactly this subject (kind, sequence, leaf), sequenced after it, by an org
 * of `authority` and signed with that org's key there. With `policyAt`, the
 * org must also hold the same key in the policy in force at the
 * endorsement's index, so a key dropped by a later policy stops counting.
 */
export function countEndorsements(
  subject: { kind: 'release' | 'policy'; sequence: number; leaf: Uint8Array; index: number },
  authority: PolicyEntry,
  endorsements: readonly IndexedEntry[],
  opts?: VerifyOptions & { policyAt?: (index: number) => PolicyRef | undefined },
): CountedEndorsements {
  const sorted = [...endorsements].sort((a, b) => a.index - b.index);
  const counted = new Map<string, IndexedEntry>();
  let quorumIndex: number | undefined;
  let result = evaluateEndorsementQuorum(authority, []);
  for (const ie of sorted) {
    const e = ie.signed.entry;
    if (e.type !== 'endorsement' || counted.has(e.org)) continue;
    if (!endorsementCounts(ie, e, subject, authority, opts)) continue;
    if (opts?.policyAt !== undefined) {
      const now = opts.policyAt(ie.index)?.entry.orgs.find((o) => o.name === e.org);
      const then = authority.orgs.find((o) => o.name === e.org);
      if (now === undefined || then === undefined || now.vkey !== then.vkey) continue;
    }
    counted.set(e.org, ie);
    if (quorumIndex === undefined) {
      result = evaluateEndorsementQuorum(authority, [...counted.keys()]);
      if (result.met) quorumIndex = ie.index;
    }
  }
  result = evaluateEndorsementQuorum(authority, [...counted.keys()]);
  return { ...result, endorsements: [...counted.values()], quorumIndex };
}

function endorsementCounts(
  ie: IndexedEntry,
  e: EndorsementEntry,
  subject: { kind: 'release' | 'policy'; sequence: number; leaf: Uint8Array; index: number },
  authority: PolicyEntry,
  opts: VerifyOptions | undefined,
  verified?: Map<string, boolean>,
): boolean {
  if (e.subject.kind !== subject.kind || e.subject.sequence !== subject.sequence) return false;
  if (!equalBytes(e.subject.leaf, subject.leaf) || ie.index <= subject.index) return false;
  const org = authority.orgs.find((o) => o.name === e.org);
  if (org === undefined) return false;
  return signatureValid(ie.signed, org.vkey, opts, verified);
}

function signatureValid(se: SignedEntry, vkey: string, opts: VerifyOptions | undefined, cache?: Map<string, boolean>): boolean {
  const id = `${toHex(se.leafHash)} ${vkey}`;
  const hit = cache?.get(id);
  if (hit !== undefined) return hit;
  let ok: boolean;
  try {
    verifyEntrySignature(se, vkey, opts);
    ok = true;
  } catch (e) {
    if (!(e instanceof EntryError)) throw e;
    ok = false;
  }
  cache?.set(id, ok);
  return ok;
}

// ---------------------------------------------------------------------------
// Notice

/**
 * Can `next` replace `old` without notice? Only if it removes lines or moves
 * thresholds in the safe direction, field by field:
 * - unchanged: log, operator, hash-algorithm, blinding-key (a new key is never
 *   a removal);
 * - every org, auditor and witness line of `next` is, byte for byte, a line of
 *   `old` (a changed jurisdiction or witness URL is a new line);
 * - may only rise: min-orgs, min-jurisdictions, both endorsement-quorum
 *   numbers, witness-quorum, notice-period (each makes acceptance harder or
 *   slower);
 * - may only fall: max-checkpoint-age, max-release-age (fresher evidence),
 *   max-entries, max-added (smaller, more-noticed databases), oprf-limit
 *   (fewer queries against the blinding key).
 * Removing orgs or raising thresholds can only shrink a release's database,
 * and shrinking is always safe; this is how a compromised key is dropped at
 * once. `next` must still pass validatePolicy on its own.
 */
export function isRemovalOnly(old: PolicyEntry, next: PolicyEntry): boolean {
  if (next.log !== old.log || next.operator !== old.operator) return false;
  if (next.hashAlgorithm !== old.hashAlgorithm || !equalBytes(next.blindingKey, old.blindingKey)) return false;
  const subset = <T>(a: readonly T[], b: readonly T[], key: (x: T) => string): boolean => {
    const have = new Set(b.map(key));
    return a.every((x) => have.has(key(x)));
  };
  if (!subset(next.orgs, old.orgs, (o) => `${o.name} ${o.jurisdiction} ${o.vkey}`)) return false;
  if (!subset(next.auditors, old.auditors, (a) => `${a.name} ${a.vkey}`)) return false;
  if (!subset(next.witnesses, old.witnesses, (w) => `${w.vkey} ${w.url}`)) return false;
  return (
    next.minOrgs >= old.minOrgs &&
    next.minJurisdictions >= old.minJurisdictions &&
    next.endorsementQuorum.orgs >= old.endorsementQuorum.orgs &&
    next.endorsementQuorum.jurisdictions >= old.endorsementQuorum.jurisdictions &&
    next.witnessQuorum >= old.witnessQuorum &&
    next.noticePeriod >= old.noticePeriod &&
    next.maxCheckpointAge <= old.maxCheckpointAge &&
    next.maxReleaseAge <= old.maxReleaseAge &&
    next.maxEntries <= old.maxEntries &&
    next.maxAdded <= old.maxAdded &&
    next.oprfLimit <= old.oprfLimit
  );
}

/**
 * Seconds of notice a release needs under its policy: notice-period, times
 * ⌈added / max-added⌉ when added > max-added. Exact integer arithmetic; a
 * product above 2^53 − 1 is returned as Infinity (no clock difference can
 * reach it).
 */
export function releaseNoticeRequired(p: PolicyEntry, added: number): number {
  return scaledNotice(p.noticePeriod, added, p.maxAdded);
}

/** notice × max(1, ⌈added / maxAdded⌉), or Infinity above 2^53 − 1. */
export function scaledNotice(notice: number, added: number, maxAdded: number): number {
  if (maxAdded < 1) return Infinity;
  // ⌈a / b⌉ without floating-point rounding: a − (a mod b) is an exact multiple of b.
  const r = added % maxAdded;
  const m = Math.max(1, (added - r) / maxAdded + (r === 0 ? 0 : 1));
  const product = notice * m;
  // A true product ≤ 2^53 − 1 is computed exactly; one above rounds to ≥ 2^53.
  return Number.isSafeInteger(product) ? product : Infinity;
}

/**
 * DESIGN.md: E is noticed when a cosigned checkpoint F consistent with P has
 * aliveAt(F) − seenBy(P) ≥ the required notice. Compares a difference, never
 * a sum. The caller proves P ⊆ F and computes both times.
 */
export function isNoticed(seenByP: number, aliveAtF: number, required: number): boolean {
  return aliveAtF - seenByP >= required;
}

/** A release's expires is at most max-release-age after its publication (a difference, no sum). */
export function checkReleaseExpiry(release: ReleaseEntry, publishedAt: number, p: PolicyEntry): void {
  if (release.expires - publishedAt > p.maxReleaseAge) {
    fail('release-expires-too-late', `release expires ${release.expires - publishedAt} s after publication, max ${p.maxReleaseAge}`);
  }
}

/**
 * max-entries "caps database and contribution sizes": a contribution's set
 * count and a release's database count are at most the policy's max-entries.
 * Other entries pass. Throws PolicyError('too-many-entries').
 */
export function checkEntryLimits(entry: ConcordEntry, p: PolicyEntry): void {
  const count = entry.type === 'contribution' ? entry.set.count : entry.type === 'release' ? entry.database.count : 0;
  if (count > p.maxEntries) fail('too-many-entries', `${entry.type} holds ${count} elements, max-entries is ${p.maxEntries}`);
}

/**
 * Release n follows release n−1 (`prev`, undefined when there is none yet):
 * sequence n = n−1 + 1 and `previous` is n−1's leaf; release 1 has
 * `previous none` (the entry parser enforces none ⇔ sequence 1). Throws
 * PolicyError 'bad-release-sequence' or 'bad-previous'.
 */
export function checkReleaseSuccession(prev: { entry: ReleaseEntry; leaf: Uint8Array } | undefined, release: ReleaseEntry): void {
  const want = prev === undefined ? 1 : prev.entry.sequence + 1;
  if (release.sequence !== want) fail('bad-release-sequence', `release ${release.sequence}, want ${want}`);
  if (prev !== undefined && (release.previous === null || !equalBytes(release.previous, prev.leaf))) {
    fail('bad-previous', `release ${release.sequence} does not name release ${prev.entry.sequence} as previous`);
  }
}

// ---------------------------------------------------------------------------
// The policy chain

/** A policy that is (or was) in force. */
export interface ChainPolicy extends PolicyRef {
  index: number;
  signed: SignedEntry;
  /** First log index this policy governs. */
  activeFrom: number;
  /** Index of the endorsement that completed the quorum; undefined for the anchor. */
  quorumIndex: number | undefined;
  /** The endorsements counted up to the quorum, one per org of the predecessor. */
  endorsements: IndexedEntry[];
  /** Took force without notice (isRemovalOnly against its predecessor). */
  removalOnly: boolean;
}

/** What a NoticedFrom callback is asked about: a policy whose quorum is met. */
export interface NoticeQuery {
  policy: PolicyRef & { index: number; signed: SignedEntry };
  predecessor: ChainPolicy;
  /** The policy is published at seenBy(P) for the earliest quorum-cosigned P with size > quorumIndex. */
  quorumIndex: number;
  endorsements: IndexedEntry[];
  /** Seconds of notice required: the predecessor's notice-period. */
  noticePeriod: number;
}

/**
 * Tells from which log index a non-removal policy counts as noticed, or
 * undefined when that is not proven (yet). Once it answers with a number for
 * a policy it must keep giving that number: resolved policies are cached.
 *
 * THE NOTICE RULE (server, devices, `concord audit` and the verifying page
 * all apply it; DESIGN.md "Time, notice and freshness" leaves the index
 * open). A policy n ≥ 2 that is not removal-only governs from
 *
 *     max(quorumIndex + 1, N.size)
 *
 * where N is its NOTICE CHECKPOINT: the one checkpoint the log designates for
 * it, served at `GET /checkpoint/noticed?policy=<index of policy n>` and as
 * the `noticed` link of release bundles. A verifier accepts N only if
 * - N is signed by policy n−1's log key and cosigned by a witness-quorum of
 *   policy n−1's witnesses;
 * - N is consistent with the verifier's tree (it is a prefix of F), and
 *   N.size > quorumIndex;
 * - aliveAt(N) − seenBy(P) ≥ policy n−1's notice-period, with P the
 *   quorum-cosigned checkpoint (under n−1) holding the policy and the
 *   endorsement completing its quorum (`/checkpoint/published?entry=<quorumIndex>`).
 * Without an acceptable N the policy is not in force (fail closed).
 *
 * Why a designated N and not "the earliest checkpoint that proves it": the
 * set of cosignatures grows, so the earliest proving checkpoint can move
 * back after the log has admitted entries under policy n−1 beyond it; no one
 * could then tell which entries each policy governed. Any acceptable N is
 * sound — entries at index ≥ N.size are outside a checkpoint that was alive
 * a full notice period after the policy was public — and a later N only
 * delays the policy. The log designates the latest quorum-cosigned
 * checkpoint at the moment it finds the notice proven, and only while no
 * entry beyond it has been admitted (log-server log-state.ts checkNotice),
 * so N is the earliest checkpoint it could honour and every party computes
 * the same index from it.
 */
export type NoticedFrom = (q: NoticeQuery) => number | undefined;

/**
 * The notice rule's arithmetic (NoticedFrom), shared by every verifier: given a policy's quorum
 * index and its predecessor's notice-period, its P and its designated notice checkpoint N —
 * each already verified by the caller (signed by the predecessor's log key, cosigned by a
 * witness quorum of the predecessor's witnesses, consistent with the caller's tree) and given
 * by size and seenBy(P) / aliveAt(N) — returns the index the policy governs from (N's size), or
 * undefined when they prove nothing: P or N does not hold the endorsement completing the
 * quorum (size ≤ quorumIndex), N is smaller than P, or aliveAt(N) − seenBy(P) < notice-period.
 */
export function noticedFromCheckpoints(
  q: { quorumIndex: number; noticePeriod: number },
  p: { size: number; seenBy: number },
  n: { size: number; aliveAt: number },
): number | undefined {
  if (p.size <= q.quorumIndex || n.size <= q.quorumIndex || n.size < p.size) return undefined;
  return isNoticed(p.seenBy, n.aliveAt, q.noticePeriod) ? n.size : undefined;
}

export interface PolicyChainOptions extends VerifyOptions {
  /** The log's origin (names the log and operator keys). */
  origin: string;
  /**
   * Leaf of policy 1, the trust anchor. Without it the first valid
   * sequence-1 policy in index order is the anchor (what the log itself uses).
   */
  anchor?: Uint8Array;
  /** Default: nothing is ever noticed (only removal-only successors take force). */
  noticedFrom?: NoticedFrom;
}

interface Resolved {
  chain: ChainPolicy[];
  /** A successor whose quorum is met but whose notice is not (yet) proven. */
  pending: (PolicyRef & { index: number; quorumIndex: number }) | undefined;
}

/**
 * Computes which policy is in force at each log index (DESIGN.md "Policy
 * rules"), from the log's policy entries and policy endorsements fed in index
 * order with add(). Every other entry is ignored, so a server may feed it
 * every entry it appends and a device only a bundle's few entries.
 *
 * - Policy 1 (the anchor) governs from its own index.
 * - A candidate for policy n+1 is a policy entry with that sequence whose
 *   `previous` is the leaf of policy n, sequenced while policy n governs,
 *   passing validatePolicy, signed by policy n's or its own operator key.
 * - Endorsements are counted in index order (countEndorsements' rules, with
 *   policy n as the authority). The FIRST candidate whose endorsements meet
 *   policy n's endorsement quorum wins; endorsements of its siblings — even
 *   ones completing a sibling's quorum later — change nothing.
 * - The winner governs from the index after its quorum if it is removal-only
 *   against policy n, else from max(that index, noticedFrom(…)); while its
 *   notice is unproven, policy n stays in force and no later policy can form.
 *
 * Results are recomputed on demand (signature and validity checks are
 * cached), so a NoticedFrom answer that changes as checkpoints arrive is
 * picked up. Invalid entries are skipped, never thrown.
 */
export class PolicyChain {
  private readonly opts: PolicyChainOptions;
  private readonly policies: (IndexedEntry & { entry: PolicyEntry })[] = [];
  private readonly endorsements: (IndexedEntry & { entry: EndorsementEntry })[] = [];
  private lastIndex = -1;
  private readonly sigCache = new Map<string, boolean>();
  private readonly validCache = new Map<string, boolean>();
  private cached: Resolved | undefined;

  constructor(opts: PolicyChainOptions) {
    this.opts = { ...opts };
  }

  /** Feeds the entry at `index`; indexes must strictly increase. Throws PolicyError('bad-index'). */
  add(signed: SignedEntry, index: number): void {
    if (!Number.isSafeInteger(index) || index <= this.lastIndex) {
      fail('bad-index', `entries must be added in increasing index order (${index} after ${this.lastIndex})`);
    }
    this.lastIndex = index;
    const entry = signed.entry;
    if (entry.type === 'policy') {
      this.policies.push({ signed, index, entry });
      this.cached = undefined;
    } else if (entry.type === 'endorsement' && entry.subject.kind === 'policy') {
      this.endorsements.push({ signed, index, entry });
      this.cached = undefined;
    }
  }

  /** Policies that took force, anchor first. */
  inForce(): ChainPolicy[] {
    return [...this.resolve().chain];
  }

  /** The newest policy in force at `index`, or undefined before the anchor. */
  policyAt(index: number): ChainPolicy | undefined {
    const chain = this.resolve().chain;
    for (let i = chain.length - 1; i >= 0; i--) {
      if (chain[i]!.activeFrom <= index) return chain[i];
    }
    return undefined;
  }

  /** The newest policy in force (at the next index to be appended). */
  current(): ChainPolicy | undefined {
    return this.resolve().chain.at(-1);
  }

  /** A successor that has its quorum but not yet its notice. */
  pending(): (PolicyRef & { index: number; quorumIndex: number }) | undefined {
    return this.resolve().pending;
  }

  /** The policy with this leaf, if it took force. */
  byLeaf(leaf: Uint8Array): ChainPolicy | undefined {
    return this.resolve().chain.find((p) => equalBytes(p.leaf, leaf));
  }

  private valid(p: IndexedEntry & { entry: PolicyEntry }): boolean {
    const id = toHex(p.signed.leafHash);
    let ok = this.validCache.get(id);
    if (ok === undefined) {
      try {
        validatePolicy(p.entry, this.opts.origin);
        ok = true;
      } catch (e) {
        if (!(e instanceof PolicyError) && !(e instanceof EntryError)) throw e;
        ok = false;
      }
      this.validCache.set(id, ok);
    }
    return ok;
  }

  private signedByOneOf(se: SignedEntry, keys: readonly string[]): boolean {
    const key = matchingKey(se.signature, keys);
    return key !== undefined && signatureValid(se, key, this.opts, this.sigCache);
  }

  private resolve(): Resolved {
    if (this.cached !== undefined) return this.cached;
    const chain: ChainPolicy[] = [];
    let pending: Resolved['pending'];
    const anchorLeaf = this.opts.anchor;
    const anchor = this.policies.find(
      (p) =>
        p.entry.sequence === 1 &&
        (anchorLeaf === undefined || equalBytes(p.signed.leafHash, anchorLeaf)) &&
        this.valid(p) &&
        this.signedByOneOf(p.signed, [p.entry.operator]),
    );
    if (anchor !== undefined) {
      let cur: ChainPolicy = {
        entry: anchor.entry,
        leaf: anchor.signed.leafHash,
        index: anchor.index,
        signed: anchor.signed,
        activeFrom: anchor.index,
        quorumIndex: undefined,
        endorsements: [],
        removalOnly: false,
      };
      chain.push(cur);
      for (;;) {
        const next = this.successor(cur);
        if (next === undefined) break;
        const { cand, quorumIndex, endorsements } = next;
        const removalOnly = isRemovalOnly(cur.entry, cand.entry);
        let activeFrom = quorumIndex + 1;
        if (!removalOnly) {
          const s = this.opts.noticedFrom?.({
            policy: { entry: cand.entry, leaf: cand.signed.leafHash, index: cand.index, signed: cand.signed },
            predecessor: cur,
            quorumIndex,
            endorsements,
            noticePeriod: cur.entry.noticePeriod,
          });
          if (s === undefined || !Number.isSafeInteger(s)) {
            pending = { entry: cand.entry, leaf: cand.signed.leafHash, index: cand.index, quorumIndex };
            break;
          }
          activeFrom = Math.max(activeFrom, s);
        }
        cur = {
          entry: cand.entry,
          leaf: cand.signed.leafHash,
          index: cand.index,
          signed: cand.signed,
          activeFrom,
          quorumIndex,
          endorsements,
          removalOnly,
        };
        chain.push(cur);
      }
    }
    const resolved = { chain, pending };
    // A pending successor may be noticed later: recompute then; else cache.
    if (pending === undefined) this.cached = resolved;
    return resolved;
  }

  /** The first candidate for cur's successor to reach cur's endorsement quorum. */
  private successor(
    cur: ChainPolicy,
  ): { cand: IndexedEntry & { entry: PolicyEntry }; quorumIndex: number; endorsements: IndexedEntry[] } | undefined {
    const seq = cur.entry.sequence + 1;
    const candidates = new Map<string, IndexedEntry & { entry: PolicyEntry }>();
    for (const p of this.policies) {
      const e = p.entry;
      if (e.sequence !== seq || e.previous === null || !equalBytes(e.previous, cur.leaf)) continue;
      if (p.index < cur.activeFrom) continue; // previous must be in force at the candidate's index
      const id = toHex(p.signed.leafHash);
      if (candidates.has(id)) continue; // the same bytes again: the first copy stands
      if (!this.valid(p)) continue;
      if (!this.signedByOneOf(p.signed, [cur.entry.operator, e.operator])) continue;
      candidates.set(id, p);
    }
    if (candidates.size === 0) return undefined;
    const tallies = new Map<string, Map<string, IndexedEntry>>();
    for (const ie of this.endorsements) {
      const e = ie.entry;
      if (e.subject.sequence !== seq) continue;
      const id = toHex(e.subject.leaf);
      const cand = candidates.get(id);
      if (cand === undefined) continue;
      const subject = { kind: 'policy' as const, sequence: seq, leaf: cand.signed.leafHash, index: cand.index };
      if (!endorsementCounts(ie, e, subject, cur.entry, this.opts, this.sigCache)) continue;
      let tally = tallies.get(id);
      if (tally === undefined) tallies.set(id, (tally = new Map()));
      if (tally.has(e.org)) continue;
      tally.set(e.org, ie);
      if (evaluateEndorsementQuorum(cur.entry, [...tally.keys()]).met) {
        return { cand, quorumIndex: ie.index, endorsements: [...tally.values()] };
      }
    }
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// Releases and contribution selection

/** Where selectContributions and checkReleasePolicy look up policies (a PolicyChain is one). */
export interface PolicyLookup {
  policyAt(index: number): (PolicyRef & { activeFrom: number }) | undefined;
  byLeaf(leaf: Uint8Array): (PolicyRef & { activeFrom: number }) | undefined;
}

/**
 * A release's policy is the newest policy in force at the release's index.
 * Returns it; throws PolicyError 'no-policy' or 'wrong-policy'.
 */
export function checkReleasePolicy(
  release: ReleaseEntry,
  index: number,
  policies: PolicyLookup,
): PolicyRef & { activeFrom: number } {
  const p = policies.policyAt(index);
  if (p === undefined) fail('no-policy', `no policy in force at index ${index}`);
  if (!equalBytes(release.policy, p.leaf)) fail('wrong-policy', `release ${release.sequence} does not name the policy in force at its index`);
  return p;
}

export interface SelectedContribution {
  org: string;
  leaf: Uint8Array;
  index: number;
  entry: ContributionEntry;
  signed: SignedEntry;
}

export type ContributionRejection =
  /** Not a contribution entry. */
  | 'not-a-contribution'
  /** Sequenced at or after the release. */
  | 'not-before-release'
  /** No policy in force at its index, or its org is not an org of that policy. */
  | 'unknown-org'
  /** Not signed (validly) by the org's key in the policy in force at its index. */
  | 'bad-signature'
  /** Its sequence is not above every earlier authentic contribution of its org. */
  | 'void'
  /** Its org is not an org of the release's policy. */
  | 'org-not-in-policy'
  /** Names a policy that had not taken force by its index. */
  | 'unknown-policy'
  /** Made under a policy with another blinding-key or hash-algorithm. */
  | 'different-blinding'
  /** Its set holds more than max-entries (of its own policy or the release's). */
  | 'too-many-entries'
  /** Expires at or before the release's publication. */
  | 'expired'
  /** A valid contribution with a higher sequence was selected instead. */
  | 'superseded';

export interface SelectionResult {
  /** One per org of the release's policy that has a selectable contribution, sorted by org. */
  selected: SelectedContribution[];
  /** Why each other contribution was not selected. */
  rejected: { index: number; org: string | undefined; reason: ContributionRejection }[];
}

/**
 * DESIGN.md "Which contributions a release uses": for each org of the
 * release's policy `p`, its highest-sequence valid contribution sequenced
 * before the release (index < releaseIndex), made under a policy with the
 * same blinding-key and hash-algorithm, whose expires is after the release's
 * publication time; orgs without one are omitted. A contribution is valid
 * when it is signed by its org's key in the policy in force at its index, is
 * not void (its sequence is above every earlier authentic contribution of
 * its org), names a policy that had taken force by its index, and its count
 * is at most max-entries of that policy and of the release's. The order of
 * `contributions` does not matter; indexes must be distinct.
 */
export function selectContributions(
  p: PolicyEntry,
  releaseIndex: number,
  releasePublishedAt: number,
  contributions: readonly IndexedEntry[],
  policies: PolicyLookup,
  opts?: VerifyOptions,
): SelectionResult {
  const sorted = [...contributions].sort((a, b) => a.index - b.index);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.index === sorted[i - 1]!.index) fail('bad-index', `two contributions at index ${sorted[i]!.index}`);
  }
  const inPolicy = new Set(p.orgs.map((o) => o.name));
  const highest = new Map<string, number>(); // org → highest authentic sequence so far
  const best = new Map<string, SelectedContribution>();
  const rejected: SelectionResult['rejected'] = [];
  const cache = new Map<string, boolean>();
  for (const ie of sorted) {
    const e = ie.signed.entry;
    if (e.type !== 'contribution') {
      rejected.push({ index: ie.index, org: undefined, reason: 'not-a-contribution' });
      continue;
    }
    const reject = (reason: ContributionRejection): void => {
      rejected.push({ index: ie.index, org: e.org, reason });
    };
    if (ie.index >= releaseIndex) {
      reject('not-before-release');
      continue;
    }
    const atIndex = policies.policyAt(ie.index);
    const orgLine = atIndex?.entry.orgs.find((o) => o.name === e.org);
    if (orgLine === undefined) {
      reject('unknown-org');
      continue;
    }
    const key = matchingKey(ie.signed.signature, [orgLine.vkey]);
    if (key === undefined || !signatureValid(ie.signed, key, opts, cache)) {
      reject('bad-signature');
      continue;
    }
    const top = highest.get(e.org);
    if (top !== undefined && e.sequence <= top) {
      reject('void');
      continue;
    }
    highest.set(e.org, e.sequence);
    if (!inPolicy.has(e.org)) {
      reject('org-not-in-policy');
      continue;
    }
    const madeUnder = policies.byLeaf(e.policy);
    if (madeUnder === undefined || madeUnder.activeFrom > ie.index) {
      reject('unknown-policy');
      continue;
    }
    if (madeUnder.entry.hashAlgorithm !== p.hashAlgorithm || !equalBytes(madeUnder.entry.blindingKey, p.blindingKey)) {
      reject('different-blinding');
      continue;
    }
    if (e.set.count > madeUnder.entry.maxEntries || e.set.count > p.maxEntries) {
      reject('too-many-entries');
      continue;
    }
    if (!(e.expires > releasePublishedAt)) {
      reject('expired');
      continue;
    }
    // Non-void contributions of an org rise in sequence with index, so the
    // latest valid one is the highest-sequence one.
    const prev = best.get(e.org);
    if (prev !== undefined) rejected.push({ index: prev.index, org: e.org, reason: 'superseded' });
    best.set(e.org, { org: e.org, leaf: ie.signed.leafHash, index: ie.index, entry: e, signed: ie.signed });
  }
  const selected = [...best.values()].sort((a, b) => (a.org < b.org ? -1 : a.org > b.org ? 1 : 0));
  rejected.sort((a, b) => a.index - b.index);
  return { selected, rejected };
}

/**
 * Auditors check exactly this: the release's contribution lines are the
 * selected contributions, org by org, leaf by leaf. Throws
 * PolicyError('wrong-contributions').
 */
export function checkReleaseContributions(release: ReleaseEntry, selected: readonly SelectedContribution[]): void {
  const want = selected.map((s) => `${s.org} ${toHex(s.leaf)}`).join('\n');
  const got = release.contributions.map((c) => `${c.org} ${toHex(c.leaf)}`).join('\n');
  if (want !== got) fail('wrong-contributions', `release ${release.sequence} does not use exactly the selected contributions`);
}
