// Concord log entries and request notes: the four entry types every log entry
// is written in, and the signed note that authorises non-self-authenticating
// HTTP requests. The contract is DESIGN.md "Concord entries" and "Requests
// that need authority"; the container is a C2SP signed note
// (https://c2sp.org/signed-note) with EXACTLY ONE signature line, by the
// entry's author. Leaves are RFC 6962 leaf hashes of the entry's full bytes.
//
//   concord/policy/v1                     concord/contribution/v1
//   sequence <n>                          org <name>
//   previous <base64 leaf | none>         sequence <n>
//   log <vkey, type 0x01>                 policy <base64 leaf>
//   operator <vkey, type 0x01>            set <base64 root> <count>
//   hash-algorithm <id>                   blob sha256:<hex>
//   blinding-key <base64 32 bytes>        expires <unix seconds>
//   min-orgs <n>
//   min-jurisdictions <n>                 concord/release/v1
//   endorsement-quorum <k> <j>            sequence <n>
//   notice-period <seconds>               previous <base64 leaf | none>
//   max-checkpoint-age <seconds>          policy <base64 leaf>
//   max-release-age <seconds>             contribution <org> <base64 leaf>   (0..n, sorted by org)
//   max-entries <n>                       exclude sha256:<hex> <count> | exclude none 0
//   max-added <n>                         database <base64 root> <count>
//   oprf-limit <n>                        added <n>
//   org <name> <CC> <vkey, 0x01>   (0..n) removed <n>
//   auditor <name> <vkey, 0x01>    (0..n) blob sha256:<hex>
//   witness <vkey, 0x04> <url>     (0..n) expires <unix seconds>
//   witness-quorum <k>
//                                         concord/endorsement/v1
//   concord/request/v1                    org <name>
//   origin <log origin>                   subject <release|policy> <sequence> <base64 leaf>
//   method <M>
//   path <P>
//   body sha256:<hex>
//   time <unix seconds>
//   nonce <base64 16 bytes>
//
//   then, as in every signed note: a blank line and "— <name> <base64(keyID ‖ sig)>".
//
// Encoding rules (one encoding per value, so one byte string per entry):
// - text is printable ASCII (every field is ASCII), LF line ends, a final LF,
//   single spaces between fields, no empty lines, lines in exactly the order
//   above; the parser re-formats what it parsed and requires the same text;
// - numbers are canonical decimals ≤ 2^53 − 1; base64 is standard, padded and
//   canonical; hex is lowercase; `sha256:` digests are 32 bytes; leaves and
//   roots are base64 of 32 bytes (like tlog-checkpoint roots — DESIGN.md does
//   not name the leaf encoding, and base64 keeps every Merkle hash in one form);
// - names (orgs, auditors) are printable ASCII without spaces or '+' (a
//   signed-note key name cannot hold '+', and each name equals its key's name);
// - repeated lines are in strictly ascending byte order, which also forbids
//   duplicates: `org` and `auditor` lines by name, `witness` lines by key
//   string (which starts with the witness name), `contribution` lines by org;
// - sequences start at 1, and `previous none` appears exactly when the
//   sequence is 1;
// - a set, database or exclusion of count 0 has the empty-tree root and the
//   digest of the empty blob; "exclude none 0" is the only empty exclusion;
// - a release adds at most its database's count; release 1 adds exactly its
//   count and removes nothing;
// - `blinding-key` is a valid, non-identity ristretto255 encoding;
// - a jurisdiction is a sovereign state's ISO 3166-1 alpha-2 code (see
//   SOVEREIGN_STATES for exactly which);
// - a witness URL is an absolute http:// or https:// URL (the tlog-witness
//   submission prefix) of printable ASCII, with a host, no credentials and no
//   fragment.
// Rules that need a policy (floors, quorums, key names against the origin,
// who may sign) live in policy.ts.
//
// Errors: everything here throws EntryError. parseSignedEntry and
// parseAuthorizationHeader wrap the note layer's NoteError into EntryError
// (code 'malformed-entry' / 'malformed-request', or 'bad-signature-count'),
// keeping it as `cause`, so a caller handling untrusted bytes catches exactly
// one class.

import { ristretto255 } from '@noble/curves/ed25519.js';
import {
  EncodingError,
  concatBytes,
  equalBytes,
  fromBase64,
  fromHex,
  parseDecimal,
  toBase64,
  toHex,
  utf8,
} from './bytes.js';
import { ConcordError } from './errors.js';
import { EMPTY_ROOT, leafHash } from './merkle.js';
import {
  NoteError,
  newVerifier,
  parseNote,
  parseVerifierKey,
  signNote,
  type Ed25519Verify,
  type NoteSignature,
  type Signer,
} from './note.js';
import { sha256 } from './sha256.js';

/** Entries travel in u16-length-prefixed tlog-tiles entry bundles. */
export const MAX_ENTRY_SIZE = 65_535;

/** A request note is a few hundred bytes; the cap bounds work on an unauthenticated header. */
export const MAX_REQUEST_NOTE_SIZE = 8_192;

/** The server rejects requests whose time is further than this from its clock. */
export const REQUEST_MAX_SKEW = 300;

/** The server remembers nonces for this long (twice the skew, so a replay is always caught). */
export const REQUEST_NONCE_TTL = 600;

/** Perceptual-hash algorithms and their raw hash lengths in bytes. */
export const HASH_ALGORITHMS = Object.freeze({
  'neuralhash-96': 12,
  'pdq-256': 32,
  'photodna-1152': 144,
} as const);
export type HashAlgorithmId = keyof typeof HASH_ALGORITHMS;

