// The dashboard in process: the server-rendered pages show the seeded log's numbers, the root
// check answers, and the verifying page's logic (verify-core.ts, run here on Node with the
// client-sdk package) verifies the log, and catches a tampered tile, a wrong trust anchor, a
// dashboard that misstates a release and a checkpoint without a witness quorum.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as bytes from '@concord/client-sdk/bytes';
import * as checkpoint from '@concord/client-sdk/checkpoint';
import * as client from '@concord/client-sdk/client';
import * as cosignature from '@concord/client-sdk/cosignature';
import * as entries from '@concord/client-sdk/entries';
import * as merkle from '@concord/client-sdk/merkle';
import * as note from '@concord/client-sdk/note';
import * as policy from '@concord/client-sdk/policy';
import type { Fetch } from '@concord/client-sdk/client';
import { checkRoot, parseClaims, verifyLog } from '@concord/log-server/dashboard/verify-core';
import type { Sdk } from '@concord/log-server/dashboard/verify-core';
import { escapeHtml, html } from '@concord/log-server/dashboard/html';
import { signEntry } from '@concord/client-sdk/entries';
import { postEntry } from '../log-server/test/helpers.js';
import { seedLog } from './dashboard-seed.js';
import type { SeededLog } from './dashboard-seed.js';

const sdk: Sdk = { bytes, checkpoint, client, cosignature, entries, merkle, note, policy };
let s: SeededLog;

beforeAll(async () => {
  s = await seedLog();
});
afterAll(async () => {
  await s?.close();
});

async function get(path: string): Promise<{ status: number; text: string; headers: Headers }> {
  const r = await s.log.app.request(path);
  return { status: r.status, text: await r.text(), headers: r.headers };
}

/** The inner HTML of the first element carrying `attr` (a row, a cell). */
function part(text: string, attr: string, tag = '[a-z]+'): string {
  const m = new RegExp(`<(${tag})[^>]*${attr.replace(/[[\]"]/g, (c) => '\\' + c)}[^>]*>([\\s\\S]*?)</\\1>`).exec(text);
  if (m === null) throw new Error(`no element with ${attr}`);
  return m[2]!;
}

const strip = (h: string): string => h.replace(/<[^>]+>/g, '').trim();

