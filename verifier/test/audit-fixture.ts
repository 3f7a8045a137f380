// A Concord log that misbehaves on request, for the audit and monitor tests: every entry is
// signed directly with keys the test holds (log, operator, orgs, witnesses), the tree, tiles,
// entry bundles, checkpoints and blobs are computed here and served through a fetch function,
// so a test can log what the real server refuses (a release naming an unendorsed policy, a
// database that is not the intersection), sign two inconsistent checkpoints, date witness
// cosignatures freely, and flip bytes in transit. Not a test file itself.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, toHex } from '@concord/client-sdk/bytes';
import { formatCheckpoint } from '@concord/client-sdk/checkpoint';
import type { Fetch, FetchResponse } from '@concord/client-sdk/client';
import { generateCosignatureKey, newCosignatureSigner } from '@concord/client-sdk/cosignature';
import { diffDatabases, formatDatabase, intersectContributions, parseDatabase } from '@concord/client-sdk/database';
import { signEntry } from '@concord/client-sdk/entries';
import type { ConcordEntry, PolicyEntry, ReleaseEntry } from '@concord/client-sdk/entries';
import { leafHash, rootFromLeafHashes } from '@concord/client-sdk/merkle';
import { generateKey, newSigner, parseNote, signNote } from '@concord/client-sdk/note';
import type { Signer } from '@concord/client-sdk/note';
import { blind, blindEvaluate, blindEvaluateBatch, blindingInput, formatEvaluateResponse, generateKeyPair, parseEvaluateRequest, publicKeyFromSecretKey, unblind } from '@concord/client-sdk/oprf';
import { TILE_WIDTH, encodeEntryBundle, parseTilePath } from '@concord/client-sdk/tiles';

export const ORIGIN = 'audit.example/concord';
export const DAY = 86_400;

export interface Org {
  readonly name: string;
  readonly jurisdiction: string;
  readonly vkey: string;
  readonly signer: Signer;
}

export interface Indexed {
  readonly index: number;
  readonly leaf: Uint8Array;
  readonly bytes: Uint8Array;
}

export const now = (): number => Math.floor(Date.now() / 1000);

/** Random 32-byte elements (DESIGN.md: benchmarks and tests may use random strings). */
export function elements(n: number): Uint8Array[] {
  return Array.from({ length: n }, () => new Uint8Array(randomBytes(32)));
}

export class FakeLog {
  readonly origin = ORIGIN;
  readonly url: string = 'http://fake.log';
  readonly logKey = generateKey(ORIGIN);
  readonly operatorKey = generateKey(`${ORIGIN}/operator`);
  readonly logSigner: Signer;
  readonly operator: Signer;
  readonly blinding = generateKeyPair();
  readonly orgs: Org[];
  readonly auditor = (() => {
    const k = generateKey('press');
    return { name: 'press', ...k, signer: newSigner(k.skey) };
  })();
  readonly witnesses = [1, 2, 3, 4].map((i) => generateCosignatureKey(`w${i}.example`));
  readonly entries: Uint8Array[] = [];
  readonly leaves: Uint8Array[] = [];
  /** Every checkpoint signed, in order; `published` serves the earliest quorum one containing an entry. */
  readonly checkpoints: { size: number; note: Uint8Array; quorum: boolean }[] = [];
  readonly blobs = new Map<string, Uint8Array>();
  /** The checkpoint served at /checkpoint (default: the latest signed). */
  head: Uint8Array | undefined;
  /** Rewrites a response body in transit (path without the base URL). */
  tamper: ((path: string, body: Uint8Array) => Uint8Array) | undefined;
  readonly policy1: PolicyEntry;
  readonly anchor: Uint8Array;
  private releaseCount = 0;
  private lastRelease: { leaf: Uint8Array; db: Uint8Array } | undefined;
  private contributionSeq = new Map<string, number>();
  currentPolicy: { entry: PolicyEntry; leaf: Uint8Array };

