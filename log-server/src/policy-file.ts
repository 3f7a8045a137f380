// The policy file an operator writes for `concord-log init`: the initial policy (DESIGN.md
// "Concord entries", concord/policy/v1) minus what init generates — sequence 1, previous none,
// the log, operator and blinding keys. JSON, with the entry's own field names:
//
//   {
//     "origin": "example.org/concord",                    (optional if --origin is given)
//     "hash-algorithm": "pdq-256",                        neuralhash-96 | pdq-256 | photodna-1152
//     "min-orgs": 2,
//     "min-jurisdictions": 2,
//     "endorsement-quorum": { "orgs": 2, "jurisdictions": 2 },
//     "notice-period": 604800,                            seconds
//     "max-checkpoint-age": 86400,                        seconds
//     "max-release-age": 2592000,                         seconds
//     "max-entries": 1000000,
//     "max-added": 10000,
//     "oprf-limit": 100000,                               elements per key per day
//     "orgs": [ { "name": "ncmec", "jurisdiction": "US", "vkey": "ncmec+1a2b3c4d+AQ…" }, … ],
//     "auditors": [ { "name": "press", "vkey": "press+…" } ],          (optional, default [])
//     "witnesses": [ { "vkey": "w1.example+…+BA…", "url": "https://w1.example/" }, … ],
//     "witness-quorum": 3
//   }
//
// Strict: every field above is required (but origin and auditors), no other field is allowed,
// numbers are integers in [0, 2^53 − 1]. Lines need not be sorted: init sorts orgs and auditors
// by name and witnesses by key, as the entry format requires. Everything else — floors, the
// witness arithmetic, distinct keys, key names — is checked by client-sdk's validatePolicy when
// init builds the entry.

import { ConcordError } from '@concord/client-sdk/errors';
import { isHashAlgorithmId } from '@concord/client-sdk/entries';
import type { HashAlgorithmId, PolicyAuditor, PolicyEntry, PolicyOrg, PolicyWitness } from '@concord/client-sdk/entries';

export type PolicyFileErrorCode = 'bad-policy-file';

export class PolicyFileError extends ConcordError<PolicyFileErrorCode> {
  override readonly name = 'PolicyFileError';
}

/** The operator-written part of policy 1. */
export interface PolicyFile {
  readonly origin: string | undefined;
  readonly hashAlgorithm: HashAlgorithmId;
  readonly minOrgs: number;
  readonly minJurisdictions: number;
  readonly endorsementQuorum: { orgs: number; jurisdictions: number };
  readonly noticePeriod: number;
  readonly maxCheckpointAge: number;
  readonly maxReleaseAge: number;
  readonly maxEntries: number;
  readonly maxAdded: number;
  readonly oprfLimit: number;
  readonly orgs: PolicyOrg[];
  readonly auditors: PolicyAuditor[];
  readonly witnesses: PolicyWitness[];
  readonly witnessQuorum: number;
}

function bad(message: string): never {
  throw new PolicyFileError('bad-policy-file', message);
}

type Obj = Record<string, unknown>;

function object(v: unknown, what: string, keys: readonly string[], optional: readonly string[] = []): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(`${what} must be an object`);
  const o = v as Obj;
  for (const k of Object.keys(o)) if (!keys.includes(k) && !optional.includes(k)) bad(`${what}: unknown field ${JSON.stringify(k)}`);
  for (const k of keys) if (!(k in o)) bad(`${what}: missing field ${JSON.stringify(k)}`);
  return o;
}

function uint(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(`${what} must be an integer in [0, 2^53 − 1]`);
  return v;
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length === 0) bad(`${what} must be a non-empty string`);
  return v;
}

function array(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) bad(`${what} must be an array`);
  return v;
}

const byString = <T>(key: (x: T) => string) => (a: T, b: T): number => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);

