// The `npm start` round (scripts/demo/network.ts) against a temporary directory, with its
// outcomes checked independently: the release root is recomputed from the planned overlaps
// through the operator's VOPRF (as the auditor) with node:crypto and merkletreejs, the device
// refuses before the notice and accepts after it, the audit passes, the hash only one
// organisation listed is proven absent, and the false positive's exclusion reaches the device
// at once.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MerkleTree } from 'merkletreejs';
import { afterAll, describe, expect, it } from 'vitest';
import { toBase64 } from '@concord/client-sdk/bytes';
import { DemoNetwork, plan } from '../scripts/demo/network.js';

const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();
/**
 * RFC 6962 root with merkletreejs: leaves H(0x00‖e) given as leaves, the node function sees
 * l‖r and prefixes 0x01; an unpaired right node is promoted unchanged (merkletreejs's default),
 * which builds exactly RFC 6962's left-balanced tree.
 */
function rfc6962Root(elements: Uint8Array[]): string {
  const leaves = elements.map((e) => sha256(Buffer.concat([Buffer.of(0), Buffer.from(e)])));
  const tree = new MerkleTree(leaves, (b: Buffer) => sha256(Buffer.concat([Buffer.of(1), b])));
  return tree.getRoot().toString('base64');
}

const dir = mkdtempSync(path.join(tmpdir(), 'concord-start-'));
const port = 20000 + Math.floor(Math.random() * 20000);
const lines: string[] = [];
const net = new DemoNetwork({ dataDir: dir, port, noticePeriod: 8, say: (l) => lines.push(l) });
let again: DemoNetwork | undefined;

afterAll(async () => {
  await net.stop();
  await again?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('npm start round', () => {
  it('runs every step and each outcome checks out independently', async () => {
    await net.create();
    await net.start();
    const out = (await net.round())!;
    const p = plan();

    // Release 1 = the planned kept hashes, blinded; recomputed without the release builder.
    const kept = await net.elements(p.kept);
    const sorted = [...new Map(kept.map((e) => [Buffer.from(e).toString('hex'), e])).values()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(out.release1.count).toBe(90);
    expect(sorted.length).toBe(90);
    expect(out.release1.root).toBe(rfc6962Root(sorted));

    // Before the notice the device refused; after it, it accepted release 1.
    expect(out.deviceBeforeNotice).toBe('not-noticed');
    expect(out.device1.sequence).toBe(1);
    expect(out.device1.endorsers.map((e) => e.jurisdiction)).toEqual(['DE', 'FR', 'US']);
    for (const e of sorted) expect(out.device1.has(e)).toBe(true);
    for (const e of await net.elements(p.dropped)) expect(out.device1.has(e)).toBe(false);

    // The audit passed; the hash only one organisation listed is proven absent.
    expect(out.auditExit).toBe(0);
    expect(out.checkImage.exit).toBe(0);
    expect(out.checkImage.output).toMatch(/not in/i);

    // The false positive is gone from release 2, accepted at once as a subset.
    const fp = await net.element(p.falsePositive);
    const without = sorted.filter((e) => Buffer.compare(Buffer.from(e), Buffer.from(fp)) !== 0);
    expect(out.release2.count).toBe(89);
    expect(out.release2.root).toBe(rfc6962Root(without));
    expect(out.device2.sequence).toBe(2);
    expect(out.device2.acceptedWithoutNotice).toBe(true);
    expect(out.device2.has(fp)).toBe(false);
    expect(toBase64(out.device2.root)).toBe(out.release2.root);
  }, 300_000);

  it('a restart continues with the existing network and checks it again', async () => {
    await net.stop();
    const said: string[] = [];
    again = new DemoNetwork({ dataDir: dir, port, noticePeriod: 8, say: (l) => said.push(l) });
    expect(again.exists).toBe(true);
    await again.start();
    expect(await again.round()).toBeUndefined();
    expect(said).toContain('The round already ran in this network (releases 1 and 2); checking it again:');
    expect(said.some((l) => l.includes('│ Release 2: 89 entries'))).toBe(true);
    expect(said).toContain('  concord audit: everything verified again');
  }, 120_000);
});
