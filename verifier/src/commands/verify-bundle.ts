// concord verify-bundle: the device acceptance checks (client-sdk device.ts openDatabase — the
// very code a device runs), printed one by one.
//
//   concord verify-bundle --bundle FILE --database FILE --trust FILE [--state DIR] [--log URL]
//                         [--now UNIX_SECONDS] [--json]
//
// --bundle is a release bundle (GET /release/<n>/bundle), --database the database blob, --trust
// the anchor (policy 1's entry bytes; the origin is its log key's name). With --state DIR the
// command behaves as a device that keeps its state in DIR/device/ (the last accepted release,
// policy, checkpoint, witness clock and database): rollback, fork and notice-by-subset are
// checked against it, and the new state is stored only when every check passes. When the stored
// checkpoint and the bundle's differ in size a consistency proof is needed: --log URL fetches it
// from the log's tiles (authenticated against the larger checkpoint); without it the rollback
// check fails with consistency-required. --now replaces the clock (freshness and expiry only;
// notice comes from witness cosignatures).
//
// openDatabase fails closed at its first failing check, so the list shows every check up to
// and including that one: ✓ passed, ✗ failed (its code and message), · not reached. Exit 0 only
// when all passed.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { toBase64 } from '@concord/client-sdk/bytes';
import { BundleError, parseBundle } from '@concord/client-sdk/bundle';
import { LogClient } from '@concord/client-sdk/client';
import { DeviceError, MemoryStore, fetchConsistencyProof, openDatabase } from '@concord/client-sdk/device';
import type { DeviceErrorCode, DeviceStore, VerifiedDatabase } from '@concord/client-sdk/device';
import type { Hash } from '@concord/client-sdk/merkle';
import { UsageError, parseArgs, required } from '../cli-common.js';
import type { CliIO, Command } from '../cli-common.js';
import { FileDeviceStore } from '../device-store.js';
import { readTrustFile } from '../log-view.js';

/** The checks in device.ts's order (DESIGN.md "Device acceptance" numbers), with their error codes. */
export const DEVICE_CHECKS: readonly { readonly id: string; readonly label: string; readonly codes: readonly DeviceErrorCode[] }[] = [
  { id: 'bundle', label: 'the bundle parses (size, media type, structure)', codes: ['bad-bundle', 'bundle-too-large'] },
  { id: 'trust', label: 'the trust anchor is valid and is the bundle\'s first policy', codes: ['bad-trust', 'anchor-mismatch'] },
  { id: 'chain-structure', label: '4. one policy per sequence from the anchor, each naming its predecessor, each valid', codes: ['sibling-policy', 'broken-chain', 'invalid-policy'] },
  { id: 'checkpoint', label: '2. F is signed by the log key and cosigned by the witness quorum', codes: ['bad-log-signature', 'bad-cosignature', 'too-few-cosignatures'] },
  { id: 'inclusion', label: '2. the release, its endorsements and every policy are included in F', codes: ['release-not-included', 'endorsement-not-included', 'policy-not-included'] },
  { id: 'published', label: 'P (publication) is consistent with F', codes: ['inconsistent-published'] },
  { id: 'chain', label: '4. each policy was endorsed by its predecessor\'s quorum and noticed', codes: ['policy-not-endorsed', 'policy-not-noticed'] },
  { id: 'release', label: 'the release names its policy, is signed by the operator, within max-entries, blob named', codes: ['wrong-policy', 'bad-release-signature', 'too-many-entries', 'blob-mismatch'] },
  { id: 'quorum', label: '3. endorsements from ≥ k orgs covering ≥ j jurisdictions', codes: ['too-few-endorsements', 'too-few-jurisdictions'] },
  { id: 'publication', label: 'P contains the endorsement completing the quorum', codes: ['published-too-early'] },
  { id: 'freshness', label: '5. F is fresh, expires within max-release-age, not expired', codes: ['stale-checkpoint', 'expires-too-late', 'release-expired'] },
  { id: 'rollback', label: '6. no rollback or fork against the stored state', codes: ['consistency-required', 'fork', 'rollback', 'release-conflict', 'policy-rollback', 'policy-conflict'] },
  { id: 'database', label: '1. the database bytes have the release\'s root and count', codes: ['database-count', 'database-mismatch'] },
  { id: 'notice', label: '5. the release is noticed (or a subset of the stored database)', codes: ['not-noticed'] },
];

export interface CheckLine {
  readonly id: string;
  readonly label: string;
  readonly status: 'passed' | 'failed' | 'not-reached';
  readonly code?: DeviceErrorCode;
  readonly message?: string;
}

