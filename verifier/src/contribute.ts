// An organisation's contribution (DESIGN.md "Blinding", "Concord entries"): its raw perceptual
// hashes are blinded through the log's VOPRF, every batch's DLEQ proof is checked against the
// policy's blinding-key, and only then are the unblinded elements k·H(x) uploaded as a
// contribution blob and the signed contribution entry submitted:
//
//   hashes file     <hex raw hash>\n …        one per line, exactly the policy hash-algorithm's
//                                              length (pdq-256: 64 hex digits); blank lines are
//                                              ignored, a trailing \r is tolerated; upper or lower
//                                              case; anything else is an error naming its line
//   per batch       POST /oprf/evaluate {"blinded":[…≤ 1,000]} → {"evaluated":[…],"proof"}
//                   oprf.verifyAndUnblind against the policy's blinding-key
//   then            PUT /blob/sha256/<hex> (the sorted, de-duplicated elements)
//                   POST /add   concord/contribution/v1
//                                org <name>
//                                sequence <1 + the org's highest in the log>
//                                policy <leaf of the policy in force>
//                                set <root> <count>
//                                blob sha256:<hex>
//                                expires <now + expires-in>
//
// Fail closed: any bad line, any failed evaluation, any proof that does not verify aborts
// before anything is uploaded or submitted. The raw hashes never leave this process: only
// blinded elements r·H(x) do, and a fresh r per element.
//
// Decisions where DESIGN.md is silent:
// - identical raw hashes are blinded once (a duplicate would only cost OPRF quota and give the
//   same element); the blob is de-duplicated again after unblinding (formatDatabase);
// - a list longer than max-entries or than the policy's daily oprf-limit is refused up front,
//   before any query: it could not be completed;
// - the default lifetime is 90 days (DEFAULT_EXPIRES_IN).

import { toHex, utf8 } from '@concord/client-sdk/bytes';
import type { LogClient } from '@concord/client-sdk/client';
import { formatDatabase, parseDatabase } from '@concord/client-sdk/database';
import { HASH_ALGORITHMS, signEntry } from '@concord/client-sdk/entries';
import type { ContributionEntry, HashAlgorithmId, PolicyEntry } from '@concord/client-sdk/entries';
import { ConcordError } from '@concord/client-sdk/errors';
import { newVerifier } from '@concord/client-sdk/note';
import type { Signer } from '@concord/client-sdk/note';
import { MAX_BATCH, blind, blindingInput, formatEvaluateRequest, parseEvaluateResponse, verifyAndUnblind } from '@concord/client-sdk/oprf';
import type { BackendOption, OprfBackend } from '@concord/client-sdk/oprf';
import { sodiumOprfBackend } from './oprf-sodium.js';
import { verifyEntryAuthor } from '@concord/client-sdk/policy';
import type { LogView } from './log-view.js';
import { loggedContributions } from './release-audit.js';

export type ContributeErrorCode =
  /** A line of the hashes file is not hex of the policy hash algorithm's length. */
  | 'bad-hash-line'
  /** The hashes file holds no hash. */
  | 'no-hashes'
  /** More hashes than max-entries or the daily oprf-limit allow. */
  | 'too-many'
  /** The org is not in the policy in force, or the key is not its key there. */
  | 'not-an-org'
  /** An evaluation failed or its DLEQ proof does not verify against the policy's blinding-key. */
  | 'oprf'
  /** Bad arguments. */
  | 'bad-input';

export class ContributeError extends ConcordError<ContributeErrorCode> {
  override readonly name = 'ContributeError';
}

/** Default contribution lifetime: 90 days. */
export const DEFAULT_EXPIRES_IN = 90 * 86_400;

/**
 * Parses a hashes file: one hex raw hash per line, each exactly `alg`'s length. Returns the
 * hashes in file order (duplicates kept). Throws ContributeError('bad-hash-line') naming the
 * first bad line (1-based), or 'no-hashes'.
 */
