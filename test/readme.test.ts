// The README publishes the verifying page's SHA-256 so readers can check a saved copy: it must
// name the committed file (which test/browser-dashboard.test.ts checks against a fresh build).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');

it('README states the SHA-256 of log-server/static/verify.html', () => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const m = /^([0-9a-f]{64}) {2}log-server\/static\/verify\.html$/m.exec(readme);
  expect(m, 'README has a "<sha256>  log-server/static/verify.html" line').not.toBeNull();
  const actual = createHash('sha256').update(readFileSync(path.join(root, 'log-server/static/verify.html'))).digest('hex');
  expect(m![1]).toBe(actual);
});
