// Tests for entries.ts: exact encodings written out by hand from DESIGN.md,
// one test per rule that breaks exactly that rule, round-trip properties over
// generated entries of every type, and mutated / random input that must only
// ever produce EntryError.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ristretto255 } from '@noble/curves/ed25519.js';
import {
  ENTRY_TYPES,
  EntryError,
  HASH_ALGORITHMS,
  MAX_ENTRY_SIZE,
  REQUEST_MAX_SKEW,
  SOVEREIGN_STATES,
  authorizationHeader,
  checkRequest,
  formatEntryText,
  formatRequestText,
  parseAuthorizationHeader,
  parseEntryText,
  parseRequestText,
  parseSignedEntry,
  signEntry,
  signRequest,
  verifyEntrySignature,
  verifyRequestSignature,
  type ConcordEntry,
  type ContributionEntry,
  type EndorsementEntry,
  type PolicyEntry,
  type ReleaseEntry,
  type RequestNote,
} from '@concord/client-sdk/entries';
import { generateKey, newSigner, signNote } from '@concord/client-sdk/note';
import { generateCosignatureKey } from '@concord/client-sdk/cosignature';
import { EMPTY_ROOT } from '@concord/client-sdk/merkle';
import { fromBase64, toBase64, toHex, utf8 } from '@concord/client-sdk/bytes';

// ---------------------------------------------------------------------------
// Fixtures: deterministic keys

const ORIGIN = 'example.org/concord';

function seed(label: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`concord test seed ${label}`).digest());
}

function nodeSha256(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(b).digest());
}

const LOG = generateKey(ORIGIN, seed('log'));
const OPERATOR = generateKey(`${ORIGIN}/operator`, seed('operator'));
const ORGS = {
  cybertip: { ...generateKey('cybertip', seed('cybertip')), jurisdiction: 'CA' },
  iwf: { ...generateKey('iwf', seed('iwf')), jurisdiction: 'GB' },
  ncmec: { ...generateKey('ncmec', seed('ncmec')), jurisdiction: 'US' },
};
const AUDITOR = generateKey('press.example', seed('auditor'));
const WITNESSES = ['w1.example', 'w2.example', 'w3.example', 'w4.example'].map((n) => ({
  ...generateCosignatureKey(n, seed(n)),
  url: `https://${n}/tlog-witness/`,
}));
const BLINDING = ristretto255.Point.BASE.multiply(123456789n).toBytes();

function hash(label: string): Uint8Array {
  return nodeSha256(utf8(label));
}

const P1_LEAF = hash('policy 1 leaf');
const SET_ROOT = hash('set root');
const BLOB = hash('blob');
const EMPTY_BLOB = nodeSha256(new Uint8Array(0));

const sortedWitnesses = [...WITNESSES].sort((a, b) => (a.vkey < b.vkey ? -1 : 1));

/** The policy text, written out line by line from DESIGN.md. */
const POLICY_TEXT =
  'concord/policy/v1\n' +
  'sequence 2\n' +
  `previous ${toBase64(P1_LEAF)}\n` +
  `log ${LOG.vkey}\n` +
  `operator ${OPERATOR.vkey}\n` +
  'hash-algorithm neuralhash-96\n' +
  `blinding-key ${toBase64(BLINDING)}\n` +
  'min-orgs 2\n' +
  'min-jurisdictions 2\n' +
  'endorsement-quorum 2 2\n' +
  'notice-period 604800\n' +
  'max-checkpoint-age 86400\n' +
  'max-release-age 2592000\n' +
  'max-entries 1000000\n' +
  'max-added 10000\n' +
  'oprf-limit 100000\n' +
  `org cybertip CA ${ORGS.cybertip.vkey}\n` +
  `org iwf GB ${ORGS.iwf.vkey}\n` +
  `org ncmec US ${ORGS.ncmec.vkey}\n` +
  `auditor press.example ${AUDITOR.vkey}\n` +
  sortedWitnesses.map((w) => `witness ${w.vkey} ${w.url}\n`).join('') +
  'witness-quorum 3\n';

const POLICY: PolicyEntry = {
  type: 'policy',
  sequence: 2,
  previous: P1_LEAF,
  log: LOG.vkey,
  operator: OPERATOR.vkey,
  hashAlgorithm: 'neuralhash-96',
  blindingKey: BLINDING,
  minOrgs: 2,
  minJurisdictions: 2,
  endorsementQuorum: { orgs: 2, jurisdictions: 2 },
  noticePeriod: 604800,
  maxCheckpointAge: 86400,
  maxReleaseAge: 2592000,
  maxEntries: 1000000,
  maxAdded: 10000,
  oprfLimit: 100000,
  orgs: [
    { name: 'cybertip', jurisdiction: 'CA', vkey: ORGS.cybertip.vkey },
    { name: 'iwf', jurisdiction: 'GB', vkey: ORGS.iwf.vkey },
    { name: 'ncmec', jurisdiction: 'US', vkey: ORGS.ncmec.vkey },
  ],
  auditors: [{ name: 'press.example', vkey: AUDITOR.vkey }],
  witnesses: sortedWitnesses.map((w) => ({ vkey: w.vkey, url: w.url })),
  witnessQuorum: 3,
};

const CONTRIBUTION_TEXT =
  'concord/contribution/v1\n' +
  'org ncmec\n' +
  'sequence 7\n' +
  `policy ${toBase64(P1_LEAF)}\n` +
  `set ${toBase64(SET_ROOT)} 4321\n` +
  `blob sha256:${toHex(BLOB)}\n` +
  'expires 1767225600\n';

const CONTRIBUTION: ContributionEntry = {
  type: 'contribution',
  org: 'ncmec',
  sequence: 7,
  policy: P1_LEAF,
  set: { root: SET_ROOT, count: 4321 },
  blob: BLOB,
  expires: 1767225600,
};

