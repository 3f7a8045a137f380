// The dashboard in Debian's Chromium (playwright-core, headless, fresh profile) against real
// HTTP servers on 127.0.0.1 over a seeded log (test/dashboard-seed.ts): the pages show the
// right numbers; the verifying page, served byte for byte as a fresh build of
// scripts/build-dashboard.ts, verifies every release in the browser; both root forms accept a
// logged root and reject a made-up one; a server that tampers with one hash tile makes the page
// report a verification failure; no page requests anything from anywhere but the log; the
// pages fit a phone-width screen. Screenshots go to test-artifacts/ (gitignored).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { createServer } from 'node:http';
import type { Server, RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { toBase64, toHex } from '@concord/client-sdk/bytes';
import { nodeListener } from '@concord/log-server';
import { buildDashboardPage } from '../scripts/build-dashboard.js';
import { launchChromium } from './browser.js';
import type { Browser } from './browser.js';
import { seedLog } from './dashboard-seed.js';
import type { SeededLog } from './dashboard-seed.js';

const artifacts = path.resolve(import.meta.dirname, '..', 'test-artifacts');

let s: SeededLog;
let browser: Browser;
let server: Server;
let tampered: Server;
let base: string;
let tamperedBase: string;
const foreign: string[] = [];

async function listen(listener: RequestListener): Promise<{ server: Server; url: string }> {
  const srv = createServer(listener);
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return { server: srv, url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}` };
}

beforeAll(async () => {
  s = await seedLog();
  const listener = nodeListener(s.log.app, s.log.reader);
  ({ server, url: base } = await listen(listener));
  // The same log, except that every level-0 hash tile has one bit flipped.
  ({ server: tampered, url: tamperedBase } = await listen((req, res) => {
    if (req.method === 'GET' && req.url?.startsWith('/tile/0/') === true) {
      void (async () => {
        const r = await s.log.app.request(req.url!);
        const b = new Uint8Array(await r.arrayBuffer());
        if (r.status === 200) b[0]! ^= 0x80;
        res.writeHead(r.status, { 'Content-Type': 'application/octet-stream', 'Access-Control-Allow-Origin': '*' });
        res.end(b);
      })();
      return;
    }
    listener(req, res);
  }));
  browser = await launchChromium();
  browser.context.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(base + '/') && !u.startsWith(tamperedBase + '/') && !u.startsWith('data:') && !u.startsWith('file:')) foreign.push(u);
  });
  mkdirSync(artifacts, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => server?.close(r));
  await new Promise((r) => tampered?.close(r));
  await s?.close();
});

async function text(page: Page, selector: string): Promise<string> {
  return ((await page.locator(selector).first().textContent()) ?? '').trim();
}

async function verified(page: Page): Promise<string> {
  const summary = page.locator('#summary:not([data-status="idle"]):not([data-status="running"])');
  await summary.waitFor({ timeout: 60_000 });
  return (await summary.getAttribute('data-status')) ?? '';
}

describe('dashboard in Chromium', () => {
  it('serves the verifying page byte for byte as a fresh build', async () => {
    const served = await (await fetch(`${base}/verify`)).text();
    expect(served).toBe(await buildDashboardPage());
  });

  it('server pages show the right numbers, fit a phone and have keyboard access', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${base}/`);
    expect(await text(page, '#checkpoint [data-field="size"]')).toBe(String(s.size));
    expect(await text(page, '#checkpoint [data-field="root"]')).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    for (const r of s.releases) {
      const row = `#releases tr[data-release="${r.sequence}"]`;
      expect(await text(page, `${row} [data-field="count"]`)).toBe(String(r.count));
      expect(await text(page, `${row} [data-field="added"]`)).toBe(String(r.added));
      expect(await text(page, `${row} [data-field="removed"]`)).toBe(String(r.removed));
      expect(await text(page, `${row} [data-field="root"]`)).toBe(toBase64(r.root));
    }
    expect(await text(page, '#oprf tr[data-oprf-key="org-us"] [data-field="used"]')).toBe(String(s.oprf['org-us']));
    expect(await page.locator('svg.chart rect.size').count()).toBe(s.releases.length + 1); // + legend
    await page.screenshot({ path: path.join(artifacts, 'dashboard-overview.png'), fullPage: true });
    // The first Tab reaches the skip link, which moves focus to the main content.
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate('document.activeElement?.id')).toBe('main');

    await page.goto(`${base}/releases/2`);
    for (const [org, n] of Object.entries(s.releases[1]!.contributionCounts)) {
      expect(await text(page, `#contributions tr[data-org="${org}"] [data-field="count"]`)).toBe(String(n));
    }
    expect(await text(page, '#intersection [data-field="kept"]')).toBe('3');
    expect(await page.locator('#downloads a[href="/release/2/bundle"]').count()).toBe(1);
    await page.screenshot({ path: path.join(artifacts, 'dashboard-release.png'), fullPage: true });

    // Phone width: the page itself never scrolls sideways (wide tables scroll in their region).
    await page.setViewportSize({ width: 360, height: 740 });
    for (const p of ['/', '/releases/2', '/policy', '/verify']) {
      await page.goto(`${base}${p}`);
      const overflow = Number(await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth'));
      expect(overflow, p).toBeLessThanOrEqual(0);
    }
    await page.goto(`${base}/releases/2`);
    await page.screenshot({ path: path.join(artifacts, 'dashboard-release-phone.png'), fullPage: true });
    await page.close();
  });

  it('the server-side root form accepts a logged root and rejects a made-up one', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${base}/`);
    await page.getByLabel('Paste the database root your device shows (base64 or hex)').fill(toBase64(s.releases[1]!.root));
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/check\?root=/);
    expect(await page.locator('#answer').getAttribute('data-outcome')).toBe('release');
    expect(await page.locator('#answer').getAttribute('data-release')).toBe('2');
    await page.getByLabel('Paste the database root your device shows (base64 or hex)').fill(toHex(new Uint8Array(32).fill(0xab)));
    await page.getByRole('button', { name: 'Check' }).click();
    await page.waitForURL(/root=abab/);
    expect(await page.locator('#answer').getAttribute('data-outcome')).toBe('unknown');
    await page.close();
  });

  it('the verifying page verifies every release in the browser and checks roots', async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(`${base}/verify`);
    expect(await verified(page), await text(page, '#summary')).toBe('verified');
    expect(errors).toEqual([]);
    expect(await page.inputValue('#anchor')).toBe(toHex(s.anchorLeaf));
    expect(await page.inputValue('#origin')).toBe(s.origin);
    expect(await text(page, '#checkpoint [data-field="size"]')).toBe(String(s.size));
    for (const r of s.releases) {
      const row = page.locator(`#releases tr[data-release="${r.sequence}"]`);
      expect(await row.getAttribute('data-status')).toBe('verified');
      expect(await row.locator('[data-field="count"]').textContent()).toBe(String(r.count));
    }
    expect(await page.locator('#false-claims li').count()).toBe(0);
    await page.screenshot({ path: path.join(artifacts, 'dashboard-verify.png'), fullPage: true });

    await page.getByLabel('Paste the database root your device shows (base64 or hex)').fill(toHex(s.releases[0]!.root));
    await page.getByRole('button', { name: 'Check' }).click();
    await expect.poll(() => page.locator('#root-answer').getAttribute('data-outcome')).toBe('verified');
    expect(await text(page, '#root-answer')).toMatch(/^Yes: release 1, logged at index/);
    await page.getByLabel('Paste the database root your device shows (base64 or hex)').fill(toBase64(new Uint8Array(32).fill(3)));
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#root-answer').getAttribute('data-outcome')).toBe('unknown');

    // A trust anchor of the reader's own that is not this log's: verification fails.
    await page.fill('#anchor', '11'.repeat(32));
    await page.getByRole('button', { name: 'Verify' }).click();
    await expect.poll(() => page.locator('#summary').getAttribute('data-status'), { timeout: 60_000 }).toBe('failed');
    expect(await text(page, '#summary')).toContain('the trust anchor is not in this log');
    await page.close();
  });

  it('the anchors and a root can be given in the address; a tampered tile is caught', async () => {
    const page = await browser.context.newPage();
    // The anchor as `concord-log init` prints it (base64); the page also takes hex.
    const frag = new URLSearchParams({ origin: s.origin, anchor: toBase64(s.anchorLeaf), root: toHex(s.releases[1]!.root) });
    await page.goto(`${base}/verify#${frag}`);
    expect(await verified(page)).toBe('verified');
    await expect.poll(() => page.locator('#root-answer').getAttribute('data-outcome')).toBe('verified');

    await page.goto(`${tamperedBase}/verify#${frag}`);
    await page.reload();
    expect(await verified(page)).toBe('failed');
    expect(await text(page, '#summary')).toMatch(/^Verification FAILED: authenticating the log's tiles and entries against the checkpoint root/);
    expect(await page.locator('#releases tr[data-status="verified"]').count()).toBe(0);
    await page.screenshot({ path: path.join(artifacts, 'dashboard-verify-tampered.png'), fullPage: true });
    await page.close();
  });

  it('the saved page works opened from disk, given the log URL in the address', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'concord-verify-page-'));
    try {
      const file = path.join(dir, 'verify.html');
      writeFileSync(file, new Uint8Array(await (await fetch(`${base}/verify`)).arrayBuffer()));
      const page = await browser.context.newPage();
      const frag = new URLSearchParams({ log: base, origin: s.origin, anchor: toHex(s.anchorLeaf) });
      await page.goto(`${pathToFileURL(file).href}#${frag}`);
      expect(await verified(page), await text(page, '#summary')).toBe('verified');
      expect(await page.locator('#releases tr[data-status="verified"]').count()).toBe(s.releases.length);
      await page.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('made no request to anywhere but the log', () => {
    expect(foreign).toEqual([]);
  });
});