  constructor(overrides: Partial<PolicyEntry> = {}) {
    this.logSigner = newSigner(this.logKey.skey);
    this.operator = newSigner(this.operatorKey.skey);
    const juris = ['US', 'FR', 'DE'];
    this.orgs = ['org-us', 'org-fr', 'org-de'].map((name, i) => {
      const k = generateKey(name);
      return { name, jurisdiction: juris[i]!, vkey: k.vkey, signer: newSigner(k.skey) };
    });
    this.policy1 = {
      type: 'policy',
      sequence: 1,
      previous: null,
      log: this.logKey.vkey,
      operator: this.operatorKey.vkey,
      hashAlgorithm: 'pdq-256',
      blindingKey: this.blinding.publicKey,
      minOrgs: 2,
      minJurisdictions: 2,
      endorsementQuorum: { orgs: 2, jurisdictions: 2 },
      noticePeriod: DAY,
      maxCheckpointAge: DAY,
      maxReleaseAge: 30 * DAY,
      maxEntries: 1_000_000,
      maxAdded: 10_000,
      oprfLimit: 100_000,
      orgs: this.orgs.map((o) => ({ name: o.name, jurisdiction: o.jurisdiction, vkey: o.vkey })).sort((a, b) => (a.name < b.name ? -1 : 1)),
      auditors: [{ name: this.auditor.name, vkey: this.auditor.vkey }],
      witnesses: this.witnesses.map((w, i) => ({ vkey: w.vkey, url: `https://w${i + 1}.example/` })).sort((a, b) => (a.vkey < b.vkey ? -1 : 1)),
      witnessQuorum: 3,
      ...overrides,
    };
    this.anchor = signEntry(this.policy1, this.operator);
    this.append(this.anchor);
    this.currentPolicy = { entry: this.policy1, leaf: leafHash(this.anchor) };
  }

  org(name: string): Org {
    return this.orgs.find((o) => o.name === name)!;
  }

  append(bytes: Uint8Array): Indexed {
    this.entries.push(bytes);
    const leaf = leafHash(bytes);
    this.leaves.push(leaf);
    return { index: this.entries.length - 1, leaf, bytes };
  }

  appendEntry(entry: ConcordEntry, signer: Signer): Indexed {
    return this.append(signEntry(entry, signer));
  }

  /** The root of the first `size` entries. */
  root(size = this.entries.length): Uint8Array {
    return rootFromLeafHashes(this.leaves.slice(0, size));
  }

  /**
   * Signs a checkpoint of the current size (or `size`, `root`) with the log key and cosigns it
   * by the first `witnesses` witnesses at `time`; it becomes the served head.
   */
  checkpoint(opts: { time?: number; witnesses?: number; witnessTimes?: number[]; size?: number; root?: Uint8Array; serve?: boolean } = {}): Uint8Array {
    const size = opts.size ?? this.entries.length;
    const text = formatCheckpoint({ origin: ORIGIN, size, root: opts.root ?? this.root(size), extensions: [] });
    const time = opts.time ?? now();
    const count = opts.witnesses ?? 4;
    const cosigs = this.witnesses.slice(0, count).map((w, i) => newCosignatureSigner(w.skey).cosign(text, opts.witnessTimes?.[i] ?? time));
    const note = signNote(text, [this.logSigner], cosigs);
    if (opts.root === undefined) this.checkpoints.push({ size, note, quorum: count >= 3 });
    if (opts.serve !== false) this.head = note;
    return note;
  }

  putBlob(bytes: Uint8Array): Uint8Array {
    const d = sha256(bytes);
    this.blobs.set(toHex(d), bytes);
    return d;
  }

  /** Org `name` contributes these elements (its next sequence, under the current policy). */
  contribute(name: string, elems: Uint8Array[], opts: { expires?: number; sequence?: number } = {}): Indexed {
    const o = this.org(name);
    const db = formatDatabase(elems);
    const s = parseDatabase(db);
    const seq = opts.sequence ?? (this.contributionSeq.get(name) ?? 0) + 1;
    this.contributionSeq.set(name, seq);
    const blob = this.putBlob(db);
    return this.appendEntry(
      { type: 'contribution', org: name, sequence: seq, policy: this.currentPolicy.leaf, set: { root: s.root, count: s.count }, blob, expires: opts.expires ?? now() + 20 * DAY },
      o.signer,
    );
  }