describe('server-rendered pages', () => {
  it('the overview shows the cosigned checkpoint, every release with its numbers and the OPRF counts', async () => {
    const { status, text, headers } = await get('/');
    expect(status).toBe(200);
    expect(headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(text).not.toMatch(/<script/i);
    expect(strip(part(text, 'data-field="size"'))).toBe(String(s.size));
    expect(strip(part(text, 'data-field="witnesses"'))).toBe('4 of 4 cosigned (quorum 3)');
    for (const r of s.releases) {
      const row = part(text, `data-release="${r.sequence}"`, 'tr');
      expect(strip(part(row, 'data-field="count"'))).toBe(String(r.count));
      expect(strip(part(row, 'data-field="added"'))).toBe(String(r.added));
      expect(strip(part(row, 'data-field="removed"'))).toBe(String(r.removed));
      expect(strip(part(row, 'data-field="index"'))).toBe(String(r.index));
      expect(strip(part(row, 'data-field="root"'))).toBe(bytes.toBase64(r.root));
    }
    expect(s.releases.map((r) => [r.count, r.added, r.removed])).toEqual([[3, 3, 0], [3, 1, 1]]);
    // Release 1 was published three days ago (notice 1 day): noticed; release 2 a minute ago: pending.
    expect(strip(part(part(text, 'data-release="1"', 'tr'), 'data-field="noticed"'))).not.toContain('pending');
    expect(strip(part(part(text, 'data-release="2"', 'tr'), 'data-field="noticed"'))).toContain('pending');
    expect(strip(part(part(text, 'data-release="1"', 'tr'), 'data-field="endorsed"'))).toBe('org-fr (FR), org-us (US) quorum met');
    expect(strip(part(part(text, 'data-release="2"', 'tr'), 'data-field="endorsed"'))).toBe('org-de (DE), org-fr (FR), org-us (US) quorum met');
    expect(strip(part(part(text, 'data-oprf-key="org-us"', 'tr'), 'data-field="used"'))).toBe('1234');
    expect(strip(part(part(text, 'data-oprf-key="press"', 'tr'), 'data-field="used"'))).toBe('56');
    expect(text).toContain('<svg class="chart"');
    expect(text).toContain('Release 2: 3 entries, 1 added, 1 removed');
  });

  it('the release page shows contributions per org and jurisdiction, the intersection and the downloads', async () => {
    const { status, text } = await get('/releases/2');
    expect(status).toBe(200);
    const r2 = s.releases[1]!;
    expect(r2.contributionCounts).toEqual({ 'org-de': 2, 'org-fr': 5, 'org-us': 4 });
    for (const [org, n] of Object.entries(r2.contributionCounts)) {
      expect(strip(part(part(text, `data-org="${org}"`, 'tr'), 'data-field="count"'))).toBe(String(n));
    }
    expect(strip(part(part(text, 'data-jurisdiction="FR"', 'tr'), 'data-field="total"'))).toBe('5');
    expect(strip(part(text, 'data-field="distinct"'))).toBe('6'); // a b d e f g
    expect(strip(part(text, 'data-field="below-orgs"'))).toBe('2'); // e, f
    expect(strip(part(text, 'data-field="excluded"'))).toBe('1'); // g
    expect(strip(part(text, 'data-field="kept"'))).toBe('3');
    expect(strip(part(text, 'data-field="recomputed"'))).toBe("equals the release's database root");
    expect(text).toContain('href="/release/2/bundle"');
    const downloads = part(text, 'id="downloads"', 'ul');
    expect(downloads.match(/href="\/blob\/sha256\/[0-9a-f]{64}"/g)).toHaveLength(4); // database + 3 contributions
    // Every blob link resolves on this server.
    for (const m of downloads.matchAll(/href="(\/blob\/sha256\/[0-9a-f]{64})"/g)) expect((await s.log.app.request(m[1]!)).status).toBe(200);
    expect((await get('/releases/3')).status).toBe(404);
    expect((await get('/releases/01')).status).toBe(404);
  });

  it('the policy page lists the orgs, witnesses and the anchor', async () => {
    const { text } = await get('/policy');
    expect(strip(part(text, 'data-field="anchor"'))).toBe(bytes.toHex(s.anchorLeaf));
    for (const o of ['org-us', 'org-fr', 'org-de']) expect(text).toContain(`data-org="${o}"`);
    for (const w of ['w1.example', 'w2.example', 'w3.example', 'w4.example']) expect(text).toContain(`data-witness="${w}"`);
    expect(text).toContain('data-policy="1"');
  });

  it('check a root: a logged root (base64 or hex) is answered with its release, a made-up one is not', async () => {
    const r2 = s.releases[1]!;
    for (const q of [encodeURIComponent(bytes.toBase64(r2.root)), bytes.toHex(r2.root)]) {
      const { status, text } = await get(`/check?root=${q}`);
      expect(status).toBe(200);
      expect(text).toContain('data-outcome="release" data-release="2"');
    }
    const madeUp = bytes.toBase64(new Uint8Array(32).fill(7));
    const no = await get(`/check?root=${encodeURIComponent(madeUp)}`);
    expect(no.text).toContain('data-outcome="unknown"');
    expect((await get('/check?root=xyz')).status).toBe(400);
  });

  it('escapes everything interpolated', () => {
    expect(html`<p title="${'"><script>'}">${'<b>&'}</p>`.value).toBe('<p title="&quot;&gt;&lt;script&gt;">&lt;b&gt;&amp;</p>');
    expect(escapeHtml(`'`)).toBe('&#39;');
  });
});

describe('verify-core (the verifying page logic) on Node', () => {
  const claims = async (): Promise<ReturnType<typeof parseClaims>> => parseClaims(await (await s.log.app.request('/dashboard.json')).json());
  const input = (over: Partial<Parameters<typeof verifyLog>[1]> = {}) => ({
    url: 'http://log.test',
    origin: s.origin,
    anchor: s.anchorLeaf,
    now: Math.floor(Date.now() / 1000),
    fetch: s.fetch,
    ...over,
  });

  it('verifies the checkpoint and every release, and agrees with the dashboard', async () => {
    const r = await verifyLog(sdk, input({ claims: await claims() }));
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.checkpoint?.size).toBe(s.size);
    expect(r.checkpoint?.witnesses.filter((w) => w.times.length > 0)).toHaveLength(4);
    expect(r.releases.map((x) => [x.sequence, x.index, x.count, x.added, x.removed, x.problems, x.claimed])).toEqual(
      s.releases.map((x) => [x.sequence, x.index, x.count, x.added, x.removed, [], true]),
    );
    expect(r.releases.map((x) => x.noticed)).toEqual([true, false]);
    expect(r.releases[1]!.endorsedBy.map((o) => o.org)).toEqual(['org-de', 'org-fr', 'org-us']);
    expect(r.falseClaims).toEqual([]);
    expect(checkRoot(sdk, r, bytes.toHex(s.releases[0]!.root))).toMatchObject({ outcome: 'verified', release: { sequence: 1 } });
    expect(checkRoot(sdk, r, bytes.toBase64(new Uint8Array(32).fill(9))).outcome).toBe('unknown');
    expect(checkRoot(sdk, r, 'not a root').outcome).toBe('not-a-root');
  });

  it('fails on a tampered hash tile, a tampered entry bundle and a tampered checkpoint', async () => {
    const tamper = (match: (path: string) => boolean): Fetch => async (url, init) => {
      const res = await s.fetch(url, init);
      const path = new URL(url).pathname;
      if (!match(path) || res.status !== 200) return res;
      const b = new Uint8Array(await res.arrayBuffer());
      b[b.length >> 1]! ^= 1;
      return new Response(b, { status: 200 });
    };
    const tile = await verifyLog(sdk, input({ fetch: tamper((p) => p.startsWith('/tile/0/')) }));
    expect(tile.ok).toBe(false);
    expect(tile.error).toMatch(/^authenticating the log's tiles/);
    const bundle = await verifyLog(sdk, input({ fetch: tamper((p) => p.startsWith('/tile/entries/')) }));
    expect(bundle.ok).toBe(false);
    expect(bundle.error).toMatch(/^authenticating the log's tiles/);
    const cp = await verifyLog(sdk, input({ fetch: tamper((p) => p === '/checkpoint') }));
    expect(cp.ok).toBe(false);
  });

  it('fails with a trust anchor that is not in the log, or another origin', async () => {
    const r = await verifyLog(sdk, input({ anchor: new Uint8Array(32).fill(1) }));
    expect(r.ok).toBe(false);
    expect(r.error).toContain('the trust anchor is not in this log');
    const o = await verifyLog(sdk, input({ origin: 'other.example/log' }));
    expect(o.ok).toBe(false);
    expect(o.error).toContain('not the trust anchor');
  });

  it('catches a dashboard that misstates a release or shows one that is not logged', async () => {
    const c = await claims();
    const r1 = c.releases[0]!;
    const lying = {
      ...c,
      releases: [
        { ...r1, endorsedBy: ['org-de', 'org-fr', 'org-us'], publishedAt: r1.publishedAt! - 1 },
        { ...c.releases[1]!, count: 4 },
        { ...r1, sequence: 7 },
      ],
    };
    const r = await verifyLog(sdk, input({ claims: lying }));
    expect(r.ok).toBe(true);
    expect(r.falseClaims).toEqual([
      `release 1: the dashboard shows a different list of endorsing organisations org-de, org-fr, org-us (log: org-fr, org-us), publication time ${r1.publishedAt! - 1} (witnesses: ${r1.publishedAt})`,
      'release 2: the dashboard shows a different count 4 (log: 3)',
      'release 7 is shown by the dashboard but is not in the verified log',
    ]);
    expect(r.releases[1]!.problems).toEqual(['the dashboard shows a different count 4 (log: 3)']);
  });

  it('fails when the checkpoint is not cosigned by a witness quorum', async () => {
    const stripCosigs: Fetch = async (url, init) => {
      const res = await s.fetch(url, init);
      if (new URL(url).pathname !== '/checkpoint') return res;
      const text = await new Response(await res.arrayBuffer()).text();
      // keep the log's signature (the first signature line) and one cosignature
      const [body, sigs] = text.split('\n\n') as [string, string];
      const lines = sigs.split('\n').filter((l) => l !== '');
      return new Response(`${body}\n\n${lines.slice(0, 2).join('\n')}\n`, { status: 200 });
    };
    const r = await verifyLog(sdk, input({ fetch: stripCosigs }));
    expect(r.ok).toBe(false);
    expect(r.error).toBe('the checkpoint is cosigned by 1 of the policy\'s 4 witnesses; the quorum is 3');
  });

  // Last: appends an entry, so the latest checkpoint has no cosignature at all.
  it('falls back to the latest cosigned checkpoint the dashboard names while witnesses have not cosigned the newest', async () => {
    const de = s.tl.fixture.orgs[2]!;
    const r1 = s.releases[0]!;
    const added = await postEntry(s.log.app, signEntry({ type: 'endorsement', org: de.name, subject: { kind: 'release', sequence: 1, leaf: r1.leaf } }, de.signer));
    expect(added.status).toBe(200);
    const { text } = await get('/');
    expect(strip(part(text, 'data-field="size"'))).toBe(String(s.size));
    expect(text).toContain('1 entry is signed by the log but not yet cosigned by a quorum');
    const alone = await verifyLog(sdk, input());
    expect(alone.ok).toBe(false);
    expect(alone.error).toBe("the checkpoint is cosigned by 0 of the policy's 4 witnesses; the quorum is 3");
    const r = await verifyLog(sdk, input({ claims: await claims() }));
    expect(r.error).toBeUndefined();
    expect(r.checkpoint?.size).toBe(s.size);
    expect(r.releases.every((x) => x.problems.length === 0)).toBe(true);
    expect(r.falseClaims).toEqual([]);
  });
});
