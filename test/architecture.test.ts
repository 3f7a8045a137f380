// Architecture boundaries, enforced on the source tree:
// - client-sdk is the trusted base that runs in browsers and on devices: it
//   imports no Node built-ins and never touches Buffer or process;
// - nothing but log-server itself and the cross-package tests imports log-server;
// - every workspace imports only the packages its own package.json declares;
// - client-sdk depends on nothing but @noble/hashes and @noble/curves.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
const workspaces = ['client-sdk', 'verifier', 'log-server'] as const;
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (name === 'node_modules' || name === 'dist') continue;
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|tsx|mts)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function importsOf(file: string): string[] {
  return importsOfText(readFileSync(file, 'utf8'));
}

function importsOfText(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
}

/** The package a bare specifier names ("@scope/pkg/sub" → "@scope/pkg"), or null for relative paths. */
function packageOf(spec: string): string | null {
  if (spec.startsWith('.') || spec.startsWith('/')) return null;
  const parts = spec.split('/');
  return spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

function declared(ws: string): Set<string> {
  const pkg = JSON.parse(readFileSync(path.join(root, ws, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
  return new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})]);
}

/** Identifiers used as values (not property names or type-only positions) in a file. */
function globalUses(file: string, names: ReadonlySet<string>, text = readFileSync(file, 'utf8')): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node) && names.has(node.text)) {
      const parent = node.parent;
      const isPropertyName =
        (ts.isPropertyAccessExpression(parent) && parent.name === node) ||
        (ts.isPropertyAssignment(parent) && parent.name === node) ||
        ts.isPropertySignature(parent) ||
        ts.isMethodDeclaration(parent) ||
        ts.isPropertyDeclaration(parent);
      if (!isPropertyName) {
        const { line } = sf.getLineAndCharacterOfPosition(node.getStart());
        found.push(`${path.relative(root, file)}:${line + 1}: ${node.text}`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

const FORBIDDEN_GLOBALS = new Set(['Buffer', 'process', 'require', 'global', '__dirname', '__filename']);

describe('architecture', () => {
  it('client-sdk imports no Node built-ins and uses no Buffer or process', () => {
    const files = sourceFiles(path.join(root, 'client-sdk/src'));
    expect(files.length).toBeGreaterThan(0);
    const bad: string[] = [];
    for (const f of files) {
      for (const spec of importsOf(f)) {
        if (builtins.has(spec) || spec.startsWith('node:')) bad.push(`${path.relative(root, f)} imports ${spec}`);
      }
      bad.push(...globalUses(f, FORBIDDEN_GLOBALS));
    }
    expect(bad).toEqual([]);
  });

  it('client-sdk depends only on @noble/hashes and @noble/curves', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'client-sdk/package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      peerDependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    expect(Object.keys(pkg.dependencies ?? {}).sort()).toEqual(['@noble/curves', '@noble/hashes']);
    expect(pkg.peerDependencies ?? {}).toEqual({});
    expect(pkg.optionalDependencies ?? {}).toEqual({});
  });

  it('nothing outside log-server and test/ imports log-server', () => {
    const bad: string[] = [];
    for (const dir of ['client-sdk/src', 'client-sdk/test', 'verifier/src', 'verifier/test']) {
      for (const f of sourceFiles(path.join(root, dir))) {
        for (const spec of importsOf(f)) {
          if (packageOf(spec) === '@concord/log-server' || /(^|\/)log-server(\/|$)/.test(spec)) {
            bad.push(`${path.relative(root, f)} imports ${spec}`);
          }
        }
      }
    }
    expect(bad).toEqual([]);
  });

  it('each workspace imports only the packages it declares', () => {
    const bad: string[] = [];
    for (const ws of workspaces) {
      const allowed = declared(ws);
      for (const f of sourceFiles(path.join(root, ws, 'src'))) {
        for (const spec of importsOf(f)) {
          const pkg = packageOf(spec);
          if (pkg === null) {
            // Relative imports must stay inside the workspace.
            const target = path.resolve(path.dirname(f), spec);
            if (!target.startsWith(path.join(root, ws) + path.sep)) bad.push(`${path.relative(root, f)} reaches outside ${ws}: ${spec}`);
            continue;
          }
          if (builtins.has(spec) || spec.startsWith('node:')) continue;
          if (!allowed.has(pkg)) bad.push(`${path.relative(root, f)} imports undeclared ${pkg}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });

  it('the workspace dependency graph is client-sdk ← verifier, client-sdk ← log-server', () => {
    expect(declared('verifier').has('@concord/log-server')).toBe(false);
    expect(declared('client-sdk').has('@concord/verifier')).toBe(false);
    expect(declared('client-sdk').has('@concord/log-server')).toBe(false);
  });

  it('the checkers find violations (they can fail)', () => {
    const bad = [
      "import { readFileSync } from 'node:fs';",
      "import fs from 'fs';",
      "export { x } from '@concord/log-server/app';",
      "const m = await import('left-pad');",
      'const b = Buffer.from("x"); const e = process.env; const o = { Buffer: 1 }; o.process = 2;',
    ].join('\n');
    expect(importsOfText(bad)).toEqual(['node:fs', 'fs', '@concord/log-server/app', 'left-pad']);
    expect(importsOfText(bad).map(packageOf)).toEqual(['node:fs', 'fs', '@concord/log-server', 'left-pad']);
    expect(globalUses('bad.ts', FORBIDDEN_GLOBALS, bad)).toEqual(['bad.ts:5: Buffer', 'bad.ts:5: process']);
  });
});
