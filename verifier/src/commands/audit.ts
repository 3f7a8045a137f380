// concord audit: verify a whole Concord log from the outside (verifier/src/audit.ts).
//
//   concord audit --log URL --trust FILE [--state DIR] [--json]
//
// Fetches the checkpoint and verifies it (log key and witness quorum of the policy in force),
// downloads and authenticates every entry (concurrently; with --state, resumable and cached
// on disk), recomputes the tree, proves consistency with the last audited checkpoint in
// --state, and checks every entry and every release (recomputed from its blobs). Prints a
// report a person can read — what changed since the last audit, and per release its size,
// per-org and per-jurisdiction counts, endorsements and notice — or, with --json, the same as
// one JSON document (audit.ts AuditReport). Progress goes to stderr (a bar on a terminal,
// plain lines otherwise; none with --json). Exit 0 only when there are no findings.

import { parseArgs, required } from '../cli-common.js';
import type { CliIO, Command } from '../cli-common.js';
import { runAudit } from '../audit.js';
import type { AuditReport, ReleaseReport } from '../audit.js';
import { readTrustFile } from '../log-view.js';
import { createProgress, silentProgress } from '../progress.js';
import { StateDir } from '../state-dir.js';
import path from 'node:path';

const USAGE = `usage: concord audit --log URL --trust FILE [--state DIR] [--json]

  --log URL      the log's base URL
  --trust FILE   the trust anchor: policy 1's entry bytes (concord-log init writes anchor.entry)
  --state DIR    remember the audited checkpoint and cache authenticated tiles (resumable);
                 the next audit proves the log consistent with this one
  --json         one JSON document on stdout

Exit status: 0 when every check passed and there are no findings, 1 otherwise.`;

const iso = (t: number | undefined): string => (t === undefined ? '—' : new Date(t * 1000).toISOString().replace('.000Z', 'Z'));
const ms = (x: number): string => `${(x / 1000).toFixed(2)} s`;

function releaseLines(r: ReleaseReport): string[] {
  const out: string[] = [];
  out.push(`  release ${r.sequence} (entry ${r.index}, policy ${r.policy ?? '?'}) — ${r.status.toUpperCase()}`);
  out.push(`    database: ${r.database.count} elements (+${r.added} −${r.removed}), root ${r.database.root}`);
  out.push(`    published: ${iso(r.publishedAt)}; expires ${iso(r.expires)}; notice ${r.noticeRequired ?? '∞'} s: ${r.noticed === undefined ? 'not yet published' : r.noticed ? 'noticed' : 'not yet noticed'}`);
  for (const c of r.contributions) {
    out.push(`    ${c.org.padEnd(16)} ${c.jurisdiction}  contributed ${String(c.contributed).padStart(9)}  in database ${String(c.inDatabase).padStart(9)}  (contribution ${c.sequence}, entry ${c.index})`);
  }
  const j = Object.entries(r.jurisdictions);
  if (j.length > 0) out.push(`    per jurisdiction: ${j.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (r.intersection !== undefined) {
    const x = r.intersection;
    out.push(`    intersection: ${x.distinct} distinct, ${x.belowMinOrgs} below min-orgs, ${x.belowMinJurisdictions} below min-jurisdictions, ${x.excluded} excluded, ${x.kept} kept`);
  }
  const e = r.endorsements;
  out.push(`    endorsements: ${e.orgs.length === 0 ? 'none' : e.orgs.join(', ')} (${e.jurisdictions.join(', ') || '—'}): quorum ${e.quorum ? 'met' : 'NOT met'}`);
  for (const c of r.checks) if (!c.ok) out.push(`    ✗ ${c.id}: ${c.detail}`);
  return out;
}

/** The human-readable report. */
export function formatAuditReport(r: AuditReport): string {
  const out: string[] = [];
  out.push(`Concord audit of ${r.origin} at ${r.log}`);
  if (r.checkpoint !== undefined) {
    const c = r.checkpoint;
    out.push(`checkpoint: ${c.size} entries, root ${c.root}, cosigned by ${c.witnesses} witnesses; seen by ${iso(c.seenBy)}, alive at ${iso(c.aliveAt)}`);
  }
  if (r.previous !== undefined) out.push(`last audit: ${r.previous.size} entries, root ${r.previous.root}`);
  if (r.changes !== undefined) {
    const ch = r.changes;
    out.push(`since the last audit: ${ch.entries} new entries; ${ch.releases.length === 0 ? 'no new releases' : `releases ${ch.releases.join(', ')}`}; ${ch.policies.length === 0 ? 'no policy changes' : `policies ${ch.policies.join(', ')}`}`);
  } else if (r.checkpoint !== undefined) out.push('first audit (no --state, or an empty one): everything is new');
  if (!r.incomplete) {
    const e = r.entries;
    out.push(`entries: ${e.total} (${e.policy} policy, ${e.contribution} contribution, ${e.release} release, ${e.endorsement} endorsement, ${e.unparsable} unparsable)`);
    out.push(`policies in force: ${r.policies.map((p) => `${p.sequence} from entry ${p.activeFrom}${p.removalOnly ? ' (removal only)' : ''}`).join('; ')}`);
    out.push(`releases: ${r.releases.length}`);
    for (const rel of r.releases) out.push(...releaseLines(rel));
  }
  out.push('');
  if (r.findings.length === 0) out.push('no findings: every check passed');
  else {
    out.push(`${r.findings.length} finding${r.findings.length === 1 ? '' : 's'}:`);
    for (const f of r.findings) out.push(`  ✗ [${f.id}] ${f.message}`);
  }
  const t = r.timings;
  out.push(`time: ${ms(t.total)} (download ${ms(t.download)}, tree ${ms(t.tree)}, entries ${ms(t.entries)}, blobs ${ms(t.blobs)}, intersection ${ms(t.intersection)})`);
  return out.join('\n') + '\n';
}

export const commands: Record<string, Command> = {
  audit: {
    summary: 'verify a whole log from the outside',
    usage: USAGE,
    run: async (args: readonly string[], io: CliIO): Promise<number> => {
      const p = parseArgs(args, { values: ['log', 'trust', 'state'], flags: ['json'] });
      const url = required(p, 'log');
      const trust = readTrustFile(path.resolve(io.cwd, required(p, 'trust')));
      const stateArg = p.values.state;
      const state = stateArg === undefined ? undefined : StateDir.open(path.resolve(io.cwd, stateArg));
      const json = p.flags.json === true;
      const progress = json ? silentProgress : createProgress({ write: (s) => io.stderr(s), tty: io.isTTY });
      const report = await runAudit({ url, trust, now: io.now(), fetch: io.fetch, progress, ...(state !== undefined ? { state } : {}) });
      io.stdout(json ? JSON.stringify(report, null, 2) + '\n' : formatAuditReport(report));
      return report.findings.length === 0 && !report.incomplete ? 0 : 1;
    },
  },
};