export function isHashAlgorithmId(s: string): s is HashAlgorithmId {
  return Object.prototype.hasOwnProperty.call(HASH_ALGORITHMS, s);
}

/** First lines of the four entry types. */
export const ENTRY_TYPES = Object.freeze({
  policy: 'concord/policy/v1',
  contribution: 'concord/contribution/v1',
  release: 'concord/release/v1',
  endorsement: 'concord/endorsement/v1',
} as const);
export type EntryType = keyof typeof ENTRY_TYPES;

/** First line of a request note. Entry parsers reject it, and the request parser rejects entries. */
export const REQUEST_TYPE = 'concord/request/v1';

/**
 * "A sovereign state's ISO-3166 alpha-2 code" (DESIGN.md), read as: the 193
 * UN member states, the two UN observer states (VA, PS) and Taiwan (TW), a
 * distinct legal system with its own ISO code. Dependent territories (PR, GU,
 * HK, MO, GG, JE, IM, GL, FO, …) are rejected: they answer to a sovereign
 * already listed, and the jurisdiction count exists to stop one state from
 * being counted twice. Kosovo has no ISO 3166-1 code (XK is user-assigned),
 * so it cannot be written. Changing this list changes which policies parse,
 * so it is a protocol change.
 */
export const SOVEREIGN_STATES: ReadonlySet<string> = new Set(
  (
    'AD AE AF AG AL AM AO AR AT AU AZ BA BB BD BE BF BG BH BI BJ BN BO BR BS BT BW BY BZ ' +
    'CA CD CF CG CH CI CL CM CN CO CR CU CV CY CZ DE DJ DK DM DO DZ EC EE EG ER ES ET ' +
    'FI FJ FM FR GA GB GD GE GH GM GN GQ GR GT GW GY HN HR HT HU ID IE IL IN IQ IR IS IT ' +
    'JM JO JP KE KG KH KI KM KN KP KR KW KZ LA LB LC LI LK LR LS LT LU LV LY ' +
    'MA MC MD ME MG MH MK ML MM MN MR MT MU MV MW MX MY MZ NA NE NG NI NL NO NP NR NZ OM ' +
    'PA PE PG PH PK PL PS PT PW PY QA RO RS RU RW SA SB SC SD SE SG SI SK SL SM SN SO SR SS ST SV SY SZ ' +
    'TD TG TH TJ TL TM TN TO TR TT TV TW TZ UA UG US UY UZ VA VC VE VN VU WS YE ZA ZM ZW'
  ).split(' '),
);

export type EntriesErrorCode =
  /** Entry bytes above MAX_ENTRY_SIZE, or a request note above MAX_REQUEST_NOTE_SIZE. */
  | 'too-large'
  /** Not a signed note, or the text breaks the line structure (order, fields, characters, final LF). */
  | 'malformed-entry'
  /** The first line is not one of the four entry types (a request note is not an entry). */
  | 'unknown-type'
  /** A value has another, canonical encoding: unsorted or repeated lines, a non-canonical key string. */
  | 'not-canonical'
  /** An entry or request note does not carry exactly one signature line. */
  | 'bad-signature-count'
  /** A field value is invalid: decimal, base64, hex, length, name. */
  | 'bad-field'
  | 'bad-hash-algorithm'
  /** A verifier key does not parse or has the wrong type for its role. */
  | 'bad-key'
  /** A key's name differs from the name of the org or auditor it belongs to. */
  | 'key-name-mismatch'
  | 'bad-jurisdiction'
  | 'bad-url'
  | 'bad-blinding-key'
  /** A sequence number is 0. */
  | 'bad-sequence'
  /** `previous none` with a sequence above 1, or a leaf with sequence 1. */
  | 'bad-previous'
  /** Counts, roots and digests that contradict each other (see the header). */
  | 'inconsistent-counts'
  /** The one signature line is not by the expected key. */
  | 'wrong-signer'
  /** The one signature line is by the expected key but does not verify. */
  | 'invalid-signature'
  /** A request note's text breaks the request format. */
  | 'malformed-request'
  /** An Authorization header that is not `Concord-Note <canonical base64>`. */
  | 'bad-authorization'
  /** A request note that names another origin, method, path or body. */
  | 'request-mismatch'
  /** A request note whose time is more than REQUEST_MAX_SKEW from the server's clock. */
  | 'stale-request';

export class EntryError extends ConcordError<EntriesErrorCode> {
  override readonly name = 'EntryError';
}

// ---------------------------------------------------------------------------
// Typed values

export interface PolicyOrg {
  name: string;
  /** ISO 3166-1 alpha-2 code of a sovereign state. */
  jurisdiction: string;
  /** Verifier key, type 0x01, named `name`. */
  vkey: string;
}

export interface PolicyAuditor {
  name: string;
  vkey: string;
}

export interface PolicyWitness {
  /** Verifier key, type 0x04 (tlog-cosignature/v1). */
  vkey: string;
  /** tlog-witness submission URL prefix. */
  url: string;
}