export function parseHashList(text: string, alg: HashAlgorithmId): Uint8Array[] {
  const bytes = HASH_ALGORITHMS[alg];
  const digits = 2 * bytes;
  const out: Uint8Array[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line === '') continue;
    if (!/^[0-9a-fA-F]*$/.test(line)) {
      throw new ContributeError('bad-hash-line', `line ${i + 1}: not hex: ${JSON.stringify(line.slice(0, 80))}`);
    }
    if (line.length !== digits) {
      throw new ContributeError('bad-hash-line', `line ${i + 1}: ${line.length} hex digits; ${alg} hashes are ${bytes} bytes (${digits} hex digits)`);
    }
    const h = new Uint8Array(bytes);
    for (let j = 0; j < bytes; j++) h[j] = parseInt(line.slice(2 * j, 2 * j + 2), 16);
    out.push(h);
  }
  if (out.length === 0) throw new ContributeError('no-hashes', 'the hashes file holds no hash');
  return out;
}

/** Identical raw hashes once each, first occurrence order. */
export function uniqueHashes(hashes: readonly Uint8Array[]): Uint8Array[] {
  const seen = new Set<string>();
  const out: Uint8Array[] = [];
  for (const h of hashes) {
    const k = toHex(h);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(h);
  }
  return out;
}

/** Evaluates one batch of blinded elements; returns the raw JSON response body. */
export type Evaluate = (body: string) => Promise<Uint8Array>;

/**
 * Blinds `raw` (≤ any length) in batches of ≤ 1,000 through `evaluate`, verifies every batch's
 * proof against `publicKey` and returns the unblinded elements k·H(x) in input order. The first
 * failure (transport, malformed response, proof) throws ContributeError('oprf'); batches run
 * at most `concurrency` at a time and none is started after a failure.
 */
export async function blindHashes(opts: {
  readonly alg: HashAlgorithmId;
  readonly publicKey: Uint8Array;
  readonly raw: readonly Uint8Array[];
  readonly evaluate: Evaluate;
  readonly batchSize?: number;
  readonly concurrency?: number;
  readonly onProgress?: (done: number, total: number) => void;
  /** The group backend (default: libsodium, oprf-sodium.ts — the same bytes as noble, ~5× faster). */
  readonly backend?: OprfBackend<unknown>;
}): Promise<Uint8Array[]> {
  const size = opts.batchSize ?? MAX_BATCH;
  const backend = opts.backend ?? (await sodiumOprfBackend());
  const bo = { backend } as BackendOption<unknown>;
  if (!Number.isInteger(size) || size < 1 || size > MAX_BATCH) throw new ContributeError('bad-input', `batch size must be 1 to ${MAX_BATCH}`);
  const total = opts.raw.length;
  const out = new Array<Uint8Array>(total);
  const starts: number[] = [];
  for (let s = 0; s < total; s += size) starts.push(s);
  let next = 0;
  let done = 0;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < starts.length) {
      const start = starts[next++]!;
      const batch = opts.raw.slice(start, start + size);
      try {
        const blinds = batch.map((h) => blind(blindingInput(opts.alg, h), bo));
        const blinded = blinds.map((b) => b.blinded);
        const body = await opts.evaluate(formatEvaluateRequest(blinded));
        if (failure !== undefined) return;
        const response = parseEvaluateResponse(body, blinded.length, bo);
        const elements = verifyAndUnblind(
          opts.publicKey,
          blinds.map((b) => b.blind),
          blinded,
          response,
          bo,
        );
        elements.forEach((e, i) => (out[start + i] = e));
        done += batch.length;
        opts.onProgress?.(done, total);
      } catch (err) {
        if (failure === undefined) {
          failure = new ContributeError(
            'oprf',
            `batch of elements ${start + 1}–${start + batch.length}: ${err instanceof ConcordError ? `${err.message} [${err.code}]` : err instanceof Error ? err.message : String(err)}; nothing was submitted`,
            { cause: err },
          );
        }
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 2, starts.length) }, worker));
  if (failure !== undefined) throw failure;
  return out;
}