const RELEASE_TEXT =
  'concord/release/v1\n' +
  'sequence 3\n' +
  `previous ${toBase64(hash('release 2'))}\n` +
  `policy ${toBase64(P1_LEAF)}\n` +
  `contribution iwf ${toBase64(hash('c iwf'))}\n` +
  `contribution ncmec ${toBase64(hash('c ncmec'))}\n` +
  `exclude sha256:${toHex(hash('exclude'))} 2\n` +
  `database ${toBase64(hash('db'))} 1200\n` +
  'added 30\n' +
  'removed 5\n' +
  `blob sha256:${toHex(hash('db blob'))}\n` +
  'expires 1767225600\n';

const RELEASE: ReleaseEntry = {
  type: 'release',
  sequence: 3,
  previous: hash('release 2'),
  policy: P1_LEAF,
  contributions: [
    { org: 'iwf', leaf: hash('c iwf') },
    { org: 'ncmec', leaf: hash('c ncmec') },
  ],
  exclude: { blob: hash('exclude'), count: 2 },
  database: { root: hash('db'), count: 1200 },
  added: 30,
  removed: 5,
  blob: hash('db blob'),
  expires: 1767225600,
};

const ENDORSEMENT_TEXT = 'concord/endorsement/v1\n' + 'org iwf\n' + `subject release 3 ${toBase64(hash('release 3'))}\n`;

const ENDORSEMENT: EndorsementEntry = {
  type: 'endorsement',
  org: 'iwf',
  subject: { kind: 'release', sequence: 3, leaf: hash('release 3') },
};

