import { describe, expect, it } from 'vitest';
import { parseTrust, LogViewError } from '@concord/verifier/log-view';
import { signEntry } from '@concord/client-sdk/entries';
import { generateKey, newSigner } from '@concord/client-sdk/note';
import { makeFixture } from '../log-server/test/helpers.js';
import { initLog } from '@concord/log-server/init';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

describe('parseTrust', () => {
  it('accepts the anchor concord-log init writes, and names the origin after the log key', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'concord-trust-'));
    try {
      await initLog({ dataDir: dir, policyText: makeFixture().policyText });
      const bytes = new Uint8Array(readFileSync(path.join(dir, 'anchor.entry')));
      const t = parseTrust(bytes);
      expect(t.origin).toBe('test.example/concord');
      expect(t.policy.sequence).toBe(1);
      // Re-signed by another key: refused.
      const other = newSigner(generateKey('test.example/concord/operator').skey);
      expect(() => parseTrust(signEntry(t.policy, other))).toThrow(LogViewError);
      // One flipped byte anywhere: refused with the typed error, never another exception.
      for (let i = 0; i < bytes.length; i += 7) {
        const b = bytes.slice();
        b[i]! ^= 1;
        try {
          parseTrust(b);
          throw new Error(`flip at ${i} accepted`);
        } catch (err) {
          expect(err).toBeInstanceOf(LogViewError);
          expect((err as LogViewError).code).toBe('bad-trust');
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