/** Parses a policy file's text. Throws PolicyFileError. */
export function parsePolicyFile(text: string): PolicyFile {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new PolicyFileError('bad-policy-file', `not JSON: ${(err as Error).message}`);
  }
  const o = object(
    v,
    'policy file',
    [
      'hash-algorithm',
      'min-orgs',
      'min-jurisdictions',
      'endorsement-quorum',
      'notice-period',
      'max-checkpoint-age',
      'max-release-age',
      'max-entries',
      'max-added',
      'oprf-limit',
      'orgs',
      'witnesses',
      'witness-quorum',
    ],
    ['origin', 'auditors'],
  );
  const ha = str(o['hash-algorithm'], 'hash-algorithm');
  if (!isHashAlgorithmId(ha)) bad(`hash-algorithm ${JSON.stringify(ha)} is not one of neuralhash-96, pdq-256, photodna-1152`);
  const eq = object(o['endorsement-quorum'], 'endorsement-quorum', ['orgs', 'jurisdictions']);
  const orgs = array(o.orgs, 'orgs').map((x, i) => {
    const r = object(x, `orgs[${i}]`, ['name', 'jurisdiction', 'vkey']);
    return { name: str(r.name, `orgs[${i}].name`), jurisdiction: str(r.jurisdiction, `orgs[${i}].jurisdiction`), vkey: str(r.vkey, `orgs[${i}].vkey`) };
  });
  const auditors = array(o.auditors ?? [], 'auditors').map((x, i) => {
    const r = object(x, `auditors[${i}]`, ['name', 'vkey']);
    return { name: str(r.name, `auditors[${i}].name`), vkey: str(r.vkey, `auditors[${i}].vkey`) };
  });
  const witnesses = array(o.witnesses, 'witnesses').map((x, i) => {
    const r = object(x, `witnesses[${i}]`, ['vkey', 'url']);
    return { vkey: str(r.vkey, `witnesses[${i}].vkey`), url: str(r.url, `witnesses[${i}].url`) };
  });
  return {
    origin: o.origin === undefined ? undefined : str(o.origin, 'origin'),
    hashAlgorithm: ha,
    minOrgs: uint(o['min-orgs'], 'min-orgs'),
    minJurisdictions: uint(o['min-jurisdictions'], 'min-jurisdictions'),
    endorsementQuorum: { orgs: uint(eq.orgs, 'endorsement-quorum.orgs'), jurisdictions: uint(eq.jurisdictions, 'endorsement-quorum.jurisdictions') },
    noticePeriod: uint(o['notice-period'], 'notice-period'),
    maxCheckpointAge: uint(o['max-checkpoint-age'], 'max-checkpoint-age'),
    maxReleaseAge: uint(o['max-release-age'], 'max-release-age'),
    maxEntries: uint(o['max-entries'], 'max-entries'),
    maxAdded: uint(o['max-added'], 'max-added'),
    oprfLimit: uint(o['oprf-limit'], 'oprf-limit'),
    orgs: orgs.sort(byString((x) => x.name)),
    auditors: auditors.sort(byString((x) => x.name)),
    witnesses: witnesses.sort(byString((x) => x.vkey)),
    witnessQuorum: uint(o['witness-quorum'], 'witness-quorum'),
  };
}

/** Policy 1 from the file and the keys init generated (not yet validated: see validatePolicy). */
export function initialPolicy(f: PolicyFile, keys: { log: string; operator: string; blindingKey: Uint8Array }): PolicyEntry {
  return {
    type: 'policy',
    sequence: 1,
    previous: null,
    log: keys.log,
    operator: keys.operator,
    hashAlgorithm: f.hashAlgorithm,
    blindingKey: keys.blindingKey,
    minOrgs: f.minOrgs,
    minJurisdictions: f.minJurisdictions,
    endorsementQuorum: { ...f.endorsementQuorum },
    noticePeriod: f.noticePeriod,
    maxCheckpointAge: f.maxCheckpointAge,
    maxReleaseAge: f.maxReleaseAge,
    maxEntries: f.maxEntries,
    maxAdded: f.maxAdded,
    oprfLimit: f.oprfLimit,
    orgs: f.orgs.map((x) => ({ ...x })),
    auditors: f.auditors.map((x) => ({ ...x })),
    witnesses: f.witnesses.map((x) => ({ ...x })),
    witnessQuorum: f.witnessQuorum,
  };
}