export interface PolicyEntry {
  type: 'policy';
  sequence: number;
  /** Leaf of policy n−1; null exactly when sequence is 1. */
  previous: Uint8Array | null;
  /** Log (checkpoint) verifier key, type 0x01, named after the log's origin. */
  log: string;
  /** Operator verifier key, type 0x01, named `<origin>/operator`. */
  operator: string;
  hashAlgorithm: HashAlgorithmId;
  /** ristretto255 public key of the VOPRF. */
  blindingKey: Uint8Array;
  minOrgs: number;
  minJurisdictions: number;
  endorsementQuorum: { orgs: number; jurisdictions: number };
  noticePeriod: number;
  maxCheckpointAge: number;
  maxReleaseAge: number;
  maxEntries: number;
  maxAdded: number;
  oprfLimit: number;
  /** Sorted by name, names distinct. */
  orgs: PolicyOrg[];
  /** Sorted by name, names distinct. */
  auditors: PolicyAuditor[];
  /** Sorted by key string, key strings distinct. */
  witnesses: PolicyWitness[];
  witnessQuorum: number;
}

export interface ContributionEntry {
  type: 'contribution';
  org: string;
  sequence: number;
  /** Leaf of the policy the contribution was made under. */
  policy: Uint8Array;
  set: { root: Uint8Array; count: number };
  /** SHA-256 of the set's blob. */
  blob: Uint8Array;
  expires: number;
}

export interface ReleaseContribution {
  org: string;
  leaf: Uint8Array;
}

export interface ReleaseEntry {
  type: 'release';
  sequence: number;
  /** Leaf of release n−1; null exactly when sequence is 1. */
  previous: Uint8Array | null;
  /** Leaf of the policy in force at this entry's index. */
  policy: Uint8Array;
  /** Sorted by org, orgs distinct. */
  contributions: ReleaseContribution[];
  /** null is "exclude none 0". */
  exclude: { blob: Uint8Array; count: number } | null;
  database: { root: Uint8Array; count: number };
  added: number;
  removed: number;
  blob: Uint8Array;
  expires: number;
}

export interface EndorsementSubject {
  kind: 'release' | 'policy';
  sequence: number;
  leaf: Uint8Array;
}

export interface EndorsementEntry {
  type: 'endorsement';
  org: string;
  subject: EndorsementSubject;
}

export type ConcordEntry = PolicyEntry | ContributionEntry | ReleaseEntry | EndorsementEntry;

/** A parsed entry with the bytes it came from. */
export interface SignedEntry {
  entry: ConcordEntry;
  /** The full signed-note bytes (what the log stores). */
  bytes: Uint8Array;
  /** RFC 6962 leaf hash of `bytes`: how other entries refer to this one. */
  leafHash: Uint8Array;
  /** The one signature line. Not verified by parseSignedEntry. */
  signature: NoteSignature;
  /** The note text (ends with "\n"). */
  text: string;
}

// ---------------------------------------------------------------------------
// Field codecs

const EMPTY_BLOB_DIGEST = sha256(new Uint8Array(0));

function fail(code: EntriesErrorCode, message: string, cause?: unknown): never {
  throw new EntryError(code, message, cause === undefined ? undefined : { cause });
}

function show(s: string): string {
  return JSON.stringify(s.length > 60 ? s.slice(0, 60) + '…' : s);
}

function decimal(s: string, what: string): number {
  try {
    return parseDecimal(s);
  } catch (e) {
    return fail('bad-field', `${what}: not a canonical decimal ≤ 2^53−1: ${show(s)}`, e);
  }
}

function base64Exact(s: string, length: number, what: string): Uint8Array {
  try {
    return fromBase64(s, length);
  } catch (e) {
    return fail('bad-field', `${what}: want canonical base64 of ${length} bytes: ${show(s)}`, e);
  }
}

function hash32(s: string, what: string): Uint8Array {
  return base64Exact(s, 32, what);
}

function formatDigest(d: Uint8Array): string {
  return 'sha256:' + toHex(d);
}

function parseDigest(s: string, what: string): Uint8Array {
  if (!s.startsWith('sha256:')) fail('bad-field', `${what}: want sha256:<hex>: ${show(s)}`);
  try {
    return fromHex(s.slice(7), 32);
  } catch (e) {
    return fail('bad-field', `${what}: want 64 lowercase hex digits: ${show(s)}`, e);
  }
}

const NAME_RE = /^[\x21-\x2a\x2c-\x7e]+$/; // printable ASCII, no space, no '+'

function checkName(s: string, what: string): string {
  if (!NAME_RE.test(s)) fail('bad-field', `${what}: names are printable ASCII without spaces or '+': ${show(s)}`);
  return s;
}

function checkSequence(n: number, what: string): number {
  if (n < 1) fail('bad-sequence', `${what}: sequences start at 1`);
  return n;
}

/** The canonical string of a verifier key: name+hex8+base64(type ‖ key). */
function canonicalVerifierKey(name: string, keyHash: number, type: number, publicKey: Uint8Array): string {
  return `${name}+${(keyHash >>> 0).toString(16).padStart(8, '0')}+${toBase64(concatBytes(Uint8Array.of(type), publicKey))}`;
}

/**
 * Parses a verifier key string that must have the given type and a 32-byte
 * Ed25519 public key, in canonical form. Returns the key's name.
 */
function checkVerifierKey(s: string, type: 0x01 | 0x04, what: string): string {
  let k: ReturnType<typeof parseVerifierKey>;
  try {
    k = parseVerifierKey(s);
  } catch (e) {
    return fail('bad-key', `${what}: not a verifier key: ${show(s)}`, e);
  }
  if (k.type !== type) fail('bad-key', `${what}: key type 0x${k.type.toString(16)}, want 0x0${type}`);
  if (k.publicKey.length !== 32) fail('bad-key', `${what}: public key is not 32 bytes`);
  if (canonicalVerifierKey(k.name, k.keyHash, k.type, k.publicKey) !== s) {
    fail('not-canonical', `${what}: key string is not in canonical form: ${show(s)}`);
  }
  return k.name;
}