/** Expects fn to throw an EntryError with this code. */
function throwsCode(fn: () => unknown, code: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected EntryError ${code}`).toBeInstanceOf(EntryError);
  expect((err as EntryError).code, (err as Error).message).toBe(code);
}

/** Replaces the first line starting with `key ` (or equal to `key`) in text. */
function withLine(text: string, key: string, line: string | null): string {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l === key || l.startsWith(key + ' '));
  if (i < 0) throw new Error(`no line ${key}`);
  if (line === null) lines.splice(i, 1);
  else lines[i] = line;
  return lines.join('\n');
}

// ---------------------------------------------------------------------------

describe('exact encodings', () => {
  it('policy', () => {
    expect(parseEntryText(POLICY_TEXT)).toEqual(POLICY);
    expect(formatEntryText(POLICY)).toBe(POLICY_TEXT);
  });
  it('contribution', () => {
    expect(parseEntryText(CONTRIBUTION_TEXT)).toEqual(CONTRIBUTION);
    expect(formatEntryText(CONTRIBUTION)).toBe(CONTRIBUTION_TEXT);
  });
  it('release', () => {
    expect(parseEntryText(RELEASE_TEXT)).toEqual(RELEASE);
    expect(formatEntryText(RELEASE)).toBe(RELEASE_TEXT);
  });
  it('release with no exclusion and release 1', () => {
    const r1: ReleaseEntry = { ...RELEASE, sequence: 1, previous: null, exclude: null, added: 1200, removed: 0 };
    const text = RELEASE_TEXT.replace('sequence 3\n', 'sequence 1\n')
      .replace(/previous .*\n/, 'previous none\n')
      .replace(/exclude .*\n/, 'exclude none 0\n')
      .replace('added 30\n', 'added 1200\n')
      .replace('removed 5\n', 'removed 0\n');
    expect(formatEntryText(r1)).toBe(text);
    expect(parseEntryText(text)).toEqual(r1);
  });
  it('endorsement', () => {
    expect(parseEntryText(ENDORSEMENT_TEXT)).toEqual(ENDORSEMENT);
    expect(formatEntryText(ENDORSEMENT)).toBe(ENDORSEMENT_TEXT);
    const policySubject = ENDORSEMENT_TEXT.replace('subject release', 'subject policy');
    expect(parseEntryText(policySubject)).toEqual({ ...ENDORSEMENT, subject: { ...ENDORSEMENT.subject, kind: 'policy' } });
  });
  it('hash algorithm table', () => {
    expect(HASH_ALGORITHMS).toEqual({ 'neuralhash-96': 12, 'pdq-256': 32, 'photodna-1152': 144 });
    for (const id of Object.keys(HASH_ALGORITHMS)) {
      expect(parseEntryText(withLine(POLICY_TEXT, 'hash-algorithm', `hash-algorithm ${id}`))).toMatchObject({ hashAlgorithm: id });
    }
  });
  it('a signed entry is text, blank line, one signature line; leaf is RFC 6962 over all bytes', () => {
    const bytes = signEntry(CONTRIBUTION, newSigner(ORGS.ncmec.skey));
    const text = new TextDecoder().decode(bytes);
    expect(text.startsWith(CONTRIBUTION_TEXT + '\n\u2014 ncmec ')).toBe(true);
    expect(text.endsWith('\n')).toBe(true);
    expect(text.split('\n').length).toBe(CONTRIBUTION_TEXT.split('\n').length + 2);
    const se = parseSignedEntry(bytes);
    expect(se.entry).toEqual(CONTRIBUTION);
    expect(se.text).toBe(CONTRIBUTION_TEXT);
    expect(se.signature.name).toBe('ncmec');
    expect(se.leafHash).toEqual(nodeSha256(new Uint8Array([0, ...bytes])));
    verifyEntrySignature(se, ORGS.ncmec.vkey);
  });
});

describe('text structure', () => {
  const cases: [string, string][] = [
    ['no final newline', CONTRIBUTION_TEXT.slice(0, -1)],
    ['CRLF', CONTRIBUTION_TEXT.replace(/\n/g, '\r\n')],
    ['trailing space', CONTRIBUTION_TEXT.replace('org ncmec\n', 'org ncmec \n')],
    ['leading space', CONTRIBUTION_TEXT.replace('org ncmec\n', ' org ncmec\n')],
    ['double space', CONTRIBUTION_TEXT.replace('org ncmec\n', 'org  ncmec\n')],
    ['tab', CONTRIBUTION_TEXT.replace('org ncmec\n', 'org\tncmec\n')],
    ['empty line', CONTRIBUTION_TEXT.replace('org ncmec\n', 'org ncmec\n\n')],
    ['non-ASCII', CONTRIBUTION_TEXT.replace('org ncmec\n', 'org ncméc\n')],
    ['lines swapped', CONTRIBUTION_TEXT.replace('org ncmec\nsequence 7\n', 'sequence 7\norg ncmec\n')],
    ['line missing', withLine(CONTRIBUTION_TEXT, 'expires', null) + '\n'],
    ['extra line', CONTRIBUTION_TEXT + 'note hello\n'],
    ['unknown key in place', withLine(CONTRIBUTION_TEXT, 'blob', 'digest sha256:' + toHex(BLOB))],
    ['too many values', withLine(CONTRIBUTION_TEXT, 'org', 'org ncmec extra')],
    ['too few values', withLine(CONTRIBUTION_TEXT, 'set', `set ${toBase64(SET_ROOT)}`)],
    ['only the type line', 'concord/contribution/v1\n'],
    ['empty', ''],
    ['org line after auditor', POLICY_TEXT.replace(/(auditor .*\n)/, `$1org zz US ${generateKey('zz', seed('zz')).vkey}\n`)],
    ['witness-quorum missing', withLine(POLICY_TEXT, 'witness-quorum', null)],
  ];
  for (const [name, text] of cases) {
    it(`rejects: ${name}`, () => throwsCode(() => parseEntryText(text), 'malformed-entry'));
  }
  it('unknown types, including the request type', () => {
    throwsCode(() => parseEntryText(CONTRIBUTION_TEXT.replace('concord/contribution/v1', 'concord/contribution/v2')), 'unknown-type');
    throwsCode(() => parseEntryText('hello\n'), 'unknown-type');
    throwsCode(() => parseEntryText(formatRequestText(REQUEST)), 'unknown-type');
  });
  it('entries above 65,535 bytes', () => {
    throwsCode(() => parseEntryText(CONTRIBUTION_TEXT + 'x'.repeat(MAX_ENTRY_SIZE)), 'too-large');
    throwsCode(() => parseSignedEntry(new Uint8Array(MAX_ENTRY_SIZE + 1)), 'too-large');
    // A policy with many auditor lines: signEntry refuses to emit it.
    const auditors = Array.from({ length: 1000 }, (_, i) => {
      const name = `auditor-${String(i).padStart(4, '0')}`;
      return { name, vkey: generateKey(name, seed(name)).vkey };
    });
    throwsCode(() => signEntry({ ...POLICY, auditors }, newSigner(OPERATOR.skey)), 'too-large');
  });
});

describe('field rules', () => {
  const P = POLICY_TEXT;
  const C = CONTRIBUTION_TEXT;
  const R = RELEASE_TEXT;
  it('canonical decimals ≤ 2^53 − 1', () => {
    for (const v of ['07', '-7', '+7', '7.0', '1e3', '9007199254740992', 'x', '0x7']) {
      throwsCode(() => parseEntryText(withLine(C, 'sequence', `sequence ${v}`)), 'bad-field');
    }
    expect((parseEntryText(withLine(C, 'expires', 'expires 9007199254740991')) as ContributionEntry).expires).toBe(2 ** 53 - 1);
    throwsCode(() => parseEntryText(withLine(C, 'expires', 'expires 9007199254740992')), 'bad-field');
    throwsCode(() => parseEntryText(withLine(P, 'endorsement-quorum', 'endorsement-quorum 2 02')), 'bad-field');
  });
  it('canonical padded base64 of exactly 32 bytes', () => {
    const b64 = toBase64(P1_LEAF);
    for (const v of [b64.slice(0, -1), b64.replace('=', ''), toBase64(P1_LEAF.slice(1)), toBase64(new Uint8Array(33)), b64.slice(0, -2) + 'B=']) {
      throwsCode(() => parseEntryText(withLine(C, 'policy', `policy ${v}`)), 'bad-field');
    }
  });
  it('blob digests are sha256:<64 lowercase hex>', () => {
    for (const v of [toHex(BLOB), 'sha256:' + toHex(BLOB).toUpperCase(), 'sha512:' + toHex(BLOB), 'sha256:' + toHex(BLOB).slice(2)]) {
      throwsCode(() => parseEntryText(withLine(C, 'blob', `blob ${v}`)), 'bad-field');
    }
  });
  it('names are printable ASCII without "+"', () => {
    throwsCode(() => parseEntryText(withLine(C, 'org', 'org nc+mec')), 'bad-field');
    throwsCode(() => parseEntryText(withLine(ENDORSEMENT_TEXT, 'org', 'org a\x7fb')), 'malformed-entry');
  });
  it('sequences start at 1', () => {
    throwsCode(() => parseEntryText(withLine(C, 'sequence', 'sequence 0')), 'bad-sequence');
    throwsCode(() => parseEntryText(withLine(ENDORSEMENT_TEXT, 'subject', `subject policy 0 ${toBase64(P1_LEAF)}`)), 'bad-sequence');
  });
  it('"previous none" exactly for sequence 1', () => {
    throwsCode(() => parseEntryText(withLine(P, 'previous', 'previous none')), 'bad-previous');
    throwsCode(() => parseEntryText(withLine(P, 'sequence', 'sequence 1')), 'bad-previous');
    const p1 = withLine(withLine(P, 'sequence', 'sequence 1'), 'previous', 'previous none');
    expect((parseEntryText(p1) as PolicyEntry).previous).toBeNull();
    throwsCode(() => parseEntryText(withLine(R, 'previous', 'previous none')), 'bad-previous');
    throwsCode(() => parseEntryText(withLine(P, 'previous', 'previous None')), 'bad-field');
  });
  it('hash algorithm ids', () => {
    for (const v of ['md5-128', 'NeuralHash-96', 'pdq', 'constructor']) {
      throwsCode(() => parseEntryText(withLine(P, 'hash-algorithm', `hash-algorithm ${v}`)), 'bad-hash-algorithm');
    }
  });
  it('blinding key: a canonical, non-identity ristretto255 point', () => {
    throwsCode(() => parseEntryText(withLine(P, 'blinding-key', `blinding-key ${toBase64(new Uint8Array(32))}`)), 'bad-blinding-key');
    throwsCode(() => parseEntryText(withLine(P, 'blinding-key', `blinding-key ${toBase64(new Uint8Array(32).fill(255))}`)), 'bad-blinding-key');
    throwsCode(() => parseEntryText(withLine(P, 'blinding-key', `blinding-key ${toBase64(BLINDING.slice(1))}`)), 'bad-field');
  });
  it('keys parse and have the right type for their role', () => {
    const w = WITNESSES[0]!;
    throwsCode(() => parseEntryText(withLine(P, 'log', `log ${w.vkey}`)), 'bad-key');
    throwsCode(() => parseEntryText(withLine(P, 'operator', `operator ${w.vkey}`)), 'bad-key');
    throwsCode(() => parseEntryText(withLine(P, 'operator', `operator ${OPERATOR.skey}`)), 'bad-key');
    throwsCode(() => parseEntryText(withLine(P, 'log', 'log example.org/concord+00000000+AQ==')), 'bad-key');
    const orgLine = `org cybertip CA ${generateCosignatureKey('cybertip', seed('cybertip')).vkey}`;
    throwsCode(() => parseEntryText(withLine(P, 'org cybertip', orgLine)), 'bad-key');
    const witnessLine = `witness ${generateKey('w1.example', seed('w1.example')).vkey} https://w1.example/`;
    throwsCode(() => parseEntryText(withLine(P, 'witness', witnessLine)), 'bad-key');
    // Key ID in uppercase hex: not the canonical string.
    const [n, h, k] = LOG.vkey.split('+') as [string, string, string];
    expect(h).toMatch(/[a-f]/); // this fixture's key ID has a letter to uppercase
    throwsCode(() => parseEntryText(withLine(P, 'log', `log ${n}+${h.toUpperCase()}+${k}`)), 'bad-key');
  });
  it("an org's or auditor's name equals its key's name", () => {
    throwsCode(() => parseEntryText(withLine(P, 'org cybertip', `org cybertip CA ${ORGS.iwf.vkey}`)), 'key-name-mismatch');
    throwsCode(() => parseEntryText(withLine(P, 'auditor', `auditor press ${AUDITOR.vkey}`)), 'key-name-mismatch');
  });
  it('jurisdictions are sovereign ISO 3166-1 alpha-2 codes', () => {
    for (const cc of ['ca', 'CAN', 'C', '12', 'PR', 'GU', 'HK', 'XK', 'ZZ', 'AA', 'EU', 'UK']) {
      throwsCode(() => parseEntryText(withLine(P, 'org cybertip', `org cybertip ${cc} ${ORGS.cybertip.vkey}`)), 'bad-jurisdiction');
    }
    for (const cc of ['FR', 'TW', 'VA', 'PS', 'ZW', 'AD']) {
      expect((parseEntryText(withLine(P, 'org cybertip', `org cybertip ${cc} ${ORGS.cybertip.vkey}`)) as PolicyEntry).orgs[0]!.jurisdiction).toBe(cc);
    }
  });
  it('the sovereign-state list: 193 UN members + VA, PS, TW, each a region ICU knows', () => {
    expect(SOVEREIGN_STATES.size).toBe(196);
    const names = new Intl.DisplayNames(['en'], { type: 'region' });
    for (const cc of SOVEREIGN_STATES) {
      expect(cc).toMatch(/^[A-Z]{2}$/);
      expect(names.of(cc), cc).not.toBe(cc);
    }
    // Dependent territories and user-assigned codes are not sovereign states.
    for (const cc of ['PR', 'GU', 'VI', 'AS', 'HK', 'MO', 'GG', 'JE', 'IM', 'GL', 'FO', 'AW', 'NC', 'PF', 'RE', 'BM', 'KY', 'EH', 'XK', 'AQ']) {
      expect(SOVEREIGN_STATES.has(cc), cc).toBe(false);
    }
  });
  it('witness URLs', () => {
    const w = sortedWitnesses[0]!;
    for (const url of [
      'ftp://w1.example/',
      'w1.example/add',
      '/add-checkpoint',
      'https://',
      'https://user:pw@w1.example/',
      'https://w1.example/#x',
      'HTTPS://w1.example/',
      'https://w1.éxample/',
    ]) {
      const text = withLine(P, `witness ${w.vkey}`, `witness ${w.vkey} ${url}`);
      throwsCode(() => parseEntryText(text), url.includes('é') ? 'malformed-entry' : 'bad-url');
    }
    for (const url of ['http://127.0.0.1:8080', 'https://w1.example/prefix/?x=1']) {
      const text = withLine(P, `witness ${w.vkey}`, `witness ${w.vkey} ${url}`);
      expect((parseEntryText(text) as PolicyEntry).witnesses[0]!.url).toBe(url);
    }
  });
  it('repeated lines are strictly sorted (which forbids duplicates)', () => {
    const lines = P.split('\n');
    const orgs = lines.filter((l) => l.startsWith('org '));
    const swapped = P.replace(`${orgs[0]}\n${orgs[1]}\n`, `${orgs[1]}\n${orgs[0]}\n`);
    throwsCode(() => parseEntryText(swapped), 'not-canonical');
    throwsCode(() => parseEntryText(P.replace(`${orgs[0]}\n`, `${orgs[0]}\n${orgs[0]}\n`)), 'not-canonical');
    const ws = lines.filter((l) => l.startsWith('witness '));
    throwsCode(() => parseEntryText(P.replace(`${ws[0]}\n${ws[1]}\n`, `${ws[1]}\n${ws[0]}\n`)), 'not-canonical');
    const a2 = generateKey('a-press', seed('a-press'));
    throwsCode(() => parseEntryText(P.replace(/(auditor .*\n)/, `$1auditor a-press ${a2.vkey}\n`)), 'not-canonical');
    const rl = R.split('\n').filter((l) => l.startsWith('contribution '));
    throwsCode(() => parseEntryText(R.replace(`${rl[0]}\n${rl[1]}\n`, `${rl[1]}\n${rl[0]}\n`)), 'not-canonical');
    throwsCode(() => parseEntryText(R.replace(`${rl[0]}\n`, `${rl[0]}\n${rl[0]}\n`)), 'not-canonical');
    // The value form: format refuses the same as parse.
    throwsCode(() => formatEntryText({ ...POLICY, orgs: [POLICY.orgs[1]!, POLICY.orgs[0]!] }), 'not-canonical');
  });
  it('endorsement subjects name release or policy', () => {
    throwsCode(() => parseEntryText(ENDORSEMENT_TEXT.replace('subject release', 'subject contribution')), 'bad-field');
  });
  it('counts, roots and digests agree', () => {
    const empty = withLine(withLine(C, 'set', `set ${toBase64(EMPTY_ROOT)} 0`), 'blob', `blob sha256:${toHex(EMPTY_BLOB)}`);
    expect((parseEntryText(empty) as ContributionEntry).set.count).toBe(0);
    throwsCode(() => parseEntryText(withLine(empty, 'set', `set ${toBase64(SET_ROOT)} 0`)), 'inconsistent-counts');
    throwsCode(() => parseEntryText(withLine(empty, 'set', `set ${toBase64(EMPTY_ROOT)} 1`)), 'inconsistent-counts');
    throwsCode(() => parseEntryText(withLine(empty, 'blob', `blob sha256:${toHex(BLOB)}`)), 'inconsistent-counts');
    throwsCode(() => parseEntryText(withLine(R, 'exclude', 'exclude none 1')), 'inconsistent-counts');
    throwsCode(() => parseEntryText(withLine(R, 'exclude', `exclude sha256:${toHex(BLOB)} 0`)), 'not-canonical');
    throwsCode(() => parseEntryText(withLine(R, 'added', 'added 1201')), 'inconsistent-counts');
    expect((parseEntryText(withLine(R, 'added', 'added 1200')) as ReleaseEntry).added).toBe(1200);
    const r1 = withLine(withLine(R, 'sequence', 'sequence 1'), 'previous', 'previous none');
    throwsCode(() => parseEntryText(r1), 'inconsistent-counts'); // added 30 of 1200
    throwsCode(() => parseEntryText(withLine(r1, 'added', 'added 1200')), 'inconsistent-counts'); // removed 5
    expect(() => parseEntryText(withLine(withLine(r1, 'added', 'added 1200'), 'removed', 'removed 0'))).not.toThrow();
  });
  it('format validates typed values like the parser', () => {
    throwsCode(() => formatEntryText({ ...CONTRIBUTION, sequence: 1.5 }), 'bad-field');
    throwsCode(() => formatEntryText({ ...CONTRIBUTION, expires: 2 ** 53 }), 'bad-field');
    throwsCode(() => formatEntryText({ ...CONTRIBUTION, blob: new Uint8Array(31) }), 'bad-field');
    throwsCode(() => formatEntryText({ ...CONTRIBUTION, org: 'two words' }), 'malformed-entry');
    throwsCode(() => formatEntryText({ ...RELEASE, exclude: { blob: BLOB, count: 0 } }), 'not-canonical');
    throwsCode(() => formatEntryText({ ...POLICY, hashAlgorithm: 'sha1' as never }), 'bad-hash-algorithm');
  });
});