/** The org's highest contribution sequence in the log (its authentic entries), or 0. */
export function highestContribution(view: Pick<LogView, 'entries' | 'parsed' | 'chain'>, org: string): number {
  let top = 0;
  for (const c of loggedContributions(view)) {
    if (c.entry.org !== org || c.entry.sequence <= top) continue;
    try {
      verifyEntryAuthor(c.signed, view.chain.policyAt(c.index));
    } catch (err) {
      if (err instanceof ConcordError) continue;
      throw err;
    }
    top = c.entry.sequence;
  }
  return top;
}

/** Checks that `signer` is org `name`'s key in `policy` (name, key ID, and a test signature). */
export function checkOrgKey(policy: PolicyEntry, name: string, signer: Signer): void {
  const org = policy.orgs.find((o) => o.name === name);
  if (org === undefined) throw new ContributeError('not-an-org', `${JSON.stringify(name)} is not an org of policy ${policy.sequence}`);
  if (signer.name !== name) throw new ContributeError('not-an-org', `the key is named ${JSON.stringify(signer.name)}, not ${JSON.stringify(name)}`);
  const v = newVerifier(org.vkey);
  const probe = utf8(`concord org key check ${name}\n`);
  if (v.keyHash !== signer.keyHash || !v.verify(probe, signer.sign(probe))) {
    throw new ContributeError('not-an-org', `the key is not ${name}'s key in policy ${policy.sequence}`);
  }
}

export interface ContributeOptions {
  readonly view: LogView;
  /** A client for writes, with the clock used for request notes. */
  readonly client: LogClient;
  readonly org: string;
  readonly signer: Signer;
  /** Raw hashes (already parsed; see parseHashList). */
  readonly hashes: readonly Uint8Array[];
  /** Unix seconds. */
  readonly now: number;
  readonly expiresIn?: number;
  readonly concurrency?: number;
  readonly onProgress?: (done: number, total: number) => void;
  /** Replaces POST /oprf/evaluate (tests). */
  readonly evaluate?: Evaluate;
}

export interface ContributeResult {
  readonly org: string;
  readonly sequence: number;
  readonly index: number;
  readonly leafHash: Uint8Array;
  readonly entry: ContributionEntry;
  /** Lines read, and identical raw hashes dropped. */
  readonly hashes: number;
  readonly duplicates: number;
}

export async function contribute(opts: ContributeOptions): Promise<ContributeResult> {
  const { view, client, org, signer } = opts;
  const policy = view.policy.entry;
  checkOrgKey(policy, org, signer);
  const expiresIn = opts.expiresIn ?? DEFAULT_EXPIRES_IN;
  if (!Number.isSafeInteger(expiresIn) || expiresIn < 1 || !Number.isSafeInteger(opts.now + expiresIn)) {
    throw new ContributeError('bad-input', `expires-in must be a positive number of seconds`);
  }
  const raw = uniqueHashes(opts.hashes);
  if (raw.length > policy.maxEntries) throw new ContributeError('too-many', `${raw.length} distinct hashes exceed max-entries ${policy.maxEntries}`);
  if (raw.length > policy.oprfLimit) throw new ContributeError('too-many', `${raw.length} distinct hashes exceed the daily oprf-limit of ${policy.oprfLimit}`);

  const evaluate: Evaluate = opts.evaluate ?? ((body) => client.oprfEvaluate(view.origin, body, signer));
  const elements = await blindHashes({
    alg: policy.hashAlgorithm,
    publicKey: policy.blindingKey,
    raw,
    evaluate,
    ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
    ...(opts.onProgress !== undefined ? { onProgress: opts.onProgress } : {}),
  });

  const blob = formatDatabase(elements, { maxEntries: policy.maxEntries });
  const summary = parseDatabase(blob);
  const digest = await client.putBlob(view.origin, blob, signer);
  const entry: ContributionEntry = {
    type: 'contribution',
    org,
    sequence: highestContribution(view, org) + 1,
    policy: view.policy.leaf,
    set: { root: summary.root, count: summary.count },
    blob: digest,
    expires: opts.now + expiresIn,
  };
  const added = await client.add(signEntry(entry, signer));
  return { org, sequence: entry.sequence, index: added.index, leafHash: added.leafHash, entry, hashes: opts.hashes.length, duplicates: opts.hashes.length - raw.length };
}