function checkJurisdiction(s: string, what: string): string {
  if (!/^[A-Z]{2}$/.test(s)) fail('bad-jurisdiction', `${what}: want two uppercase letters: ${show(s)}`);
  if (!SOVEREIGN_STATES.has(s)) fail('bad-jurisdiction', `${what}: ${s} is not a sovereign state's ISO 3166-1 code`);
  return s;
}

function checkWitnessUrl(s: string, what: string): string {
  if (!/^https?:\/\/[\x21-\x7e]+$/.test(s)) {
    fail('bad-url', `${what}: want an absolute http:// or https:// URL of printable ASCII: ${show(s)}`);
  }
  let u: URL;
  try {
    u = new URL(s);
  } catch (e) {
    return fail('bad-url', `${what}: not a URL: ${show(s)}`, e);
  }
  if (u.hostname === '') fail('bad-url', `${what}: URL has no host`);
  if (u.username !== '' || u.password !== '') fail('bad-url', `${what}: URL carries credentials`);
  if (s.includes('#')) fail('bad-url', `${what}: URL has a fragment`);
  return s;
}

function checkBlindingKey(b: Uint8Array): void {
  let identity: boolean;
  try {
    identity = ristretto255.Point.fromBytes(b).is0();
  } catch (e) {
    return fail('bad-blinding-key', 'blinding-key: not a canonical ristretto255 encoding', e);
  }
  if (identity) fail('bad-blinding-key', 'blinding-key: the identity element');
}

/** count 0 ⇔ empty-tree root (and, where given, the empty blob's digest). */
function checkEmptyConsistency(what: string, count: number, root: Uint8Array, blob?: Uint8Array): void {
  const emptyRoot = equalBytes(root, EMPTY_ROOT);
  if ((count === 0) !== emptyRoot) fail('inconsistent-counts', `${what}: count 0 exactly when the root is the empty-tree root`);
  if (blob !== undefined && count === 0 && !equalBytes(blob, EMPTY_BLOB_DIGEST)) {
    fail('inconsistent-counts', `${what}: an empty set's blob is the empty string`);
  }
}

// ---------------------------------------------------------------------------
// Line reader

/** Splits note text into lines of single-space-separated tokens, checking the shared rules. */
function splitLines(text: string, malformed: 'malformed-entry' | 'malformed-request'): string[][] {
  if (!text.endsWith('\n')) fail(malformed, 'text does not end with a newline');
  if (!/^[\x20-\x7e\n]*$/.test(text)) fail(malformed, 'text holds characters other than printable ASCII and LF');
  const lines = text.slice(0, -1).split('\n');
  return lines.map((line, i) => {
    if (line === '') fail(malformed, `line ${i + 1} is empty`);
    const tokens = line.split(' ');
    if (tokens.some((t) => t === '')) fail(malformed, `line ${i + 1} has leading, trailing or double spaces`);
    return tokens;
  });
}

class Lines {
  private i = 1; // line 0 is the type line
  constructor(
    private readonly lines: readonly string[][],
    private readonly malformed: 'malformed-entry' | 'malformed-request',
  ) {}

  /** The key of the next line, or undefined at the end. */
  peek(): string | undefined {
    return this.lines[this.i]?.[0];
  }

  /** The n values of the next line, which must have this key. */
  take(key: string, n: number): string[] {
    const line = this.lines[this.i];
    if (line === undefined) fail(this.malformed, `missing "${key}" line`);
    if (line[0] !== key) fail(this.malformed, `line ${this.i + 1}: want "${key}", got ${show(line[0]!)}`);
    if (line.length !== n + 1) fail(this.malformed, `line ${this.i + 1}: "${key}" takes ${n} value(s)`);
    this.i++;
    return line.slice(1);
  }

  take1(key: string): string {
    return this.take(key, 1)[0]!;
  }

  /** Every consecutive line with this key. */
  takeAll(key: string, n: number): string[][] {
    const out: string[][] = [];
    while (this.peek() === key) out.push(this.take(key, n));
    return out;
  }

  end(): void {
    if (this.i !== this.lines.length) fail(this.malformed, `line ${this.i + 1}: unexpected ${show(this.lines[this.i]![0]!)}`);
  }
}

function strictlyAscending(keys: readonly string[], what: string): void {
  for (let i = 1; i < keys.length; i++) {
    // Every field is ASCII, so UTF-16 code unit order is byte order.
    if (!(keys[i - 1]! < keys[i]!)) fail('not-canonical', `${what} lines are not in strictly ascending order`);
  }
}

function parsePrevious(s: string, sequence: number, what: string): Uint8Array | null {
  if (s === 'none') {
    if (sequence !== 1) fail('bad-previous', `${what}: "previous none" with sequence ${sequence}`);
    return null;
  }
  const leaf = hash32(s, `${what} previous`);
  if (sequence === 1) fail('bad-previous', `${what}: sequence 1 has "previous none"`);
  return leaf;
}

// ---------------------------------------------------------------------------
// Parsing entry text