describe('signed entries', () => {
  const ncmec = newSigner(ORGS.ncmec.skey);
  const iwf = newSigner(ORGS.iwf.skey);
  it('exactly one signature line', () => {
    const two = signNote(CONTRIBUTION_TEXT, [ncmec, iwf]);
    throwsCode(() => parseSignedEntry(two), 'bad-signature-count');
  });
  it('not a note at all: wrapped as EntryError with the NoteError as cause', () => {
    let err: unknown;
    try {
      parseSignedEntry(utf8(CONTRIBUTION_TEXT));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EntryError);
    expect((err as EntryError).code).toBe('malformed-entry');
    expect(((err as EntryError).cause as Error).name).toBe('NoteError');
    throwsCode(() => parseSignedEntry(new Uint8Array([0xff, 0xfe, 0x0a, 0x0a])), 'malformed-entry');
  });
  it('signature by exactly the expected key', () => {
    const se = parseSignedEntry(signEntry(CONTRIBUTION, ncmec));
    verifyEntrySignature(se, ORGS.ncmec.vkey);
    throwsCode(() => verifyEntrySignature(se, ORGS.iwf.vkey), 'wrong-signer');
    // Same name, another key: the key ID differs.
    throwsCode(() => verifyEntrySignature(se, generateKey('ncmec', seed('other ncmec')).vkey), 'wrong-signer');
    throwsCode(() => verifyEntrySignature(se, WITNESSES[0]!.vkey), 'bad-key');
  });
  it('a flipped signature bit fails, and an injected verifier is used', () => {
    const bytes = signEntry(CONTRIBUTION, ncmec);
    const se = parseSignedEntry(bytes);
    const bad = { ...se, signature: { ...se.signature, signature: se.signature.signature.slice() } };
    bad.signature.signature[10]! ^= 1;
    throwsCode(() => verifyEntrySignature(bad, ORGS.ncmec.vkey), 'invalid-signature');
    let calls = 0;
    verifyEntrySignature(se, ORGS.ncmec.vkey, { ed25519Verify: () => (calls++, true) });
    expect(calls).toBe(1);
    throwsCode(() => verifyEntrySignature(se, ORGS.ncmec.vkey, { ed25519Verify: () => false }), 'invalid-signature');
  });
  it("a signature over one entry does not verify another's text", () => {
    const a = parseSignedEntry(signEntry(CONTRIBUTION, ncmec));
    const b = parseSignedEntry(signEntry({ ...CONTRIBUTION, sequence: 8 }, ncmec));
    throwsCode(() => verifyEntrySignature({ ...b, signature: a.signature }, ORGS.ncmec.vkey), 'invalid-signature');
  });
  it('signEntry refuses an org entry signed by another org', () => {
    throwsCode(() => signEntry(CONTRIBUTION, iwf), 'wrong-signer');
    throwsCode(() => signEntry({ ...ENDORSEMENT, org: 'ncmec' }, iwf), 'wrong-signer');
  });
  it('a request note can never be replayed as an entry', () => {
    const b64 = signRequest(REQUEST, ncmec);
    throwsCode(() => parseSignedEntry(fromBase64(b64)), 'unknown-type');
    // …and an entry can never be used as a request.
    throwsCode(() => parseAuthorizationHeader(`Concord-Note ${toBase64(signEntry(CONTRIBUTION, ncmec))}`), 'unknown-type');
  });
});

