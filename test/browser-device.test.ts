// Device acceptance in Debian's Chromium (playwright-core, headless, fresh profile): a page
// served on 127.0.0.1 loads the client-sdk browser build (scripts/build-browser.ts, built fresh:
// no Node built-ins), fetches a real database, its bundle and the trust anchor (an in-memory log
// from client-sdk/test/fixtures/network.ts: real keys, proofs and cosignatures), opens it with
// device.openDatabase and shows the verified root, which must equal Node's; a database with one
// flipped byte, or a bundle from which an endorsement was dropped, is refused with its error
// code. It also times openDatabase on a 100,000-element database in the browser.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBundle, parseBundle } from '@concord/client-sdk/bundle';
import { toHex } from '@concord/client-sdk/bytes';
import { parseDatabase } from '@concord/client-sdk/database';
import { buildBrowserBundle } from '../scripts/build-browser.js';
import { launchChromium } from './browser.js';
import type { Browser } from './browser.js';
import { acceptedScenario } from '../client-sdk/test/fixtures/network.js';

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>Concord device</title>
<pre id="out">running</pre>
<script type="module">
import { device, bytes } from '/concord-sdk.js';
const q = new URLSearchParams(location.search);
const get = async (p) => new Uint8Array(await (await fetch(p)).arrayBuffer());
const set = q.get('set') ?? 'small';
const [database, bundle, anchor] = await Promise.all([
  get('/data/' + set + '/' + (q.get('db') ?? 'database')),
  get('/data/' + set + '/' + (q.get('bundle') ?? 'bundle')),
  get('/data/' + set + '/anchor'),
]);
const origin = await (await fetch('/data/' + set + '/origin')).text();
const now = Number(await (await fetch('/data/' + set + '/now')).text());
const out = document.getElementById('out');
const t0 = performance.now();
try {
  const v = await device.openDatabase({ database, bundle, trust: { anchor, origin }, store: new device.MemoryStore(), now });
  const ms = performance.now() - t0;
  out.textContent = 'verified ' + bytes.toHex(v.root) + ' ' + v.count + ' ' + ms.toFixed(1);
} catch (e) {
  out.textContent = 'refused ' + (e && e.code ? e.code : String(e));
}
</script>
`;

let server: Server;
let base: string;
let browser: Browser;
const files = new Map<string, { body: Uint8Array | string; type: string }>();
const roots = new Map<string, string>();

beforeAll(async () => {
  files.set('/index.html', { body: PAGE, type: 'text/html; charset=utf-8' });
  files.set('/concord-sdk.js', { body: await buildBrowserBundle(), type: 'text/javascript; charset=utf-8' });
  for (const [set, n] of [
    ['small', 200],
    ['large', 100_000],
  ] as const) {
    const s = await acceptedScenario(n, { seed: `browser ${set}` });
    const tampered = s.database.slice();
    tampered[tampered.length - 1]! ^= 0x01;
    const oneEndorsement = parseBundle(s.bundle);
    oneEndorsement.endorsements = oneEndorsement.endorsements.slice(0, 1);
    const put = (name: string, body: Uint8Array | string) => files.set(`/data/${set}/${name}`, { body, type: 'application/octet-stream' });
    put('database', s.database);
    put('tampered', tampered);
    put('bundle', s.bundle);
    put('one-endorsement', formatBundle(oneEndorsement));
    put('anchor', s.net.trust.anchor);
    put('origin', s.net.origin);
    put('now', String(s.now));
    roots.set(set, toHex(parseDatabase(s.database).root));
  }
  server = createServer((req, res) => {
    const f = files.get((req.url ?? '/').split('?')[0]!);
    if (f === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': f.type, 'Cache-Control': 'no-store' });
    res.end(f.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

async function run(query: string): Promise<string> {
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  try {
    await page.goto(`${base}/index.html?${query}`);
    await page.waitForFunction("document.getElementById('out')?.textContent !== 'running'", undefined, { timeout: 120_000 });
    expect(errors).toEqual([]);
    return (await page.textContent('#out')) ?? '';
  } finally {
    await page.close();
  }
}

describe('device.openDatabase in Chromium', () => {
  it('opens a real database with its bundle and shows the verified root', async () => {
    const out = await run('set=small');
    expect(out.split(' ').slice(0, 3)).toEqual(['verified', roots.get('small'), '200']);
  });

  it('refuses a database with one flipped byte, and a bundle short of its endorsement quorum', async () => {
    expect(await run('set=small&db=tampered')).toBe('refused database-mismatch');
    expect(await run('set=small&bundle=one-endorsement')).toBe('refused too-few-endorsements');
  });

  it('opens a 100,000-element database (timed)', async () => {
    const out = (await run('set=large')).split(' ');
    expect(out.slice(0, 3)).toEqual(['verified', roots.get('large'), '100000']);
    const ms = Number(out[3]);
    console.log(`browser openDatabase: 100,000 elements in ${ms.toFixed(0)} ms (${Math.round(100_000 / (ms / 1000)).toLocaleString('en-US')} elements/s)`);
    expect(ms).toBeGreaterThan(0);
  }, 180_000);
});