function parsePolicy(r: Lines): PolicyEntry {
  const sequence = checkSequence(decimal(r.take1('sequence'), 'sequence'), 'policy');
  const previous = parsePrevious(r.take1('previous'), sequence, 'policy');
  const log = r.take1('log');
  checkVerifierKey(log, 0x01, 'log');
  const operator = r.take1('operator');
  checkVerifierKey(operator, 0x01, 'operator');
  const ha = r.take1('hash-algorithm');
  if (!isHashAlgorithmId(ha)) fail('bad-hash-algorithm', `unknown hash algorithm ${show(ha)}`);
  const blindingKey = base64Exact(r.take1('blinding-key'), 32, 'blinding-key');
  checkBlindingKey(blindingKey);
  const minOrgs = decimal(r.take1('min-orgs'), 'min-orgs');
  const minJurisdictions = decimal(r.take1('min-jurisdictions'), 'min-jurisdictions');
  const [qk, qj] = r.take('endorsement-quorum', 2) as [string, string];
  const endorsementQuorum = { orgs: decimal(qk, 'endorsement-quorum'), jurisdictions: decimal(qj, 'endorsement-quorum') };
  const noticePeriod = decimal(r.take1('notice-period'), 'notice-period');
  const maxCheckpointAge = decimal(r.take1('max-checkpoint-age'), 'max-checkpoint-age');
  const maxReleaseAge = decimal(r.take1('max-release-age'), 'max-release-age');
  const maxEntries = decimal(r.take1('max-entries'), 'max-entries');
  const maxAdded = decimal(r.take1('max-added'), 'max-added');
  const oprfLimit = decimal(r.take1('oprf-limit'), 'oprf-limit');

  const orgs = r.takeAll('org', 3).map(([name, jurisdiction, vkey]): PolicyOrg => {
    checkName(name!, 'org');
    checkJurisdiction(jurisdiction!, `org ${name}`);
    const keyName = checkVerifierKey(vkey!, 0x01, `org ${name}`);
    if (keyName !== name) fail('key-name-mismatch', `org ${show(name!)} has a key named ${show(keyName)}`);
    return { name: name!, jurisdiction: jurisdiction!, vkey: vkey! };
  });
  strictlyAscending(
    orgs.map((o) => o.name),
    'org',
  );
  const auditors = r.takeAll('auditor', 2).map(([name, vkey]): PolicyAuditor => {
    checkName(name!, 'auditor');
    const keyName = checkVerifierKey(vkey!, 0x01, `auditor ${name}`);
    if (keyName !== name) fail('key-name-mismatch', `auditor ${show(name!)} has a key named ${show(keyName)}`);
    return { name: name!, vkey: vkey! };
  });
  strictlyAscending(
    auditors.map((a) => a.name),
    'auditor',
  );
  const witnesses = r.takeAll('witness', 2).map(([vkey, url]): PolicyWitness => {
    checkVerifierKey(vkey!, 0x04, 'witness');
    checkWitnessUrl(url!, 'witness');
    return { vkey: vkey!, url: url! };
  });
  strictlyAscending(
    witnesses.map((w) => w.vkey),
    'witness',
  );
  const witnessQuorum = decimal(r.take1('witness-quorum'), 'witness-quorum');
  r.end();
  return {
    type: 'policy',
    sequence,
    previous,
    log,
    operator,
    hashAlgorithm: ha,
    blindingKey,
    minOrgs,
    minJurisdictions,
    endorsementQuorum,
    noticePeriod,
    maxCheckpointAge,
    maxReleaseAge,
    maxEntries,
    maxAdded,
    oprfLimit,
    orgs,
    auditors,
    witnesses,
    witnessQuorum,
  };
}

function parseContribution(r: Lines): ContributionEntry {
  const org = checkName(r.take1('org'), 'org');
  const sequence = checkSequence(decimal(r.take1('sequence'), 'sequence'), 'contribution');
  const policy = hash32(r.take1('policy'), 'policy');
  const [root, count] = r.take('set', 2) as [string, string];
  const set = { root: hash32(root, 'set root'), count: decimal(count, 'set count') };
  const blob = parseDigest(r.take1('blob'), 'blob');
  const expires = decimal(r.take1('expires'), 'expires');
  r.end();
  checkEmptyConsistency('set', set.count, set.root, blob);
  return { type: 'contribution', org, sequence, policy, set, blob, expires };
}

function parseRelease(r: Lines): ReleaseEntry {
  const sequence = checkSequence(decimal(r.take1('sequence'), 'sequence'), 'release');
  const previous = parsePrevious(r.take1('previous'), sequence, 'release');
  const policy = hash32(r.take1('policy'), 'policy');
  const contributions = r.takeAll('contribution', 2).map(([org, leaf]): ReleaseContribution => ({
    org: checkName(org!, 'contribution org'),
    leaf: hash32(leaf!, `contribution ${org}`),
  }));
  strictlyAscending(
    contributions.map((c) => c.org),
    'contribution',
  );
  const [exBlob, exCount] = r.take('exclude', 2) as [string, string];
  let exclude: ReleaseEntry['exclude'];
  if (exBlob === 'none') {
    if (exCount !== '0') fail('inconsistent-counts', 'exclude: "none" goes with count 0');
    exclude = null;
  } else {
    exclude = { blob: parseDigest(exBlob, 'exclude'), count: decimal(exCount, 'exclude count') };
    if (exclude.count === 0) fail('not-canonical', 'exclude: an empty exclusion is written "exclude none 0"');
  }
  const [dbRoot, dbCount] = r.take('database', 2) as [string, string];
  const database = { root: hash32(dbRoot, 'database root'), count: decimal(dbCount, 'database count') };
  const added = decimal(r.take1('added'), 'added');
  const removed = decimal(r.take1('removed'), 'removed');
  const blob = parseDigest(r.take1('blob'), 'blob');
  const expires = decimal(r.take1('expires'), 'expires');
  r.end();
  checkEmptyConsistency('database', database.count, database.root, blob);
  if (added > database.count) fail('inconsistent-counts', 'added exceeds the database count');
  if (sequence === 1 && (added !== database.count || removed !== 0)) {
    fail('inconsistent-counts', 'release 1 adds its whole database and removes nothing');
  }
  return { type: 'release', sequence, previous, policy, contributions, exclude, database, added, removed, blob, expires };
}