// ---------------------------------------------------------------------------
// Request notes

const REQUEST: RequestNote = {
  origin: ORIGIN,
  method: 'PUT',
  path: `/blob/sha256/${toHex(BLOB)}`,
  bodySha256: nodeSha256(utf8('body')),
  time: 1767225600,
  nonce: nodeSha256(utf8('nonce')).slice(0, 16),
};

const REQUEST_TEXT =
  'concord/request/v1\n' +
  `origin ${ORIGIN}\n` +
  'method PUT\n' +
  `path /blob/sha256/${toHex(BLOB)}\n` +
  `body sha256:${toHex(nodeSha256(utf8('body')))}\n` +
  'time 1767225600\n' +
  `nonce ${toBase64(nodeSha256(utf8('nonce')).slice(0, 16))}\n`;

describe('request notes', () => {
  const signer = newSigner(ORGS.iwf.skey);
  it('exact encoding and round trip', () => {
    expect(formatRequestText(REQUEST)).toBe(REQUEST_TEXT);
    expect(parseRequestText(REQUEST_TEXT)).toEqual(REQUEST);
  });
  it('Authorization header round trip and signature', () => {
    const header = authorizationHeader(REQUEST, signer);
    expect(header.startsWith('Concord-Note ')).toBe(true);
    const auth = parseAuthorizationHeader(header);
    expect(auth.request).toEqual(REQUEST);
    expect(auth.text).toBe(REQUEST_TEXT);
    expect(new TextDecoder().decode(auth.note).startsWith(REQUEST_TEXT + '\n\u2014 iwf ')).toBe(true);
    verifyRequestSignature(auth, ORGS.iwf.vkey);
    throwsCode(() => verifyRequestSignature(auth, ORGS.ncmec.vkey), 'wrong-signer');
    expect(parseAuthorizationHeader(header.replace('Concord-Note', 'concord-note')).request).toEqual(REQUEST);
  });
  it('malformed headers', () => {
    const b64 = signRequest(REQUEST, signer);
    throwsCode(() => parseAuthorizationHeader(b64), 'bad-authorization');
    throwsCode(() => parseAuthorizationHeader(`Bearer ${b64}`), 'bad-authorization');
    throwsCode(() => parseAuthorizationHeader(`Concord-Note  ${b64}`), 'bad-authorization');
    throwsCode(() => parseAuthorizationHeader(`Concord-Note ${b64.slice(0, -1)}`), 'bad-authorization');
    throwsCode(() => parseAuthorizationHeader(`Concord-Note ${b64}\n`), 'bad-authorization');
    throwsCode(() => parseAuthorizationHeader(`Concord-Note ${'A'.repeat(20000)}`), 'too-large');
    throwsCode(() => parseAuthorizationHeader(`Concord-Note ${toBase64(utf8(REQUEST_TEXT))}`), 'malformed-request');
    throwsCode(
      () => parseAuthorizationHeader(`Concord-Note ${toBase64(signNote(REQUEST_TEXT, [signer, newSigner(ORGS.ncmec.skey)]))}`),
      'bad-signature-count',
    );
  });
  it('field rules', () => {
    throwsCode(() => parseRequestText(REQUEST_TEXT.replace('method PUT', 'method put')), 'bad-field');
    throwsCode(() => parseRequestText(REQUEST_TEXT.replace('path /', 'path  /')), 'malformed-request');
    throwsCode(() => parseRequestText(REQUEST_TEXT.replace('path /', 'path x/')), 'bad-field');
    throwsCode(() => parseRequestText(withLine(REQUEST_TEXT, 'nonce', `nonce ${toBase64(new Uint8Array(15))}`)), 'bad-field');
    throwsCode(() => parseRequestText(withLine(REQUEST_TEXT, 'time', 'time 01')), 'bad-field');
    throwsCode(() => parseRequestText(REQUEST_TEXT.replace('method PUT\npath', 'path')), 'malformed-request');
    throwsCode(() => parseRequestText(REQUEST_TEXT.replace('concord/request/v1', 'concord/request/v2')), 'unknown-type');
  });
  it('checkRequest: origin, method, path, body and clock', () => {
    const want = { origin: ORIGIN, method: 'PUT', path: REQUEST.path, body: utf8('body'), now: REQUEST.time };
    checkRequest(REQUEST, want);
    checkRequest(REQUEST, { ...want, now: REQUEST.time + REQUEST_MAX_SKEW });
    checkRequest(REQUEST, { ...want, now: REQUEST.time - REQUEST_MAX_SKEW });
    throwsCode(() => checkRequest(REQUEST, { ...want, now: REQUEST.time + REQUEST_MAX_SKEW + 1 }), 'stale-request');
    throwsCode(() => checkRequest(REQUEST, { ...want, now: REQUEST.time - REQUEST_MAX_SKEW - 1 }), 'stale-request');
    throwsCode(() => checkRequest(REQUEST, { ...want, origin: 'other.org/concord' }), 'request-mismatch');
    throwsCode(() => checkRequest(REQUEST, { ...want, method: 'POST' }), 'request-mismatch');
    throwsCode(() => checkRequest(REQUEST, { ...want, path: '/oprf/evaluate' }), 'request-mismatch');
    throwsCode(() => checkRequest(REQUEST, { ...want, body: utf8('Body') }), 'request-mismatch');
  });
});