/** Maps openDatabase's outcome to the list of checks. */
export function checkLines(error: DeviceError | undefined): CheckLine[] {
  const failedAt = error === undefined ? -1 : DEVICE_CHECKS.findIndex((c) => c.codes.includes(error.code));
  return DEVICE_CHECKS.map((c, i) => {
    if (error === undefined || i < failedAt) return { id: c.id, label: c.label, status: 'passed' };
    if (i === failedAt) return { id: c.id, label: c.label, status: 'failed', code: error.code, message: error.message };
    return { id: c.id, label: c.label, status: 'not-reached' };
  });
}

function summary(d: VerifiedDatabase): Record<string, unknown> {
  return {
    sequence: d.sequence,
    count: d.count,
    root: toBase64(d.root),
    release: { index: d.release.index, expires: d.release.expires, added: d.release.added, removed: d.release.removed },
    policy: d.policy.sequence,
    publishedAt: d.publishedAt,
    noticedAt: Number.isFinite(d.noticedAt) ? d.noticedAt : null,
    acceptedWithoutNotice: d.acceptedWithoutNotice,
    checkpoint: { size: d.checkpoint.size, root: toBase64(d.checkpoint.root), aliveAt: d.checkpoint.aliveAt },
    endorsers: d.endorsers,
  };
}

export const commands: Record<string, Command> = {
  'verify-bundle': {
    summary: 'the device acceptance checks, one by one',
    usage: `usage: concord verify-bundle --bundle FILE --database FILE --trust FILE [--state DIR] [--log URL] [--now UNIX_SECONDS] [--json]

  --state DIR   act as a device keeping its state in DIR/device (rollback, fork, subset checks;
                the new state is stored only when every check passes)
  --log URL     fetch the consistency proof between the stored checkpoint and the bundle's
  --now T       the device clock (default: this machine's), for freshness and expiry only`,
    run: async (args: readonly string[], io: CliIO): Promise<number> => {
      const a = parseArgs(args, { values: ['bundle', 'database', 'trust', 'state', 'log', 'now'], flags: ['json'] });
      const bundle = new Uint8Array(readFileSync(path.resolve(io.cwd, required(a, 'bundle'))));
      const database = new Uint8Array(readFileSync(path.resolve(io.cwd, required(a, 'database'))));
      const trust = readTrustFile(path.resolve(io.cwd, required(a, 'trust')));
      let now = io.now();
      if (a.values.now !== undefined) {
        now = Number(a.values.now);
        if (!Number.isSafeInteger(now) || now < 0) throw new UsageError('--now must be unix seconds');
      }
      const store: DeviceStore = a.values.state === undefined ? new MemoryStore() : new FileDeviceStore(path.join(path.resolve(io.cwd, a.values.state), 'device'));

      // The consistency proof to the stored checkpoint, when the sizes differ and --log is given.
      let consistency: Hash[] | undefined;
      const stored = await store.get();
      if (stored !== undefined && a.values.log !== undefined) {
        try {
          const b = parseBundle(bundle);
          consistency = await fetchConsistencyProof(new LogClient({ url: a.values.log, fetch: io.fetch }), stored.checkpoint, b.checkpoint);
        } catch (err) {
          if (!(err instanceof BundleError)) throw err; // openDatabase reports the bundle itself
        }
      }

      let error: DeviceError | undefined;
      let verified: VerifiedDatabase | undefined;
      try {
        verified = await openDatabase({ database, bundle, trust: { anchor: trust.bytes, origin: trust.origin }, store, now, ...(consistency !== undefined ? { consistency } : {}) });
      } catch (err) {
        if (!(err instanceof DeviceError)) throw err;
        error = err;
      }
      const lines = checkLines(error);
      if (a.flags.json === true) {
        io.stdout(JSON.stringify({ ok: error === undefined, checks: lines, ...(verified !== undefined ? { database: summary(verified) } : {}), ...(error?.evidence !== undefined ? { evidence: { stored: new TextDecoder().decode(error.evidence.stored), received: new TextDecoder().decode(error.evidence.received) } } : {}) }, null, 2) + '\n');
      } else {
        const out = lines.map((l) => `${l.status === 'passed' ? '✓' : l.status === 'failed' ? '✗' : '·'} ${l.label}${l.status === 'failed' ? `\n    [${l.code}] ${l.message}` : ''}`);
        if (verified !== undefined) {
          out.push('', `accepted: release ${verified.sequence}, ${verified.count} elements, policy ${verified.policy.sequence}, published ${new Date(verified.publishedAt * 1000).toISOString()}, checkpoint ${verified.checkpoint.size}`);
          out.push(`endorsed by: ${verified.endorsers.map((e) => `${e.jurisdiction}: ${e.orgs.join(', ')}`).join('; ')}`);
          if (a.values.state !== undefined) out.push('the device state was updated');
        } else if (error?.code === 'consistency-required' && a.values.log === undefined) {
          out.push('', 'hint: pass --log URL to fetch the consistency proof to the stored checkpoint');
        }
        io.stdout(out.join('\n') + '\n');
      }
      return error === undefined ? 0 : 1;
    },
  },
};
