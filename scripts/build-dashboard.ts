// Builds the dashboard's verifying page: one static HTML file (log-server/static/verify.html)
// whose single inline module script is the client-sdk browser build (build-browser.ts
// buildBrowserBundle) bundled with the page's logic (log-server/src/dashboard/verify-core.ts)
// and DOM glue (scripts/dashboard/page.js) into scripts/dashboard/verify.html.
//
//   node scripts/dist/build-dashboard.js [--out FILE] [--check]
//
// Deterministic for a given source tree and esbuild version (pinned): the log server serves
// the committed file byte for byte, the README publishes its SHA-256, and a test rebuilds it
// and compares (run this after changing client-sdk, the page or verify-core.ts). --check
// exits 1 when the committed file differs from a fresh build.

import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Plugin } from 'esbuild';
import { buildBrowserBundle, repoRoot } from './build-browser.js';

export const VERIFY_PAGE_PATH = path.join(repoRoot, 'log-server', 'static', 'verify.html');
const pageDir = path.join(repoRoot, 'scripts', 'dashboard');
const verifyCore = path.join(repoRoot, 'log-server', 'src', 'dashboard', 'verify-core.ts');

/** The page script: the glue importing the SDK build (virtual module) and verify-core. */
async function buildScript(): Promise<string> {
  const sdk = await buildBrowserBundle();
  const plugin: Plugin = {
    name: 'concord-page',
    setup(b) {
      b.onResolve({ filter: /^concord-sdk$/ }, () => ({ path: 'concord-sdk', namespace: 'concord-sdk' }));
      b.onLoad({ filter: /.*/, namespace: 'concord-sdk' }, () => ({ contents: sdk, loader: 'js' }));
      b.onResolve({ filter: /^concord-verify-core$/ }, () => ({ path: verifyCore }));
      // verify-core.ts has type imports only (erased): a value import would bundle a second
      // copy of client-sdk or something else entirely. Refuse anything else.
      b.onResolve({ filter: /.*/ }, (args) => {
        if (args.kind === 'entry-point') return undefined;
        return { errors: [{ text: `the verifying page may import only concord-sdk and concord-verify-core, not ${args.path}` }] };
      });
    },
  };
  const result = await build({
    stdin: { contents: readFileSync(path.join(pageDir, 'page.js'), 'utf8'), resolveDir: pageDir, sourcefile: 'page.js', loader: 'js' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: false,
    charset: 'ascii',
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
    plugins: [plugin],
  });
  const out = result.outputFiles[0];
  if (out === undefined) throw new Error('esbuild produced no output');
  return out.text;
}

/** The verifying page's bytes. */
export async function buildDashboardPage(): Promise<string> {
  const script = await buildScript();
  if (/<\/script|<!--/i.test(script)) throw new Error('the page script holds "</script" or "<!--": it cannot be inlined as is');
  const template = readFileSync(path.join(pageDir, 'verify.html'), 'utf8');
  const marker = '/*SCRIPT*/';
  if (template.split(marker).length !== 2) throw new Error('the page template must hold the script marker once');
  return template.replace(marker, () => script);
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

async function main(argv: string[]): Promise<number> {
  const i = argv.indexOf('--out');
  const out = i >= 0 && argv[i + 1] !== undefined ? path.resolve(argv[i + 1]!) : VERIFY_PAGE_PATH;
  const page = await buildDashboardPage();
  if (argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(out, 'utf8');
    } catch {
      // missing: differs
    }
    if (current !== page) {
      console.error(`${out} differs from a fresh build (sha256 ${sha256Hex(current)} vs ${sha256Hex(page)}): run node scripts/dist/build-dashboard.js`);
      return 1;
    }
    console.log(`${out}: up to date, sha256 ${sha256Hex(page)}`);
    return 0;
  }
  writeFileSync(out, page);
  console.log(`${out}: ${Buffer.byteLength(page)} bytes, sha256 ${sha256Hex(page)}`);
  return 0;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