// ---------------------------------------------------------------------------
// Properties

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const safeNat = fc.oneof(fc.nat(1000), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
const seqArb = fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }));
const nameArb = fc.stringMatching(/^[\x21-\x2a\x2c-\x7e]{1,24}$/);

const ORG_POOL = ['a', 'b.org', 'c-1', 'D', 'e_e', 'f!'].map((n) => ({ name: n, vkey: generateKey(n, seed(`pool ${n}`)).vkey }));
const AUD_POOL = ['aud1', 'aud2', 'Zeta'].map((n) => ({ name: n, vkey: generateKey(n, seed(`pool ${n}`)).vkey }));
const WIT_POOL = ['wa', 'wb', 'wc', 'wd', 'we'].map((n) => generateCosignatureKey(n, seed(`pool ${n}`)).vkey);
const POINTS = [3n, 5n, 7n].map((k) => ristretto255.Point.BASE.multiply(k).toBytes());
const STATES = [...SOVEREIGN_STATES];

function byKey<T>(key: (x: T) => string): (a: T, b: T) => number {
  return (a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
}

const policyArb: fc.Arbitrary<PolicyEntry> = fc
  .record({
    sequence: seqArb,
    prev: bytes32,
    hashAlgorithm: fc.constantFrom(...(Object.keys(HASH_ALGORITHMS) as (keyof typeof HASH_ALGORITHMS)[])),
    blindingKey: fc.constantFrom(...POINTS),
    nums: fc.array(safeNat, { minLength: 12, maxLength: 12 }),
    orgs: fc.subarray(ORG_POOL),
    juris: fc.array(fc.constantFrom(...STATES), { minLength: 6, maxLength: 6 }),
    auditors: fc.subarray(AUD_POOL),
    witnesses: fc.subarray(WIT_POOL),
    urls: fc.array(fc.webUrl({ validSchemes: ['https', 'http'], withFragments: false, withQueryParameters: true }), {
      minLength: 5,
      maxLength: 5,
    }),
  })
  .map((r) => ({
    type: 'policy' as const,
    sequence: r.sequence,
    previous: r.sequence === 1 ? null : r.prev,
    log: LOG.vkey,
    operator: OPERATOR.vkey,
    hashAlgorithm: r.hashAlgorithm,
    blindingKey: r.blindingKey,
    minOrgs: r.nums[0]!,
    minJurisdictions: r.nums[1]!,
    endorsementQuorum: { orgs: r.nums[2]!, jurisdictions: r.nums[3]! },
    noticePeriod: r.nums[4]!,
    maxCheckpointAge: r.nums[5]!,
    maxReleaseAge: r.nums[6]!,
    maxEntries: r.nums[7]!,
    maxAdded: r.nums[8]!,
    oprfLimit: r.nums[9]!,
    orgs: r.orgs.map((o, i) => ({ name: o.name, jurisdiction: r.juris[i]!, vkey: o.vkey })).sort(byKey((o) => o.name)),
    auditors: [...r.auditors].sort(byKey((a) => a.name)),
    witnesses: r.witnesses.map((vkey, i) => ({ vkey, url: r.urls[i]! })).sort(byKey((w) => w.vkey)),
    witnessQuorum: r.nums[10]!,
  }))
  // fc.webUrl can produce URLs the WHATWG parser refuses or that hold non-ASCII; keep the valid ones.
  .filter((p) => p.witnesses.every((w) => /^https?:\/\/[\x21-\x7e]+$/.test(w.url) && !w.url.includes('@') && canParseUrl(w.url)));

function canParseUrl(s: string): boolean {
  try {
    return new URL(s).hostname !== '';
  } catch {
    return false;
  }
}

const setArb = fc.oneof(
  fc.constant({ root: EMPTY_ROOT, count: 0, blob: EMPTY_BLOB }),
  fc.record({ root: bytes32, count: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), blob: bytes32 }),
);

