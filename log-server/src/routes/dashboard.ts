// The transparency dashboard at / (issue 9): server-rendered pages that show what the log holds,
// and one static verifying page that checks it in the reader's browser.
//
//   GET /                 current cosigned checkpoint, latest releases, size chart, root form, OPRF counts
//   GET /releases         every release, with the size chart
//   GET /releases/<n>     one release: contributions per org and jurisdiction, intersection, downloads
//   GET /policy           the policy in force (orgs, witnesses, thresholds) and the policy history
//   GET /check?root=<r>   is r the database root of a logged, endorsed, witnessed release?
//   GET /verify           the verifying page: log-server/static/verify.html, byte for byte (its
//                         SHA-256 is published in the README; scripts/build-dashboard.ts builds it)
//   GET /dashboard.json   what these pages claim about releases, for the verifying page to check
//
// The server pages carry no script at all; /verify carries one inline script, allowed by its
// SHA-256 in the Content-Security-Policy.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Hono } from 'hono';
import { concatBytes, equalBytes, fromBase64, fromHex, toBase64, toHex } from '@concord/client-sdk/bytes';
import { intersectContributions } from '@concord/client-sdk/database';
import type { Contribution } from '@concord/client-sdk/database';
import type { ReleaseEntry } from '@concord/client-sdk/entries';
import type { Env, RouteContext } from '../app.js';
import type { Indexed, ReleaseView } from '../dashboard/log-index.js';
import { html } from '../dashboard/html.js';
import type { Html } from '../dashboard/html.js';
import {
  PAGE_CSP,
  checkForm,
  checkpointSection,
  isoTime,
  layout,
  oprfSection,
  policyPage,
  releasePage,
  releaseTable,
  sizeChart,
  time,
} from '../dashboard/pages.js';
import type { CheckpointInfo, ContributionRow, IntersectionOutcome, PageContext } from '../dashboard/pages.js';
import { parseCheckpoint } from '@concord/client-sdk/checkpoint';
import { parseNote } from '@concord/client-sdk/note';
import { utcDay } from '../storage/types.js';
import { OPRF_QUOTA_SCOPE } from './oprf.js';

/** Where the verifying page lives (the same relative path from src/routes and dist/routes). */
export const VERIFY_PAGE_URL = new URL('../../static/verify.html', import.meta.url);

/** Total blob bytes the server reads to recompute a release's intersection for its page. */
const MAX_INTERSECTION_BYTES = 64 << 20;

const PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-cache',
  'Content-Security-Policy': PAGE_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
} as const;

/** The verifying page and its CSP (its one inline script, by hash), or why it is unavailable. */
function loadVerifyPage(): { body: Uint8Array; headers: Record<string, string> } | string {
  let body: Uint8Array;
  try {
    body = new Uint8Array(readFileSync(VERIFY_PAGE_URL));
  } catch {
    return 'the verifying page is not built: run `node scripts/dist/build-dashboard.js`';
  }
  const text = new TextDecoder().decode(body);
  const hashes = [...text.matchAll(/<script type="module">([\s\S]*?)<\/script>/g)].map(
    (m) => `'sha256-${createHash('sha256').update(m[1]!, 'utf8').digest('base64')}'`,
  );
  return {
    body,
    headers: {
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-cache',
      'Access-Control-Allow-Origin': '*',
      'Content-Security-Policy': `default-src 'none'; script-src ${hashes.join(' ')}; style-src 'unsafe-inline'; img-src data:; connect-src *; form-action 'none'; base-uri 'none'; frame-ancestors 'none'`,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    },
  };
}

/** A database root as pasted: base64 (44 characters) or hex (64), surrounding spaces ignored. */
export function parseRootInput(s: string): Uint8Array | undefined {
  const t = s.trim().replace(/ /g, '+');
  try {
    if (/^[0-9a-fA-F]{64}$/.test(t)) return fromHex(t.toLowerCase(), 32);
    return fromBase64(t, 32);
  } catch {
    return undefined;
  }
}

async function readBlob(ctx: RouteContext, digest: Uint8Array): Promise<Uint8Array | undefined> {
  const b = await ctx.deps.blobs.get(digest);
  if (b === null) return undefined;
  const parts: Uint8Array[] = [];
  for await (const chunk of b.stream() as unknown as AsyncIterable<Uint8Array>) parts.push(chunk);
  return concatBytes(...parts);
}