  /**
   * An honest release over these contributions (org name → its contribution), unless a field is
   * overridden (`database` replaces the computed database blob).
   */
  release(contribs: Record<string, Indexed>, opts: { database?: Uint8Array; exclude?: Uint8Array[]; policy?: Uint8Array; expires?: number; added?: number } = {}): Indexed & { entry: ReleaseEntry; db: Uint8Array } {
    const names = Object.keys(contribs).sort();
    const ex = opts.exclude === undefined ? undefined : formatDatabase(opts.exclude);
    const db = opts.database ?? this.intersection(contribs, ex);
    const s = parseDatabase(db);
    const prevDb = this.lastRelease?.db ?? new Uint8Array(0);
    const d = diffDatabases(prevDb, db);
    const entry: ReleaseEntry = {
      type: 'release',
      sequence: ++this.releaseCount,
      previous: this.lastRelease?.leaf ?? null,
      policy: opts.policy ?? this.currentPolicy.leaf,
      contributions: names.map((n) => ({ org: n, leaf: contribs[n]!.leaf })),
      exclude: ex === undefined ? null : { blob: this.putBlob(ex), count: ex.length / 32 },
      database: { root: s.root, count: s.count },
      added: opts.added ?? d.added,
      removed: d.removed,
      blob: this.putBlob(db),
      expires: opts.expires ?? now() + 10 * DAY,
    };
    const r = this.appendEntry(entry, this.operator);
    this.lastRelease = { leaf: r.leaf, db };
    return { ...r, entry, db };
  }

  /** The honest database of these contributions (org name → contribution) under the current policy. */
  intersection(contribs: Record<string, Indexed>, exclude?: Uint8Array): Uint8Array {
    const p = this.currentPolicy.entry;
    const jur = new Map(p.orgs.map((o) => [o.name, o.jurisdiction]));
    const blobs = Object.keys(contribs).sort().map((n) => {
      const text = new TextDecoder().decode(this.entries[contribs[n]!.index]!);
      const hex = /blob sha256:([0-9a-f]{64})/.exec(text)![1]!;
      return { org: n, jurisdiction: jur.get(n)!, elements: this.blobs.get(hex)! };
    });
    return intersectContributions(blobs, { minOrgs: p.minOrgs, minJurisdictions: p.minJurisdictions }, exclude).elements;
  }

  endorse(name: string, kind: 'release' | 'policy', sequence: number, leaf: Uint8Array): Indexed {
    return this.appendEntry({ type: 'endorsement', org: name, subject: { kind, sequence, leaf } }, this.org(name).signer);
  }

  /** Policy n+1: the current policy with these changes, signed by the operator. */
  proposePolicy(changes: Partial<PolicyEntry>): Indexed & { entry: PolicyEntry } {
    const cur = this.currentPolicy;
    const entry: PolicyEntry = { ...cur.entry, ...changes, sequence: cur.entry.sequence + 1, previous: cur.leaf };
    return { ...this.appendEntry(entry, this.operator), entry };
  }

  /** Blinded elements evaluated by POST /oprf/evaluate (the operator's count). */
  oprfQueries = 0;
  /** Answers OPRF requests with this key instead (a lying operator). */
  oprfKeyOverride: Uint8Array | undefined;

  /** k·H(alg ‖ 0 ‖ rawHash): the element a raw hash becomes (computed the long way, as an org would). */
  elementOf(rawHash: Uint8Array): Uint8Array {
    const b = blind(blindingInput(this.currentPolicy.entry.hashAlgorithm, rawHash));
    return unblind(b.blind, blindEvaluate(this.blinding.secretKey, b.blinded));
  }

  /** The log's HTTP read API (what log-server serves), with `tamper` applied. */
  fetch: Fetch = (url, init) => this.handle(url, init);

