// Tests for bundle.ts: buildBundle over a real in-memory log (which P it picks, every proof
// verifies against F, consistency proofs verify), the JSON layout, byte-exact round trips,
// strict parsing (one refusal per rule) and fuzzing that only ever yields BundleError.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromUtf8, utf8, equalBytes } from '@concord/client-sdk/bytes';
import {
  BUNDLE_MEDIA_TYPE,
  BuildError,
  BundleError,
  MAX_BUNDLE_SIZE,
  MAX_ENDORSEMENTS,
  buildBundle,
  formatBundle,
  parseBundle,
} from '@concord/client-sdk/bundle';
import type { BundleSource } from '@concord/client-sdk/bundle';
import { parseCheckpoint } from '@concord/client-sdk/checkpoint';
import { verifyConsistency } from '@concord/client-sdk/merkle';
import { parseNote } from '@concord/client-sdk/note';
import { verifyProof } from '@concord/client-sdk/proof';
import { newVerifier } from '@concord/client-sdk/note';
import { sha256 } from '@noble/hashes/sha2.js';
import { DAY, T0, acceptedScenario, createNetwork } from './fixtures/network.js';
import type { Network } from './fixtures/network.js';

const sizeOf = (note: Uint8Array): number => parseCheckpoint(parseNote(note).text).size;

const sourceOf = (net: Network): BundleSource => net.source();

describe('buildBundle', () => {
  it('picks P as the earliest quorum checkpoint holding the quorum endorsement, F as the newest', async () => {
    const net = createNetwork();
    const db = net.database(10);
    const r = net.release({ database: db }); // index 4
    await net.cosign(T0 + 10); // size 5: release only
    net.endorse('org-us', r); // 5
    await net.cosign([T0 + 20, T0 + 20, undefined, undefined]); // size 6: no quorum
    net.endorse('org-fr', r); // 6: completes the quorum
    await net.cosign(T0 + 30); // size 7: P
    net.endorse('org-de', r); // 7: after the quorum, shown but not counted for P
    await net.cosign(T0 + 40); // size 8
    net.contribute('org-us', db); // 8
    await net.cosign(T0 + 50); // size 9: F
    const b = parseBundle(await net.bundle());
    expect(b.tree.size).toBe(9);
    expect(sizeOf(b.published.checkpoint)).toBe(7);
    expect(b.endorsements.map((e) => e.proof.index)).toEqual([5, 6, 7]);
    expect(b.release.proof.index).toBe(4);
    expect(b.policies.map((p) => p.proof.index)).toEqual([0]);
    expect(equalBytes(b.database.blob, sha256(db))).toBe(true);
    const log = newVerifier(net.logVkey);
    for (const item of [b.release, ...b.endorsements, ...b.policies]) {
      expect(verifyProof(item.proof, item.signed.leafHash, log, net.origin).checkpoint.size).toBe(9);
    }
    const p = parseCheckpoint(parseNote(b.published.checkpoint).text);
    verifyConsistency(p.size, b.tree.size, b.published.consistency, p.root, b.tree.root);
  });

  it('release by sequence or latest; BuildError codes', async () => {
    const net = createNetwork();
    await expect(buildBundle(sourceOf(net), 'latest')).rejects.toThrow(expect.objectContaining({ code: 'no-checkpoint' }));
    await net.cosign(T0);
    await expect(buildBundle(sourceOf(net), 'latest')).rejects.toThrow(expect.objectContaining({ code: 'no-release' }));
    const r = net.release({ database: net.database(3) });
    net.endorse('org-us', r);
    net.endorse('org-fr', r);
    // A quorum checkpoint exists only below the release: F is that checkpoint, which lacks it.
    await expect(buildBundle(sourceOf(net), 1)).rejects.toThrow(expect.objectContaining({ code: 'no-release' }));
    await net.cosign([T0 + 1, T0 + 1, undefined, undefined]); // no quorum on the new size
    await expect(buildBundle(sourceOf(net), 1)).rejects.toBeInstanceOf(BuildError);
    await net.cosign(T0 + 2);
    const r2 = net.release({ database: net.database(4, 'two') });
    net.endorse('org-us', r2);
    net.endorse('org-de', r2);
    await net.cosign(T0 + DAY);
    expect(parseBundle(await buildBundle(sourceOf(net), 1)).release.proof.index).toBe(r.index);
    expect(parseBundle(await buildBundle(sourceOf(net), 'latest')).release.proof.index).toBe(r2.index);
    await expect(buildBundle(sourceOf(net), 3)).rejects.toThrow(expect.objectContaining({ code: 'no-release' }));
  });

  it('writes the documented JSON layout and round-trips byte for byte', async () => {
    const s = await acceptedScenario(10);
    const j = JSON.parse(fromUtf8(s.bundle)) as Record<string, unknown>;
    expect(Object.keys(j)).toEqual(['mediaType', 'checkpoint', 'published', 'release', 'endorsements', 'policies', 'database']);
    expect(j.mediaType).toBe(BUNDLE_MEDIA_TYPE);
    expect((j.database as { blob: string }).blob).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((j.release as { proof: string }).proof.startsWith('c2sp.org/tlog-proof@v1\nindex 4\n')).toBe(true);
    expect(formatBundle(parseBundle(s.bundle))).toEqual(s.bundle);
  });
});

