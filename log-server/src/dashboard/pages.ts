// The dashboard's server-rendered pages (GET /, /releases, /releases/<n>, /policy, /check):
// semantic HTML with inline CSS, no script, no external request, readable on a phone. Every
// value comes from the log (LogIndex) or storage and goes through html`` escaping. What these
// pages say is what the server says; /verify is the page that checks it in the reader's browser.

import { toBase64, toHex } from '@concord/client-sdk/bytes';
import type { PolicyEntry, ReleaseEntry } from '@concord/client-sdk/entries';
import { parseVerifierKey } from '@concord/client-sdk/note';
import type { IntersectionReport } from '@concord/client-sdk/database';
import type { ChainPolicy } from '@concord/client-sdk/policy';
import { html, raw } from './html.js';
import type { Html, Interpolation } from './html.js';
import type { Indexed, ReleaseView, WitnessTimes } from './log-index.js';
import type { StoredCheckpoint } from '../storage/types.js';

const CSS = `
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--muted:#57606a;--line:#d0d7de;--accent:#0b5cad;--ok:#116329;--bad:#a40e26;--bar:#5a7fa8}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#9da7b3;--line:#30363d;--accent:#6cb6ff;--ok:#56d364;--bad:#ff7b72;--bar:#7aa2cf}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent)}
a:focus-visible,button:focus-visible,input:focus-visible,.scroll:focus-visible,summary:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:var(--bg);padding:.5rem;z-index:1}
header,main,footer{max-width:72rem;margin:0 auto;padding:0 1rem}
header{border-bottom:1px solid var(--line)}
header p{margin:.75rem 0 .25rem;font-weight:600}
nav ul{list-style:none;margin:0;padding:0 0 .5rem;display:flex;flex-wrap:wrap;gap:.25rem 1rem}
h1{font-size:1.6rem;margin:1.25rem 0 .5rem}h2{font-size:1.25rem;margin:1.75rem 0 .5rem}
code{font:.9em/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.5rem 0;min-width:100%}
caption{text-align:left;color:var(--muted);padding:.25rem 0}
th,td{border-bottom:1px solid var(--line);padding:.35rem .5rem;text-align:left;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:.5rem 0}
dt{color:var(--muted)}dd{margin:0;min-width:0}
@media (max-width:40rem){dl{grid-template-columns:1fr}dd{margin-bottom:.5rem}}
.ok{color:var(--ok)}.bad{color:var(--bad)}.muted{color:var(--muted)}
form{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin:.5rem 0}
form label{flex-basis:100%}
input[type=text]{flex:1 1 20rem;min-width:0;padding:.45rem;font:inherit;border:1px solid var(--line);border-radius:4px;background:var(--bg);color:var(--fg)}
button{padding:.45rem 1rem;font:inherit;border:1px solid var(--accent);border-radius:4px;background:var(--accent);color:var(--bg);cursor:pointer}
svg.chart{width:100%;height:auto;max-height:18rem}
svg.chart text{font:11px system-ui,sans-serif;fill:var(--fg)}
svg.chart .size{fill:var(--bar)}svg.chart .added{fill:var(--ok)}svg.chart .removed{fill:var(--bad)}
svg.chart line{stroke:var(--line)}
footer{margin-top:2rem;border-top:1px solid var(--line);color:var(--muted);font-size:.9rem;padding-bottom:2rem}
`;

/** Security headers of every dashboard page: nothing but inline CSS, forms to this server. */
export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

export interface PageContext {
  readonly origin: string;
  readonly now: number;
}