function parseEndorsement(r: Lines): EndorsementEntry {
  const org = checkName(r.take1('org'), 'org');
  const [kind, seq, leaf] = r.take('subject', 3) as [string, string, string];
  if (kind !== 'release' && kind !== 'policy') fail('bad-field', `subject: want release or policy, got ${show(kind)}`);
  const sequence = checkSequence(decimal(seq, 'subject sequence'), 'subject');
  const subject: EndorsementSubject = { kind, sequence, leaf: hash32(leaf, 'subject leaf') };
  r.end();
  return { type: 'endorsement', org, subject };
}

/**
 * Parses the text of an entry note (without the signature block). Strict:
 * the text must be exactly what formatEntryText writes for the result.
 */
export function parseEntryText(text: string): ConcordEntry {
  if (typeof text !== 'string') fail('malformed-entry', 'entry text is not a string');
  if (text.length > MAX_ENTRY_SIZE) fail('too-large', `entry text exceeds ${MAX_ENTRY_SIZE} bytes`);
  const lines = splitLines(text, 'malformed-entry');
  const type = lines[0]!.join(' ');
  const r = new Lines(lines, 'malformed-entry');
  let entry: ConcordEntry;
  switch (type) {
    case ENTRY_TYPES.policy:
      entry = parsePolicy(r);
      break;
    case ENTRY_TYPES.contribution:
      entry = parseContribution(r);
      break;
    case ENTRY_TYPES.release:
      entry = parseRelease(r);
      break;
    case ENTRY_TYPES.endorsement:
      entry = parseEndorsement(r);
      break;
    case REQUEST_TYPE:
      return fail('unknown-type', 'a request note is not a log entry');
    default:
      return fail('unknown-type', `unknown entry type ${show(type)}`);
  }
  // Belt and braces: the parser above is meant to accept only canonical
  // text; re-formatting proves it for this input.
  if (formatText(entry) !== text) fail('not-canonical', 'entry text is not in canonical form');
  return entry;
}

// ---------------------------------------------------------------------------
// Formatting entry text

function formatText(e: ConcordEntry): string {
  const L: string[] = [];
  const leaf = (b: Uint8Array): string => toBase64(b);
  switch (e.type) {
    case 'policy':
      L.push(ENTRY_TYPES.policy);
      L.push(`sequence ${e.sequence}`);
      L.push(`previous ${e.previous === null ? 'none' : leaf(e.previous)}`);
      L.push(`log ${e.log}`);
      L.push(`operator ${e.operator}`);
      L.push(`hash-algorithm ${e.hashAlgorithm}`);
      L.push(`blinding-key ${toBase64(e.blindingKey)}`);
      L.push(`min-orgs ${e.minOrgs}`);
      L.push(`min-jurisdictions ${e.minJurisdictions}`);
      L.push(`endorsement-quorum ${e.endorsementQuorum.orgs} ${e.endorsementQuorum.jurisdictions}`);
      L.push(`notice-period ${e.noticePeriod}`);
      L.push(`max-checkpoint-age ${e.maxCheckpointAge}`);
      L.push(`max-release-age ${e.maxReleaseAge}`);
      L.push(`max-entries ${e.maxEntries}`);
      L.push(`max-added ${e.maxAdded}`);
      L.push(`oprf-limit ${e.oprfLimit}`);
      for (const o of e.orgs) L.push(`org ${o.name} ${o.jurisdiction} ${o.vkey}`);
      for (const a of e.auditors) L.push(`auditor ${a.name} ${a.vkey}`);
      for (const w of e.witnesses) L.push(`witness ${w.vkey} ${w.url}`);
      L.push(`witness-quorum ${e.witnessQuorum}`);
      break;
    case 'contribution':
      L.push(ENTRY_TYPES.contribution);
      L.push(`org ${e.org}`);
      L.push(`sequence ${e.sequence}`);
      L.push(`policy ${leaf(e.policy)}`);
      L.push(`set ${leaf(e.set.root)} ${e.set.count}`);
      L.push(`blob ${formatDigest(e.blob)}`);
      L.push(`expires ${e.expires}`);
      break;
    case 'release':
      L.push(ENTRY_TYPES.release);
      L.push(`sequence ${e.sequence}`);
      L.push(`previous ${e.previous === null ? 'none' : leaf(e.previous)}`);
      L.push(`policy ${leaf(e.policy)}`);
      for (const c of e.contributions) L.push(`contribution ${c.org} ${leaf(c.leaf)}`);
      L.push(e.exclude === null ? 'exclude none 0' : `exclude ${formatDigest(e.exclude.blob)} ${e.exclude.count}`);
      L.push(`database ${leaf(e.database.root)} ${e.database.count}`);
      L.push(`added ${e.added}`);
      L.push(`removed ${e.removed}`);
      L.push(`blob ${formatDigest(e.blob)}`);
      L.push(`expires ${e.expires}`);
      break;
    case 'endorsement':
      L.push(ENTRY_TYPES.endorsement);
      L.push(`org ${e.org}`);
      L.push(`subject ${e.subject.kind} ${e.subject.sequence} ${leaf(e.subject.leaf)}`);
      break;
    default:
      fail('unknown-type', 'unknown entry type');
  }
  return L.join('\n') + '\n';
}