export function registerDashboardRoutes(app: Hono<Env>, ctx: RouteContext): void {
  const { deps } = ctx;
  const index = ctx.logIndex;
  const verifyPage = loadVerifyPage();
  const outcomes = new Map<string, IntersectionOutcome | string>();

  const page = (title: string, body: Html, status = 200): Response => {
    const pc: PageContext = { origin: deps.origin, now: deps.now() };
    return new Response(layout(pc, title, body), { status, headers: PAGE_HEADERS });
  };

  const views = async (): Promise<{ views: ReleaseView[]; cp: CheckpointInfo }> => {
    await index.refresh();
    const cosigned = await index.latestCosigned();
    let cosignedRoot: Uint8Array | undefined;
    if (cosigned !== undefined) {
      try {
        cosignedRoot = parseCheckpoint(parseNote(cosigned.checkpoint.note).text).root;
      } catch {
        cosignedRoot = undefined;
      }
    }
    const vs: ReleaseView[] = [];
    for (const r of index.releases) vs.push(await index.view(r, cosigned?.times));
    return { views: vs, cp: { cosigned, cosignedRoot, latestSize: index.indexed } };
  };

  const oprf = async (): Promise<Html> => {
    const day = utcDay(deps.now());
    return oprfSection(deps.state.current()?.entry, day, await deps.store.readQuotas(OPRF_QUOTA_SCOPE, day));
  };

  app.get('/', async (c) => {
    ctx.strictPath(c);
    const { views: vs, cp } = await views();
    const latest = vs.slice(-5);
    const body = html`<h1>Transparency dashboard</h1>
<p>Every database this log's devices may use is a release in this append-only log, computed from the lists of several organisations in several jurisdictions, endorsed by them and cosigned by independent witnesses. <a href="/verify">Check it in your browser</a> rather than trusting this page.</p>
${checkpointSection({ origin: deps.origin, now: deps.now() }, cp)}
<section aria-labelledby="rel-h"><h2 id="rel-h">Releases</h2>
${releaseTable(latest, vs.length > latest.length ? `The latest ${latest.length} of ${vs.length} releases` : `All ${vs.length} releases`)}
${vs.length > latest.length ? html`<p><a href="/releases">All ${vs.length} releases</a></p>` : ''}
${sizeChart(vs.map((v) => v.release.entry))}</section>
<section aria-labelledby="check-h"><h2 id="check-h">Check a root</h2>${checkForm()}</section>
${await oprf()}
<section aria-labelledby="pol-h"><h2 id="pol-h">Policy</h2><p>Policy ${deps.state.current()?.entry.sequence ?? '?'} is in force: ${deps.state.current()?.entry.orgs.length ?? 0} organisations, ${deps.state.current()?.entry.witnesses.length ?? 0} witnesses. <a href="/policy">Organisations, witnesses, thresholds and history</a>.</p></section>`;
    return page('Overview', body);
  });

  app.get('/releases', async (c) => {
    ctx.strictPath(c);
    const { views: vs } = await views();
    return page('Releases', html`<h1>Releases</h1>${sizeChart(vs.map((v) => v.release.entry))}${releaseTable(vs, `All ${vs.length} releases, newest first`)}`);
  });

  app.get('/releases/:n', async (c) => {
    ctx.strictPath(c);
    const n = c.req.param('n');
    await index.refresh();
    const r = /^[1-9][0-9]{0,15}$/.test(n) ? index.release(Number(n)) : undefined;
    if (r === undefined) return page('No such release', html`<h1>No such release</h1><p>This log holds no release ${n}. <a href="/releases">All releases</a>.</p>`, 404);
    const cosigned = await index.latestCosigned();
    const v = await index.view(r, cosigned?.times);
    const p = v.policy?.entry;
    const rows: ContributionRow[] = r.entry.contributions.map((rc) => {
      const ce = index.contributions.get(toHex(rc.leaf));
      const juris = p?.orgs.find((o) => o.name === rc.org)?.jurisdiction ?? '?';
      return {
        org: rc.org,
        jurisdiction: juris,
        leaf: rc.leaf,
        index: ce?.index,
        sequence: ce?.entry.sequence,
        count: ce?.entry.set.count,
        blob: ce?.entry.blob,
        expires: ce?.entry.expires,
      };
    });
    const key = toHex(r.signed.leafHash);
    let outcome = outcomes.get(key);
    if (outcome === undefined) {
      outcome = await intersectionOutcome(ctx, r, rows, p?.minOrgs, p?.minJurisdictions, p?.maxEntries);
      outcomes.set(key, outcome);
    }
    return page(`Release ${r.entry.sequence}`, releasePage(v, rows, outcome));
  });

  app.get('/policy', async (c) => {
    ctx.strictPath(c);
    await index.refresh();
    return page('Policy', policyPage(deps.state.current(), deps.state.policies(), index.policyEntries));
  });

  app.get('/check', async (c) => {
    ctx.strictPath(c);
    const q = c.req.query('root');
    if (q === undefined || q.trim() === '') return page('Check a root', html`<h1>Check a root</h1>${checkForm()}`);
    const root = parseRootInput(q);
    if (root === undefined) {
      return page('Check a root', html`<h1>Check a root</h1>${checkForm(q)}<p id="answer" role="status" class="bad">That is not a database root: a root is 32 bytes, pasted as 44 base64 or 64 hex characters.</p>`, 400);
    }
    const { views: vs } = await views();
    const hits = vs.filter((v) => equalBytes(v.release.entry.database.root, root));
    let answer: Html;
    if (hits.length === 0) {
      answer = html`<p id="answer" role="status" class="bad" data-outcome="unknown">Not a logged release: no release of this log has the database root <code>${toBase64(root)}</code>. A device shown this root is not using a database from this log.</p>`;
    } else {
      answer = html`${hits.map((v) => {
        const e = v.release.entry;
        const q2 = v.endorsements;
        const good = q2?.met === true && v.publishedAt !== undefined;
        return html`<div id="answer" role="status" data-outcome="${good ? 'release' : 'incomplete'}" data-release="${e.sequence}">
<p class="${good ? 'ok' : 'bad'}">${good ? html`Yes: this is the database of <a href="/releases/${e.sequence}">release ${e.sequence}</a>, logged, endorsed and witnessed.` : html`This is the database of <a href="/releases/${e.sequence}">release ${e.sequence}</a>, but it is not (yet) endorsed by a quorum and published under witness cosignatures.`}</p>
<ul><li>Logged at index ${v.release.index}, ${e.database.count} entries.</li>
<li>Endorsed by ${q2?.orgs.length ?? 0} organisations in ${q2?.jurisdictions.join(', ') || 'no'} jurisdictions (${q2?.met === true ? 'quorum met' : 'quorum not met'}).</li>
<li>Published (seen by a witness quorum) at ${time(v.publishedAt)}; expires ${time(e.expires)}${e.expires <= deps.now() ? ' (EXPIRED: devices no longer use it)' : ''}.</li></ul></div>`;
      })}`;
    }
    return page(
      'Check a root',
      html`<h1>Check a root</h1>${checkForm(q)}${answer}<p>This answer comes from this server. <a href="/verify#root=${toHex(root)}">Check the same root in your browser</a> against the log's signatures and witnesses.</p>`,
    );
  });

  app.get('/dashboard.json', async (c) => {
    ctx.strictPath(c);
    const { views: vs, cp } = await views();
    const anchor = deps.state.policies()[0];
    return ctx.json(
      {
        origin: deps.origin,
        anchor: anchor === undefined ? null : toHex(anchor.leaf),
        size: cp.latestSize,
        checkpoint: cp.cosigned === undefined || cp.cosignedRoot === undefined ? null : { size: cp.cosigned.checkpoint.size, root: toBase64(cp.cosignedRoot) },
        releases: vs.map((v) => {
          const e = v.release.entry;
          return {
            sequence: e.sequence,
            index: v.release.index,
            leaf: toBase64(v.release.signed.leafHash),
            root: toBase64(e.database.root),
            count: e.database.count,
            added: e.added,
            removed: e.removed,
            expires: e.expires,
            publishedAt: v.publishedAt ?? null,
            endorsedBy: v.endorsements?.orgs ?? [],
          };
        }),
        generatedAt: isoTime(deps.now()),
      },
      200,
      { 'Cache-Control': 'no-cache' },
    );
  });

  app.get('/verify', (c) => {
    ctx.strictPath(c);
    if (typeof verifyPage === 'string') return page('Verifying page unavailable', html`<h1>Verifying page unavailable</h1><p>${verifyPage}</p>`, 503);
    return new Response(verifyPage.body, { headers: verifyPage.headers });
  });
}