describe('parseBundle strictness', () => {
  const edit = async (f: (j: Record<string, any>) => void): Promise<Uint8Array> => {
    const s = await acceptedScenario(5);
    const j = JSON.parse(fromUtf8(s.bundle)) as Record<string, any>;
    f(j);
    return utf8(JSON.stringify(j));
  };
  const codeOf = (b: Uint8Array): string => {
    try {
      parseBundle(b);
      return 'parsed';
    } catch (e) {
      if (e instanceof BundleError) return e.code;
      throw e;
    }
  };

  it('refuses each broken rule with its code', async () => {
    const cases: [string, (j: Record<string, any>) => void, string][] = [
      ['unknown key', (j) => (j.extra = 1), 'malformed-bundle'],
      ['missing key', (j) => delete j.published, 'malformed-bundle'],
      ['wrong media type', (j) => (j.mediaType = 'application/json'), 'bad-media-type'],
      ['proof against another checkpoint', (j) => (j.release.proof = j.release.proof.replace(/\n\n[\s\S]*$/, '\n\n' + j.published.checkpoint)), 'malformed-bundle'],
      ['release that is an endorsement', (j) => (j.release = j.endorsements[0]), 'malformed-bundle'],
      ['endorsement that is a policy', (j) => (j.endorsements[0] = { entry: j.policies[0].entry, proof: j.policies[0].proof }), 'malformed-bundle'],
      ['entry with two signatures', (j) => (j.release.entry = j.release.entry + j.release.entry.slice(j.release.entry.lastIndexOf('\n—') + 1)), 'malformed-bundle'],
      ['consistency hash not 32 bytes', (j) => (j.published.consistency = ['AAAA']), 'malformed-bundle'],
      ['blob not sha256:hex', (j) => (j.database.blob = 'sha256:ABC'), 'malformed-bundle'],
      ['number where a string goes', (j) => (j.checkpoint = 5), 'malformed-bundle'],
      ['policy without endorsements', (j) => delete j.policies[0].endorsements, 'malformed-bundle'],
      ['policy with an unknown key', (j) => (j.policies[0].foo = []), 'malformed-bundle'],
      ['too many endorsements', (j) => (j.endorsements = Array.from({ length: MAX_ENDORSEMENTS + 1 }, () => j.endorsements[0])), 'too-large'],
      ['F not a checkpoint', (j) => (j.checkpoint = j.release.entry), 'malformed-bundle'],
    ];
    for (const [what, f, code] of cases) expect(codeOf(await edit(f)), what).toBe(code);
    expect(codeOf(await edit(() => {}))).toBe('parsed');
    expect(codeOf(new Uint8Array(MAX_BUNDLE_SIZE + 1))).toBe('too-large');
    expect(codeOf(utf8('[]'))).toBe('malformed-bundle');
    expect(codeOf(Uint8Array.of(0xff))).toBe('malformed-bundle');
  });

  it('random bytes and mutated bundles only ever throw BundleError', async () => {
    const s = await acceptedScenario(3);
    const good = s.bundle;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        try {
          parseBundle(b);
        } catch (e) {
          if (!(e instanceof BundleError)) throw e;
        }
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const b = good.slice();
        b[at]! ^= x;
        try {
          parseBundle(b);
        } catch (e) {
          if (!(e instanceof BundleError)) throw e;
        }
      }),
      { numRuns: 400 },
    );
  });
});