/**
 * Formats an entry's note text. The result is validated by parsing it back,
 * so an invalid value (unsorted lines, a bad key, a wrong length, a
 * non-integer number, …) throws the same EntryError the parser would.
 */
export function formatEntryText(e: ConcordEntry): string {
  let text: string;
  try {
    text = formatText(e);
  } catch (err) {
    if (err instanceof EntryError) throw err;
    return fail('bad-field', 'entry value has a field of the wrong type', err);
  }
  parseEntryText(text);
  return text;
}

// ---------------------------------------------------------------------------
// Signed entries

function noteToEntryError(e: unknown, malformed: 'malformed-entry' | 'malformed-request'): never {
  if (e instanceof NoteError) {
    if (e.code === 'too-many-signatures') fail('bad-signature-count', e.message, e);
    if (e.code === 'too-large') fail('too-large', e.message, e);
    fail(malformed, `not a signed note: ${e.message}`, e);
  }
  if (e instanceof EncodingError) fail(malformed, `not a signed note: ${e.message}`, e);
  throw e;
}

/**
 * Parses a log entry's bytes: a signed note of at most MAX_ENTRY_SIZE bytes
 * with exactly one signature line and canonical entry text. Checks structure
 * only; no signature is verified (see verifyEntrySignature and policy.ts).
 */
export function parseSignedEntry(bytes: Uint8Array): SignedEntry {
  if (!(bytes instanceof Uint8Array)) fail('malformed-entry', 'entry is not a byte array');
  if (bytes.length > MAX_ENTRY_SIZE) fail('too-large', `entry is ${bytes.length} bytes, above ${MAX_ENTRY_SIZE}`);
  let note: ReturnType<typeof parseNote>;
  try {
    note = parseNote(bytes);
  } catch (e) {
    return noteToEntryError(e, 'malformed-entry');
  }
  if (note.signatures.length !== 1) {
    fail('bad-signature-count', `an entry carries exactly one signature, this one ${note.signatures.length}`);
  }
  const signature = note.signatures[0]!;
  const entry = parseEntryText(note.text);
  // One encoding per entry: the bytes must be exactly text, blank line, the one signature line.
  if (!equalBytes(bytes, utf8(`${note.text}\n${signature.line}\n`))) {
    fail('not-canonical', 'entry bytes are not text, blank line and one signature line');
  }
  return { entry, bytes, leafHash: leafHash(bytes), signature, text: note.text };
}

/** Signs an entry with its author's key; org entries must be signed by the org's own key. */
export function signEntry(entry: ConcordEntry, signer: Signer): Uint8Array {
  const text = formatEntryText(entry);
  if ((entry.type === 'contribution' || entry.type === 'endorsement') && signer.name !== entry.org) {
    fail('wrong-signer', `an entry of org ${show(entry.org)} signed by key ${show(signer.name)}`);
  }
  const bytes = signNote(text, [signer]);
  if (bytes.length > MAX_ENTRY_SIZE) fail('too-large', `entry would be ${bytes.length} bytes, above ${MAX_ENTRY_SIZE}`);
  return bytes;
}

export interface VerifyOptions {
  /** Native Ed25519 verification (e.g. node:crypto on the server); defaults to noble. */
  ed25519Verify?: Ed25519Verify;
}

function verifyOne(
  text: string,
  signature: NoteSignature,
  vkey: string,
  opts: VerifyOptions | undefined,
): void {
  let v: ReturnType<typeof newVerifier>;
  try {
    v = newVerifier(vkey, opts?.ed25519Verify ? { ed25519Verify: opts.ed25519Verify } : undefined);
  } catch (e) {
    return fail('bad-key', `not a type 0x01 verifier key: ${show(vkey)}`, e);
  }
  if (signature.name !== v.name || signature.keyHash !== v.keyHash) {
    fail('wrong-signer', `signed by ${show(signature.name)}, want ${show(v.name)}`);
  }
  if (!v.verify(utf8(text), signature.signature)) {
    fail('invalid-signature', `signature by ${show(v.name)} does not verify`);
  }
}

/**
 * Checks that the entry's one signature is by exactly this key (name and key
 * ID) and verifies. Throws 'wrong-signer' or 'invalid-signature'.
 */
export function verifyEntrySignature(se: SignedEntry, vkey: string, opts?: VerifyOptions): void {
  verifyOne(se.text, se.signature, vkey, opts);
}

// ---------------------------------------------------------------------------
// Request notes

export interface RequestNote {
  /** The log's origin, so a request for one log is useless at another. */
  origin: string;
  /** HTTP method, uppercase. */
  method: string;
  /** Request target path (with query, if any), starting with '/'. */
  path: string;
  /** SHA-256 of the request body. */
  bodySha256: Uint8Array;
  /** Unix seconds. */
  time: number;
  /** 16 random bytes; the server refuses a nonce seen in the last REQUEST_NONCE_TTL seconds. */
  nonce: Uint8Array;
}

