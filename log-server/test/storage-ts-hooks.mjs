// Node module hooks that let a child process run the TypeScript sources directly (Node 20 has
// no type stripping), as vitest does in the test process: `.ts` files are transpiled with the
// project's TypeScript (types erased, nothing checked), and a relative `./x.js` import that
// does not exist resolves to `./x.ts`, as in the sources. Workspace packages resolve to their
// sources through the "source" export condition (node --conditions=source).
//
// Used by storage tests that must kill a process holding the sequencer lock:
//   node --conditions=source --import <STORAGE_TS_REGISTER> child.ts …
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    const relative = specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('file:');
    if (err?.code === 'ERR_MODULE_NOT_FOUND' && relative && specifier.endsWith('.js')) {
      return next(`${specifier.slice(0, -3)}.ts`, context);
    }
    throw err;
  }
}

export async function load(url, context, next) {
  if (url.startsWith('file:') && url.endsWith('.ts')) {
    const file = fileURLToPath(url);
    const out = ts.transpileModule(await readFile(file, 'utf8'), {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true, sourceMap: false },
    });
    return { format: 'module', source: out.outputText, shortCircuit: true };
  }
  return next(url, context);
}