const contributionArb: fc.Arbitrary<ContributionEntry> = fc
  .record({ org: nameArb, sequence: seqArb, policy: bytes32, set: setArb, expires: safeNat })
  .map((r) => ({
    type: 'contribution' as const,
    org: r.org,
    sequence: r.sequence,
    policy: r.policy,
    set: { root: r.set.root, count: r.set.count },
    blob: r.set.blob,
    expires: r.expires,
  }));

const releaseArb: fc.Arbitrary<ReleaseEntry> = fc
  .record({
    sequence: seqArb,
    prev: bytes32,
    policy: bytes32,
    contributions: fc.uniqueArray(fc.record({ org: nameArb, leaf: bytes32 }), { selector: (c) => c.org, maxLength: 5 }),
    exclude: fc.option(fc.record({ blob: bytes32, count: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }) })),
    db: setArb,
    addedFrac: fc.double({ min: 0, max: 1, noNaN: true }),
    removed: safeNat,
    expires: safeNat,
  })
  .map((r) => {
    const added = r.sequence === 1 ? r.db.count : Math.floor(r.db.count * r.addedFrac);
    return {
      type: 'release' as const,
      sequence: r.sequence,
      previous: r.sequence === 1 ? null : r.prev,
      policy: r.policy,
      contributions: [...r.contributions].sort(byKey((c) => c.org)),
      exclude: r.exclude,
      database: { root: r.db.root, count: r.db.count },
      added,
      removed: r.sequence === 1 ? 0 : r.removed,
      blob: r.db.blob,
      expires: r.expires,
    };
  });

const endorsementArb: fc.Arbitrary<EndorsementEntry> = fc
  .record({ org: nameArb, kind: fc.constantFrom('release' as const, 'policy' as const), sequence: seqArb, leaf: bytes32 })
  .map((r) => ({ type: 'endorsement' as const, org: r.org, subject: { kind: r.kind, sequence: r.sequence, leaf: r.leaf } }));

const entryArb: fc.Arbitrary<ConcordEntry> = fc.oneof(policyArb, contributionArb, releaseArb, endorsementArb);