export function formatRequestText(r: RequestNote): string {
  let text: string;
  try {
    text =
      `${REQUEST_TYPE}\norigin ${r.origin}\nmethod ${r.method}\npath ${r.path}\n` +
      `body ${formatDigest(r.bodySha256)}\ntime ${r.time}\nnonce ${toBase64(r.nonce)}\n`;
  } catch (err) {
    return fail('bad-field', 'request value has a field of the wrong type', err);
  }
  parseRequestText(text);
  return text;
}

export function parseRequestText(text: string): RequestNote {
  if (typeof text !== 'string') fail('malformed-request', 'request text is not a string');
  if (text.length > MAX_REQUEST_NOTE_SIZE) fail('too-large', `request text exceeds ${MAX_REQUEST_NOTE_SIZE} bytes`);
  const lines = splitLines(text, 'malformed-request');
  const type = lines[0]!.join(' ');
  if (type !== REQUEST_TYPE) fail('unknown-type', `not a request note: ${show(type)}`);
  const r = new Lines(lines, 'malformed-request');
  const origin = r.take1('origin');
  const method = r.take1('method');
  if (!/^[A-Z]{1,16}$/.test(method)) fail('bad-field', `method: want an uppercase HTTP method: ${show(method)}`);
  const path = r.take1('path');
  if (!path.startsWith('/')) fail('bad-field', `path: must start with "/": ${show(path)}`);
  const bodySha256 = parseDigest(r.take1('body'), 'body');
  const time = decimal(r.take1('time'), 'time');
  const nonce = base64Exact(r.take1('nonce'), 16, 'nonce');
  r.end();
  return { origin, method, path, bodySha256, time, nonce };
}

/** A parsed `Authorization: Concord-Note <base64>` header. Not yet verified. */
export interface RequestAuthorization {
  request: RequestNote;
  /** The signed note's bytes. */
  note: Uint8Array;
  text: string;
  signature: NoteSignature;
}

export const AUTHORIZATION_SCHEME = 'Concord-Note';

/** Signs a request; returns the base64 of the signed note (the header value after the scheme). */
export function signRequest(r: RequestNote, signer: Signer): string {
  return toBase64(signNote(formatRequestText(r), [signer]));
}

/** The full Authorization header value: `Concord-Note <base64 of the signed note>`. */
export function authorizationHeader(r: RequestNote, signer: Signer): string {
  return `${AUTHORIZATION_SCHEME} ${signRequest(r, signer)}`;
}

/**
 * Parses an Authorization header value. The scheme is matched
 * case-insensitively (RFC 9110 §11.1), followed by one space and canonical
 * base64 of a signed note with exactly one signature and request text.
 */
export function parseAuthorizationHeader(value: string): RequestAuthorization {
  if (typeof value !== 'string') fail('bad-authorization', 'header value is not a string');
  const sp = value.indexOf(' ');
  if (sp < 0 || value.slice(0, sp).toLowerCase() !== AUTHORIZATION_SCHEME.toLowerCase()) {
    fail('bad-authorization', `want "${AUTHORIZATION_SCHEME} <base64>"`);
  }
  const b64 = value.slice(sp + 1);
  if (b64.length > Math.ceil(MAX_REQUEST_NOTE_SIZE / 3) * 4) fail('too-large', 'request note too large');
  let note: Uint8Array;
  try {
    note = fromBase64(b64);
  } catch (e) {
    return fail('bad-authorization', 'request note is not canonical base64', e);
  }
  if (note.length > MAX_REQUEST_NOTE_SIZE) fail('too-large', 'request note too large');
  let parsed: ReturnType<typeof parseNote>;
  try {
    parsed = parseNote(note);
  } catch (e) {
    return noteToEntryError(e, 'malformed-request');
  }
  if (parsed.signatures.length !== 1) {
    fail('bad-signature-count', `a request carries exactly one signature, this one ${parsed.signatures.length}`);
  }
  const signature = parsed.signatures[0]!;
  const request = parseRequestText(parsed.text);
  if (!equalBytes(note, utf8(`${parsed.text}\n${signature.line}\n`))) {
    fail('not-canonical', 'request note bytes are not text, blank line and one signature line');
  }
  return { request, note, text: parsed.text, signature };
}

/** Checks that the request's one signature is by exactly this key and verifies. */
export function verifyRequestSignature(auth: RequestAuthorization, vkey: string, opts?: VerifyOptions): void {
  verifyOne(auth.text, auth.signature, vkey, opts);
}

/**
 * Checks that a request note authorises this very HTTP request at time `now`
 * (unix seconds): same origin, method, path and body digest, and |time − now|
 * ≤ REQUEST_MAX_SKEW. Nonce replay is the server's to check (it must remember
 * nonces for REQUEST_NONCE_TTL seconds, across restarts).
 */
export function checkRequest(
  r: RequestNote,
  want: { origin: string; method: string; path: string; body: Uint8Array; now: number },
): void {
  if (r.origin !== want.origin) fail('request-mismatch', `request is for origin ${show(r.origin)}`);
  if (r.method !== want.method) fail('request-mismatch', `request is for method ${show(r.method)}`);
  if (r.path !== want.path) fail('request-mismatch', `request is for path ${show(r.path)}`);
  if (!equalBytes(r.bodySha256, sha256(want.body))) fail('request-mismatch', 'request is for another body');
  // Differences of two safe non-negative integers are exact.
  if (Math.abs(r.time - want.now) > REQUEST_MAX_SKEW) {
    fail('stale-request', `request time ${r.time} is more than ${REQUEST_MAX_SKEW} s from ${want.now}`);
  }
}