export function layout(ctx: PageContext, title: string, body: Html): string {
  return (
    '<!doctype html>\n' +
    html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · ${ctx.origin}</title><style>${raw(CSS)}</style></head>
<body><a class="skip" href="#main">Skip to content</a>
<header><p>Concord transparency log <code>${ctx.origin}</code></p>
<nav aria-label="Dashboard"><ul><li><a href="/">Overview</a></li><li><a href="/releases">Releases</a></li><li><a href="/policy">Policy</a></li><li><a href="/check">Check a root</a></li><li><a href="/verify">Verify in your browser</a></li></ul></nav></header>
<main id="main" tabindex="-1">${body}</main>
<footer><p>This page shows what this server says. <a href="/verify">The verifying page</a> checks the log's signatures, the witnesses' cosignatures and the inclusion of every release in your own browser; <code>concord audit</code> recomputes everything from the log. Page generated at ${time(ctx.now)}.</p></footer>
</body></html>`.value
  );
}

// --- formatting -------------------------------------------------------------------------------

export function isoTime(t: number): string {
  return new Date(t * 1000).toISOString().replace('T', ' ').replace('.000Z', ' UTC');
}

export function time(t: number | undefined): Html {
  if (t === undefined) return html`<span class="muted">—</span>`;
  return html`<time datetime="${new Date(t * 1000).toISOString()}">${isoTime(t)}</time>`;
}

export function duration(s: number): string {
  if (!Number.isFinite(s)) return 'never';
  const a = Math.abs(s);
  const out = a < 120 ? `${a} s` : a < 7200 ? `${Math.round(a / 60)} min` : a < 172_800 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86_400)} days`;
  return s < 0 ? `-${out}` : out;
}

export function keyName(vkey: string): string {
  try {
    return parseVerifierKey(vkey).name;
  } catch {
    return vkey.slice(0, 40);
  }
}

/** "1 entry", "2 entries". */
export function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function scroll(label: string, table: Html): Html {
  return html`<div class="scroll" role="region" aria-label="${label}" tabindex="0">${table}</div>`;
}

function jurisdictionOf(p: PolicyEntry | undefined, org: string): string {
  return p?.orgs.find((o) => o.name === org)?.jurisdiction ?? '?';
}

function orgsByJurisdiction(p: PolicyEntry | undefined, orgs: readonly string[]): Html {
  if (orgs.length === 0) return html`<span class="bad">none</span>`;
  return html`${orgs.map((o, i) => html`${i > 0 ? ', ' : ''}${o} (${jurisdictionOf(p, o)})`)}`;
}

// --- sections -----------------------------------------------------------------------------------

export interface CheckpointInfo {
  readonly cosigned: { checkpoint: StoredCheckpoint; policy: ChainPolicy; times: WitnessTimes } | undefined;
  readonly cosignedRoot: Uint8Array | undefined;
  readonly latestSize: number;
}

export function checkpointSection(ctx: PageContext, info: CheckpointInfo): Html {
  const c = info.cosigned;
  if (c === undefined || info.cosignedRoot === undefined) {
    return html`<section aria-labelledby="cp-h"><h2 id="cp-h">Current cosigned checkpoint</h2>
<p class="bad">No checkpoint is cosigned by a witness quorum yet (the log holds ${info.latestSize} entries).</p></section>`;
  }
  const cp = c.checkpoint;
  const byWitness = new Map(cp.cosignatures.map((s) => [s.witness, s]));
  const p = c.policy.entry;
  const rows = p.witnesses.map((w) => {
    const s = byWitness.get(w.vkey);
    return html`<tr data-witness="${keyName(w.vkey)}"><th scope="row">${keyName(w.vkey)}</th><td>${s === undefined ? html`<span class="muted">not cosigned</span>` : time(s.firstTime)}</td><td>${s === undefined ? '' : time(s.lastTime)}</td></tr>`;
  });
  const signed = p.witnesses.filter((w) => byWitness.has(w.vkey)).length;
  const age = c.times.aliveAt === undefined ? undefined : ctx.now - c.times.aliveAt;
  return html`<section aria-labelledby="cp-h"><h2 id="cp-h">Current cosigned checkpoint</h2>
<dl id="checkpoint">
<dt>Tree size</dt><dd data-field="size">${cp.size}</dd>
<dt>Root hash</dt><dd><code data-field="root">${toBase64(info.cosignedRoot)}</code></dd>
<dt>Witnesses</dt><dd data-field="witnesses">${signed} of ${p.witnesses.length} cosigned (quorum ${p.witnessQuorum})</dd>
<dt>Seen by a quorum</dt><dd>${time(c.times.seenBy)}</dd>
<dt>Last confirmed</dt><dd>${time(c.times.aliveAt)}${age === undefined ? '' : html` <span class="muted">(${duration(age)} ago)</span>`}</dd>
${info.latestSize > cp.size ? html`<dt>Newer entries</dt><dd>${plural(info.latestSize - cp.size, 'entry is', 'entries are')} signed by the log but not yet cosigned by a quorum</dd>` : ''}
</dl>
${scroll('Witness cosignatures', html`<table><caption>Cosignatures on this checkpoint (earliest and latest per witness)</caption><thead><tr><th scope="col">Witness</th><th scope="col">First cosigned</th><th scope="col">Last cosigned</th></tr></thead><tbody>${rows}</tbody></table>`)}
</section>`;
}

export function releaseTable(views: readonly ReleaseView[], caption: string): Html {
  if (views.length === 0) return html`<p>No release has been logged yet.</p>`;
  const rows = [...views].reverse().map((v) => {
    const e = v.release.entry;
    const q = v.endorsements;
    const noticed =
      v.publishedAt === undefined
        ? html`<span class="muted">not published</span>`
        : e.added === 0
          ? html`<span class="ok">no notice needed</span> <span class="muted">(nothing added)</span>`
          : v.noticed
            ? html`<span class="ok">${time(v.noticedFrom)}</span>`
            : html`<span class="muted">pending until</span> ${time(v.noticedFrom)}`;
    return html`<tr data-release="${e.sequence}">
<th scope="row"><a href="/releases/${e.sequence}">Release ${e.sequence}</a></th>
<td class="num" data-field="index">${v.release.index}</td>
<td><code data-field="root">${toBase64(e.database.root)}</code></td>
<td class="num" data-field="count">${e.database.count}</td>
<td class="num" data-field="added">${e.added}</td>
<td class="num" data-field="removed">${e.removed}</td>
<td data-field="published">${time(v.publishedAt)}</td>
<td data-field="noticed">${noticed}</td>
<td data-field="expires">${time(e.expires)}</td>
<td data-field="endorsed">${orgsByJurisdiction(v.policy?.entry, q?.orgs ?? [])}${q === undefined ? '' : q.met ? html` <span class="ok">quorum met</span>` : html` <span class="bad">no quorum</span>`}</td>
</tr>`;
  });
  return scroll(
    caption,
    html`<table id="releases"><caption>${caption}</caption><thead><tr><th scope="col">Release</th><th scope="col" class="num">Log index</th><th scope="col">Database root</th><th scope="col" class="num">Entries</th><th scope="col" class="num">Added</th><th scope="col" class="num">Removed</th><th scope="col">Published</th><th scope="col">Noticed</th><th scope="col">Expires</th><th scope="col">Endorsed by</th></tr></thead><tbody>${rows}</tbody></table>`,
  );
}

/** Database size over releases, with added and removed counts: an inline SVG with a text alternative. */
export function sizeChart(releases: readonly ReleaseEntry[]): Html {
  if (releases.length === 0) return html``;
  const n = releases.length;
  const step = 56;
  const W = Math.max(320, 48 + n * step);
  const H = 200;
  const top = 44;
  const base = H - 30;
  const max = Math.max(1, ...releases.map((r) => Math.max(r.database.count, r.added, r.removed)));
  const y = (v: number) => ((base - top) * v) / max;
  const bars = releases.map((r, i) => {
    const x = 40 + i * step;
    const h = y(r.database.count);
    const ha = y(r.added);
    const hr = y(r.removed);
    const label = `Release ${r.sequence}: ${r.database.count} entries, ${r.added} added, ${r.removed} removed`;
    return html`<g><title>${label}</title>
<rect class="size" x="${x}" y="${(base - h).toFixed(1)}" width="22" height="${h.toFixed(1)}"></rect>
<rect class="added" x="${x + 24}" y="${(base - ha).toFixed(1)}" width="8" height="${ha.toFixed(1)}"></rect>
<rect class="removed" x="${x + 34}" y="${(base - hr).toFixed(1)}" width="8" height="${hr.toFixed(1)}"></rect>
<text x="${x + 11}" y="${(base - h - 4).toFixed(1)}" text-anchor="middle">${r.database.count}</text>
<text x="${x + 21}" y="${base + 14}" text-anchor="middle">#${r.sequence}</text>
<text x="${x + 21}" y="${base + 26}" text-anchor="middle">+${r.added} −${r.removed}</text></g>`;
  });
  return html`<figure aria-labelledby="chart-h">
<svg class="chart" role="img" aria-labelledby="chart-t chart-d" viewBox="0 0 ${W} ${H}" xmlns="http://www.w3.org/2000/svg">
<title id="chart-t">Database size over releases</title>
<desc id="chart-d">${releases.map((r) => `Release ${r.sequence}: ${r.database.count} entries (+${r.added}, −${r.removed}). `).join('')}</desc>
<line x1="34" y1="${base}" x2="${W - 4}" y2="${base}"></line>
<text x="4" y="${top + 4}">${max}</text><text x="4" y="${base}">0</text>
${bars}
<g transform="translate(40,8)"><rect class="size" width="10" height="10"></rect><text x="14" y="9">entries</text><rect class="added" x="70" width="10" height="10"></rect><text x="84" y="9">added</text><rect class="removed" x="136" width="10" height="10"></rect><text x="150" y="9">removed</text></g>
</svg>
<figcaption id="chart-h">Database size (entries) per release, with the elements each release added and removed.</figcaption></figure>`;
}

export function checkForm(value = ''): Html {
  return html`<form method="get" action="/check" role="search" aria-label="Check a database root">
<label for="root">Paste the database root your device shows (base64 or hex)</label>
<input type="text" id="root" name="root" value="${value}" required autocomplete="off" spellcheck="false" inputmode="text">
<button type="submit">Check</button></form>`;
}

export function oprfSection(policy: PolicyEntry | undefined, day: number, counts: readonly { key: string; used: number }[]): Html {
  const names = new Map<string, string>();
  for (const o of policy?.orgs ?? []) {
    names.set(o.vkey, `${o.name} (org, ${o.jurisdiction})`);
    names.set(o.name, `${o.name} (org, ${o.jurisdiction})`);
  }
  for (const a of policy?.auditors ?? []) {
    names.set(a.vkey, `${a.name} (auditor)`);
    names.set(a.name, `${a.name} (auditor)`);
  }
  const rows = counts.map(
    (c) => html`<tr data-oprf-key="${names.get(c.key)?.split(' ')[0] ?? c.key}"><th scope="row">${names.get(c.key) ?? keyName(c.key)}</th><td class="num" data-field="used">${c.used}</td><td class="num">${policy?.oprfLimit ?? '?'}</td></tr>`,
  );
  return html`<section aria-labelledby="oprf-h"><h2 id="oprf-h">OPRF queries today</h2>
<p>Elements each key had the operator evaluate on ${isoTime(day * 86_400).slice(0, 10)} (UTC). These counts are reported by the operator, which holds the blinding key and is not metered itself.</p>
${counts.length === 0 ? html`<p id="oprf-none">No OPRF queries today.</p>` : scroll('OPRF counts', html`<table id="oprf"><caption>OPRF elements evaluated per key today</caption><thead><tr><th scope="col">Key</th><th scope="col" class="num">Elements</th><th scope="col" class="num">Daily limit</th></tr></thead><tbody>${rows}</tbody></table>`)}
</section>`;
}

// --- release page -----------------------------------------------------------------------------

export interface ContributionRow {
  readonly org: string;
  readonly jurisdiction: string;
  readonly leaf: Uint8Array;
  readonly index: number | undefined;
  readonly sequence: number | undefined;
  readonly count: number | undefined;
  readonly blob: Uint8Array | undefined;
  readonly expires: number | undefined;
}

export interface IntersectionOutcome {
  readonly report: IntersectionReport;
  readonly rootMatches: boolean;
}

export function releasePage(
  v: ReleaseView,
  contributions: readonly ContributionRow[],
  outcome: IntersectionOutcome | string,
): Html {
  const r = v.release;
  const e = r.entry;
  const p = v.policy?.entry;
  const q = v.endorsements;
  const byJ = new Map<string, { orgs: string[]; total: number }>();
  for (const c of contributions) {
    let j = byJ.get(c.jurisdiction);
    if (j === undefined) byJ.set(c.jurisdiction, (j = { orgs: [], total: 0 }));
    j.orgs.push(c.org);
    j.total += c.count ?? 0;
  }
  const jRows = [...byJ.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([j, x]) => html`<tr data-jurisdiction="${j}"><th scope="row">${j}</th><td>${x.orgs.join(', ')}</td><td class="num" data-field="total">${x.total}</td></tr>`);
  const cRows = contributions.map(
    (c) => html`<tr data-org="${c.org}"><th scope="row">${c.org}</th><td>${c.jurisdiction}</td><td class="num">${c.sequence ?? '?'}</td><td class="num" data-field="count">${c.count ?? '?'}</td><td class="num">${c.index ?? '?'}</td><td>${time(c.expires)}</td><td>${c.blob === undefined ? html`<span class="bad">entry missing</span>` : html`<a href="/blob/sha256/${toHex(c.blob)}" download>blob</a>`}</td></tr>`,
  );
  const eRows = (q?.endorsements ?? []).map((ie) => {
    const en = ie.signed.entry;
    const org = en.type === 'endorsement' ? en.org : '?';
    return html`<tr><th scope="row">${org}</th><td>${jurisdictionOf(p, org)}</td><td class="num">${ie.index}</td></tr>`;
  });
  let out: Html;
  if (typeof outcome === 'string') out = html`<p class="muted">${outcome}</p>`;
  else {
    const rep = outcome.report;
    out = html`<dl id="intersection">
<dt>Contributions merged</dt><dd data-field="contributions">${rep.contributions}</dd>
<dt>Distinct elements</dt><dd data-field="distinct">${rep.distinct}</dd>
<dt>Held by fewer than ${p?.minOrgs ?? '?'} orgs</dt><dd data-field="below-orgs">${rep.belowMinOrgs}</dd>
<dt>Orgs in fewer than ${p?.minJurisdictions ?? '?'} jurisdictions</dt><dd data-field="below-jurisdictions">${rep.belowMinJurisdictions}</dd>
<dt>Excluded by the operator</dt><dd data-field="excluded">${rep.excluded}</dd>
<dt>Kept (the database)</dt><dd data-field="kept">${rep.kept}</dd>
<dt>Recomputed root</dt><dd data-field="recomputed">${outcome.rootMatches ? html`<span class="ok">equals the release's database root</span>` : html`<span class="bad">DIFFERS from the release's database root</span>`}</dd>
</dl><p class="muted">Recomputed by this server from the contribution blobs; anyone can recompute it with <code>concord audit</code>.</p>`;
  }
  return html`<h1>Release ${e.sequence}</h1>
<dl id="release">
<dt>Log index</dt><dd data-field="index">${r.index}</dd>
<dt>Leaf hash</dt><dd><code>${toBase64(r.signed.leafHash)}</code></dd>
<dt>Database root</dt><dd><code data-field="root">${toBase64(e.database.root)}</code><br><code class="muted">${toHex(e.database.root)}</code></dd>
<dt>Entries</dt><dd data-field="count">${e.database.count}</dd>
<dt>Added / removed</dt><dd data-field="added-removed">+${e.added} / −${e.removed}</dd>
<dt>Excluded</dt><dd data-field="exclude">${e.exclude === null ? 'none' : html`${plural(e.exclude.count, 'element', 'elements')} (<a href="/blob/sha256/${toHex(e.exclude.blob)}" download>exclusion set</a>)`}</dd>
<dt>Policy</dt><dd>${p === undefined ? html`<span class="bad">unknown</span>` : html`<a href="/policy">policy ${p.sequence}</a>`}</dd>
<dt>Published</dt><dd data-field="published">${time(v.publishedAt)}${v.publishedSize === undefined ? '' : html` <span class="muted">(checkpoint of size ${v.publishedSize})</span>`}</dd>
<dt>Notice</dt><dd>${v.noticeRequired === undefined ? '—' : html`${duration(v.noticeRequired)} required; ${e.added === 0 ? 'nothing added, so devices accept it at once' : v.noticed ? html`<span class="ok">noticed from ${time(v.noticedFrom)}</span>` : html`pending until ${time(v.noticedFrom)}`}`}</dd>
<dt>Expires</dt><dd>${time(e.expires)}</dd>
<dt>Endorsed by</dt><dd data-field="endorsed">${orgsByJurisdiction(p, q?.orgs ?? [])}${q === undefined ? '' : q.met ? html` — <span class="ok">quorum met</span>` : html` — <span class="bad">quorum not met</span>`}</dd>
</dl>
<h2>Downloads</h2>
<ul id="downloads">
<li><a href="/release/${e.sequence}/bundle" download>Device bundle</a> (JSON: the release, its endorsements and policies with proofs, and cosigned checkpoints)</li>
<li><a href="/blob/sha256/${toHex(e.blob)}" download>Database</a> (${e.database.count} sorted 32-byte elements, SHA-256 <code>${toHex(e.blob)}</code>)</li>
${contributions.filter((c) => c.blob !== undefined).map((c) => html`<li><a href="/blob/sha256/${toHex(c.blob!)}" download>Contribution of ${c.org}</a></li>`)}
</ul>
<h2>Contributions</h2>
${scroll('Contributions', html`<table id="contributions"><caption>Contribution of each organisation selected by this release</caption><thead><tr><th scope="col">Organisation</th><th scope="col">Jurisdiction</th><th scope="col" class="num">Sequence</th><th scope="col" class="num">Entries</th><th scope="col" class="num">Log index</th><th scope="col">Expires</th><th scope="col">Download</th></tr></thead><tbody>${cRows}</tbody></table>`)}
${scroll('Contributions per jurisdiction', html`<table id="jurisdictions"><caption>Per jurisdiction</caption><thead><tr><th scope="col">Jurisdiction</th><th scope="col">Organisations</th><th scope="col" class="num">Entries contributed</th></tr></thead><tbody>${jRows}</tbody></table>`)}
<h2>Intersection</h2>
<p>An element is in the database when organisations numbering at least ${p?.minOrgs ?? '?'} and spanning at least ${p?.minJurisdictions ?? '?'} jurisdictions contributed it, unless the operator excluded it.</p>
${out}
<h2>Endorsements</h2>
${eRows.length === 0 ? html`<p class="bad">No endorsement yet.</p>` : scroll('Endorsements', html`<table id="endorsements"><caption>Endorsements counted (one per organisation, earliest first)</caption><thead><tr><th scope="col">Organisation</th><th scope="col">Jurisdiction</th><th scope="col" class="num">Log index</th></tr></thead><tbody>${eRows}</tbody></table>`)}
<p><a href="/verify">Verify this release in your browser</a></p>`;
}

// --- policy page ------------------------------------------------------------------------------

export function policyPage(current: ChainPolicy | undefined, inForce: readonly ChainPolicy[], all: readonly Indexed<PolicyEntry>[]): Html {
  if (current === undefined) return html`<h1>Policy</h1><p class="bad">No policy in force.</p>`;
  const p = current.entry;
  const orgs = p.orgs.map((o) => html`<tr data-org="${o.name}"><th scope="row">${o.name}</th><td>${o.jurisdiction}</td><td><code>${o.vkey}</code></td></tr>`);
  const witnesses = p.witnesses.map((w) => html`<tr data-witness="${keyName(w.vkey)}"><th scope="row">${keyName(w.vkey)}</th><td><code>${w.url}</code></td><td><code>${w.vkey}</code></td></tr>`);
  const auditors = p.auditors.map((a) => html`<tr><th scope="row">${a.name}</th><td><code>${a.vkey}</code></td></tr>`);
  const inForceLeaves = new Map(inForce.map((c) => [toHex(c.leaf), c]));
  const history = all.map((pe) => {
    const c = inForceLeaves.get(toHex(pe.signed.leafHash));
    const status: Interpolation =
      c === undefined
        ? html`<span class="muted">not in force</span>`
        : html`<span class="ok">in force from index ${c.activeFrom}</span>${c.quorumIndex === undefined ? ' (trust anchor)' : html` (endorsed at ${c.quorumIndex}${c.removalOnly ? ', removal only: no notice' : ''})`}`;
    return html`<tr data-policy="${pe.entry.sequence}"><th scope="row">${pe.entry.sequence}</th><td class="num">${pe.index}</td><td><code>${toHex(pe.signed.leafHash)}</code></td><td>${status}</td><td class="num">${pe.entry.orgs.length}</td><td class="num">${pe.entry.witnesses.length} (quorum ${pe.entry.witnessQuorum})</td></tr>`;
  });
  const anchor = inForce[0];
  return html`<h1>Policy ${p.sequence}</h1>
<p>The policy in force decides who may contribute, endorse and query the OPRF, which witnesses count and every threshold. It changes only by a new policy entry endorsed by the organisations of the current one.</p>
<dl id="policy">
<dt>Trust anchor (policy 1 leaf hash)</dt><dd><code data-field="anchor">${anchor === undefined ? '?' : toHex(anchor.leaf)}</code></dd>
<dt>Policy in force, leaf hash</dt><dd><code>${toHex(current.leaf)}</code></dd>
<dt>Log key</dt><dd><code>${p.log}</code></dd>
<dt>Operator key</dt><dd><code>${p.operator}</code></dd>
<dt>Hash algorithm</dt><dd>${p.hashAlgorithm}</dd>
<dt>Blinding key</dt><dd><code>${toBase64(p.blindingKey)}</code></dd>
<dt>Intersection rule</dt><dd>≥ ${p.minOrgs} organisations in ≥ ${p.minJurisdictions} jurisdictions</dd>
<dt>Endorsement quorum</dt><dd>${p.endorsementQuorum.orgs} organisations in ${p.endorsementQuorum.jurisdictions} jurisdictions</dd>
<dt>Notice period</dt><dd>${duration(p.noticePeriod)} (× ⌈added / ${p.maxAdded}⌉ above ${p.maxAdded} added elements)</dd>
<dt>Max checkpoint age</dt><dd>${duration(p.maxCheckpointAge)}</dd>
<dt>Max release age</dt><dd>${duration(p.maxReleaseAge)}</dd>
<dt>Max entries</dt><dd>${p.maxEntries}</dd>
<dt>OPRF limit</dt><dd>${p.oprfLimit} elements per key per day</dd>
</dl>
<h2>Organisations</h2>
${scroll('Organisations', html`<table id="orgs"><caption>${p.orgs.length} organisations</caption><thead><tr><th scope="col">Name</th><th scope="col">Jurisdiction</th><th scope="col">Key</th></tr></thead><tbody>${orgs}</tbody></table>`)}
<h2>Witnesses</h2>
${scroll('Witnesses', html`<table id="witnesses"><caption>${p.witnesses.length} witnesses, quorum ${p.witnessQuorum}</caption><thead><tr><th scope="col">Name</th><th scope="col">Submission URL</th><th scope="col">Key</th></tr></thead><tbody>${witnesses}</tbody></table>`)}
<h2>Auditors</h2>
${auditors.length === 0 ? html`<p>None.</p>` : scroll('Auditors', html`<table><caption>Auditors allowed to query the OPRF</caption><thead><tr><th scope="col">Name</th><th scope="col">Key</th></tr></thead><tbody>${auditors}</tbody></table>`)}
<h2>History</h2>
${scroll('Policy history', html`<table id="history"><caption>Every policy entry in the log</caption><thead><tr><th scope="col">Sequence</th><th scope="col" class="num">Log index</th><th scope="col">Leaf hash</th><th scope="col">Status</th><th scope="col" class="num">Orgs</th><th scope="col" class="num">Witnesses</th></tr></thead><tbody>${history}</tbody></table>`)}`;
}
