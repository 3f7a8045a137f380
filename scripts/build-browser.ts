// The client-sdk as one browser ES module (esbuild): every module of client-sdk/src as a
// namespace export (`import { merkle, device } from './concord-sdk.js'`), no Node built-ins.
//
//   node scripts/dist/build-browser.js [--out FILE] [--minify]
//   default output: client-sdk/dist/browser/concord-sdk.js
//
// The build is deterministic for a given source tree and esbuild version (pinned), so a page
// that inlines it has a reproducible SHA-256. Tests call buildBrowserBundle() directly.

import { readdirSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root, from scripts/ or scripts/dist/. */
export const repoRoot = path.resolve(here, path.basename(here) === 'dist' ? '../..' : '..');
const sdkSrc = path.join(repoRoot, 'client-sdk', 'src');

/** The client-sdk modules bundled (every src/*.ts but the package index). */
export function sdkModules(): string[] {
  return readdirSync(sdkSrc)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && f !== 'index.ts')
    .map((f) => f.slice(0, -3))
    .sort();
}

/** A JavaScript identifier for a module name ("tlog-proof" → "tlog_proof"). */
function ident(m: string): string {
  return m.replace(/[^A-Za-z0-9_$]/g, '_');
}

export interface BrowserBuildOptions {
  readonly minify?: boolean;
}

/** Builds the bundle in memory and returns its text. Fails if any module needs a Node built-in. */
export async function buildBrowserBundle(opts: BrowserBuildOptions = {}): Promise<string> {
  const entry = sdkModules()
    .map((m) => `export * as ${ident(m)} from './${m}.ts';`)
    .join('\n');
  const result = await build({
    stdin: { contents: entry, resolveDir: sdkSrc, sourcefile: 'concord-sdk.ts', loader: 'ts' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: opts.minify === true,
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
    // Any node:* import (or Node-only package) must fail the build, not be polyfilled.
    external: [],
  });
  const out = result.outputFiles[0];
  if (out === undefined) throw new Error('esbuild produced no output');
  return out.text;
}

async function main(argv: string[]): Promise<void> {
  const i = argv.indexOf('--out');
  const out = i >= 0 && argv[i + 1] !== undefined ? path.resolve(argv[i + 1]!) : path.join(repoRoot, 'client-sdk', 'dist', 'browser', 'concord-sdk.js');
  const text = await buildBrowserBundle({ minify: argv.includes('--minify') });
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, text);
  console.log(`${out}: ${text.length} bytes`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main(process.argv.slice(2));
}