  /**
   * A second log with the same keys and the same entries so far, served at `url`: appending
   * different entries to each makes two validly signed, inconsistent views.
   */
  fork(url: string): FakeLog {
    const f = Object.assign(Object.create(FakeLog.prototype) as FakeLog, this);
    Object.assign(f, {
      url,
      entries: [...this.entries],
      leaves: [...this.leaves],
      checkpoints: [...this.checkpoints],
      blobs: new Map(this.blobs),
      contributionSeq: new Map((this as unknown as { contributionSeq: Map<string, number> }).contributionSeq),
    });
    f.fetch = (u, i) => f.handle(u, i);
    return f;
  }

  private async handle(url: string, init?: Parameters<Fetch>[1]): Promise<FetchResponse> {
    if (!url.startsWith(this.url)) throw new Error(`fake log: unexpected URL ${url}`);
    const rest = url.slice(this.url.length);
    const [p, query] = rest.split('?') as [string, string | undefined];
    const ok = (body: Uint8Array): FetchResponse => {
      const b = this.tamper === undefined ? body : this.tamper(p, body.slice());
      return new Response(b, { status: 200, headers: { 'content-length': String(b.length) } }) as unknown as FetchResponse;
    };
    const notFound = (): FetchResponse => new Response('{"error":{"code":"not-found","message":"not found"}}', { status: 404 }) as unknown as FetchResponse;
    if ((init?.method ?? 'GET') === 'POST' && p === '/oprf/evaluate') {
      // The request note is not checked here (log-server's route does that); the DLEQ is real.
      const auth = (init?.headers as Record<string, string> | undefined)?.Authorization ?? '';
      if (!auth.startsWith('Concord-Note ')) return new Response('{"error":{"code":"unauthorized"}}', { status: 401 }) as unknown as FetchResponse;
      const blinded = parseEvaluateRequest(init!.body as Uint8Array);
      this.oprfQueries += blinded.length;
      const key = this.oprfKeyOverride ?? this.blinding.secretKey;
      return ok(new TextEncoder().encode(formatEvaluateResponse(blindEvaluateBatch(key, publicKeyFromSecretKey(key), blinded))));
    }
    if ((init?.method ?? 'GET') !== 'GET') return new Response('', { status: 405 }) as unknown as FetchResponse;
    if (p === '/checkpoint') return this.head === undefined ? notFound() : ok(this.head);
    if (p === '/checkpoint/published') {
      const i = Number(/^entry=(\d+)$/.exec(query ?? '')?.[1] ?? NaN);
      const cp = this.checkpoints.find((c) => c.quorum && c.size > i);
      return cp === undefined ? notFound() : ok(cp.note);
    }
    if (p.startsWith('/blob/sha256/')) {
      const b = this.blobs.get(p.slice('/blob/sha256/'.length));
      return b === undefined ? notFound() : ok(b);
    }
    if (p.startsWith('/tile/')) {
      const t = parseTilePath(p.slice(1));
      const w = t.width;
      if (t.level === 'entries') {
        const lo = t.n * TILE_WIDTH;
        if (lo + w > this.entries.length) return notFound();
        return ok(encodeEntryBundle(this.entries.slice(lo, lo + w)));
      }
      const span = TILE_WIDTH ** t.level;
      const first = t.n * TILE_WIDTH;
      if ((first + w) * span > this.entries.length) return notFound();
      const out = new Uint8Array(32 * w);
      for (let j = 0; j < w; j++) {
        const lo = (first + j) * span;
        out.set(t.level === 0 ? this.leaves[lo]! : rootFromLeafHashes(this.leaves.slice(lo, lo + span)), 32 * j);
      }
      return ok(out);
    }
    return notFound();
  };

  /** Writes the trust file (the anchor's bytes) into a new temp directory. */
  trustFile(): { file: string; dir: string; cleanup(): void } {
    const dir = mkdtempSync(path.join(tmpdir(), 'concord-audit-'));
    const file = path.join(dir, 'anchor.entry');
    writeFileSync(file, this.anchor);
    return { file, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  }
}

/** Flips one bit of the byte at `at` (a negative offset counts from the end). */
export function flip(body: Uint8Array, at: number): Uint8Array {
  const i = at < 0 ? body.length + at : at;
  body[i]! ^= 0x01;
  return body;
}

export { fromHex, parseNote };