describe('properties', () => {
  it('parse(format(e)) = e and format(parse(text)) = text, every type', () => {
    fc.assert(
      fc.property(entryArb, (e) => {
        const text = formatEntryText(e);
        const back = parseEntryText(text);
        expect(back).toEqual(e);
        expect(formatEntryText(back)).toBe(text);
        expect(text.split('\n')[0]).toBe(ENTRY_TYPES[e.type]);
      }),
      { numRuns: 300 },
    );
  });
  it('signed round trip', () => {
    const signer = newSigner(OPERATOR.skey);
    fc.assert(
      fc.property(fc.oneof(policyArb, releaseArb), (e) => {
        const bytes = signEntry(e, signer);
        const se = parseSignedEntry(bytes);
        expect(se.entry).toEqual(e);
        expect(se.bytes).toBe(bytes);
        expect(se.leafHash).toEqual(nodeSha256(new Uint8Array([0, ...bytes])));
        verifyEntrySignature(se, OPERATOR.vkey);
      }),
      { numRuns: 25 },
    );
  });
  it('request notes round trip', () => {
    fc.assert(
      fc.property(
        fc.record({
          origin: nameArb,
          method: fc.stringMatching(/^[A-Z]{1,16}$/),
          path: fc.stringMatching(/^\/[\x21-\x7e]{0,60}$/),
          bodySha256: bytes32,
          time: safeNat,
          nonce: fc.uint8Array({ minLength: 16, maxLength: 16 }),
        }),
        (r) => {
          const text = formatRequestText(r);
          expect(parseRequestText(text)).toEqual(r);
          throwsCode(() => parseEntryText(text), 'unknown-type');
        },
      ),
      { numRuns: 200 },
    );
  });

  const SAMPLES = [
    signEntry(POLICY, newSigner(OPERATOR.skey)),
    signEntry(CONTRIBUTION, newSigner(ORGS.ncmec.skey)),
    signEntry(RELEASE, newSigner(OPERATOR.skey)),
    signEntry(ENDORSEMENT, newSigner(ORGS.iwf.skey)),
  ];
  const SAMPLE_KEYS = [OPERATOR.vkey, ORGS.ncmec.vkey, OPERATOR.vkey, ORGS.iwf.vkey];

  type Mutation = { kind: 'flip'; at: number; bit: number } | { kind: 'set'; at: number; value: number } | { kind: 'del'; at: number; len: number } | { kind: 'ins'; at: number; data: Uint8Array };
  const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0x0a, 0x20, 0x2b, 0x3d, 0x30, 0x31, 0x41, 0x61, 0x00, 0xe2, 0x80, 0x94) }),
    fc.record({ kind: fc.constant('del' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
    fc.record({ kind: fc.constant('ins' as const), at: fc.nat(), data: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  );
  function mutate(b: Uint8Array, m: Mutation): Uint8Array {
    const at = m.at % (b.length + 1);
    switch (m.kind) {
      case 'flip': {
        const out = b.slice();
        if (at < out.length) out[at]! ^= 1 << m.bit;
        return out;
      }
      case 'set': {
        const out = b.slice();
        if (at < out.length) out[at] = m.value;
        return out;
      }
      case 'del':
        return new Uint8Array([...b.slice(0, at), ...b.slice(at + m.len)]);
      case 'ins':
        return new Uint8Array([...b.slice(0, at), ...m.data, ...b.slice(at)]);
    }
  }

  it('mutated signed entries: EntryError, or a parse whose signature no longer verifies', () => {
    fc.assert(
      fc.property(fc.nat(3), fc.array(mutationArb, { minLength: 1, maxLength: 3 }), (which, ms) => {
        const orig = SAMPLES[which]!;
        let b = orig;
        for (const m of ms) b = mutate(b, m);
        let se;
        try {
          se = parseSignedEntry(b);
        } catch (e) {
          expect(e).toBeInstanceOf(EntryError);
          return;
        }
        if (toHex(b) === toHex(orig)) return;
        // A changed key ID or name is the wrong signer; anything else fails the signature.
        let err: unknown;
        try {
          verifyEntrySignature(se, SAMPLE_KEYS[which]!);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(EntryError);
        expect(['wrong-signer', 'invalid-signature']).toContain((err as EntryError).code);
      }),
      { numRuns: 1500 },
    );
  });
  it('line-level mutations of entry text: EntryError, or a canonical entry', () => {
    const texts = [POLICY_TEXT, CONTRIBUTION_TEXT, RELEASE_TEXT, ENDORSEMENT_TEXT];
    const tokenArb = fc.oneof(
      fc.constantFrom('0', '1', '01', 'none', 'sha256:', '=', 'org', 'x', '9007199254740992', toBase64(EMPTY_ROOT), 'US', 'https://x/'),
      fc.string({ maxLength: 6 }),
    );
    fc.assert(
      fc.property(fc.nat(3), fc.nat(), fc.nat(), fc.nat(3), tokenArb, (which, i, j, op, tok) => {
        const lines = texts[which]!.slice(0, -1).split('\n');
        const a = i % lines.length;
        const c = j % lines.length;
        if (op === 0) [lines[a], lines[c]] = [lines[c]!, lines[a]!];
        else if (op === 1) lines.splice(a, 1);
        else if (op === 2) lines.splice(a, 0, lines[c]!);
        else {
          const t = lines[a]!.split(' ');
          t[c % t.length] = tok;
          lines[a] = t.join(' ');
        }
        const text = lines.join('\n') + '\n';
        try {
          const e = parseEntryText(text);
          expect(formatEntryText(e)).toBe(text);
        } catch (e) {
          expect(e).toBeInstanceOf(EntryError);
        }
      }),
      { numRuns: 1500 },
    );
  });
  it('random bytes and strings: only EntryError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        try {
          parseSignedEntry(b);
        } catch (e) {
          expect(e).toBeInstanceOf(EntryError);
        }
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.constantFrom('', ...Object.values(ENTRY_TYPES).map((t) => t + '\n')), fc.string({ maxLength: 200, unit: 'binary' }), (prefix, s) => {
        for (const f of [parseEntryText, parseRequestText]) {
          try {
            f(prefix + s);
          } catch (e) {
            expect(e).toBeInstanceOf(EntryError);
          }
        }
        try {
          parseAuthorizationHeader(s);
        } catch (e) {
          expect(e).toBeInstanceOf(EntryError);
        }
        try {
          parseAuthorizationHeader('Concord-Note ' + toBase64(utf8(prefix + s)));
        } catch (e) {
          expect(e).toBeInstanceOf(EntryError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