async function intersectionOutcome(
  ctx: RouteContext,
  r: Indexed<ReleaseEntry>,
  rows: readonly ContributionRow[],
  minOrgs: number | undefined,
  minJurisdictions: number | undefined,
  maxEntries: number | undefined,
): Promise<IntersectionOutcome | string> {
  if (minOrgs === undefined || minJurisdictions === undefined) return 'The release names no policy in force: nothing to recompute.';
  let total = 0;
  for (const row of rows) total += (row.count ?? 0) * 32;
  if (total > MAX_INTERSECTION_BYTES) return `The contributions hold ${total} bytes; this server recomputes intersections of at most ${MAX_INTERSECTION_BYTES} bytes for this page. Use concord audit.`;
  const contributions: Contribution[] = [];
  for (const row of rows) {
    if (row.blob === undefined) return `The contribution entry of ${row.org} is not in the log.`;
    const elements = await readBlob(ctx, row.blob);
    if (elements === undefined) return `The contribution blob of ${row.org} is not on this server.`;
    contributions.push({ org: row.org, jurisdiction: row.jurisdiction, elements });
  }
  let exclude: Uint8Array = new Uint8Array(0);
  if (r.entry.exclude !== null) {
    const x = await readBlob(ctx, r.entry.exclude.blob);
    if (x === undefined) return 'The exclusion blob is not on this server.';
    exclude = x;
  }
  try {
    const result = intersectContributions(contributions, { minOrgs, minJurisdictions }, exclude, maxEntries === undefined ? undefined : { maxEntries });
    const db = r.entry.database;
    return { report: result.report, rootMatches: equalBytes(result.root, db.root) && result.count === db.count };
  } catch (err) {
    return `The contributions cannot be intersected: ${err instanceof Error ? err.message : String(err)}`;
  }
}
