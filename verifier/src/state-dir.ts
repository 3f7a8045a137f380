// The `--state DIR` store of `concord audit` and `concord monitor`: what an auditor remembers
// between runs, so each run proves consistency with the last one and downloads only what is new.
//
//   DIR/checkpoint          the last audited checkpoint note (with its cosignatures), verified
//                           when it was written; the next audit proves the new checkpoint
//                           consistent with it, or reports a fork with both notes as evidence
//   DIR/monitor.json        `concord monitor`'s memory (entries seen, policies in force, events
//                           already reported), so a restarted monitor does not repeat itself
//   DIR/last-audit.json     a summary of the last audit (size, releases, policies): "what
//                           changed since the last audit"
//   DIR/tiles/<tile path>   hash tiles, written only after tileHashReader authenticated them
//                           against a verified root (client.ts TileCache contract)
//   DIR/tiles/tile/entries/<N>   full entry bundles, written only after every entry in them was
//                           checked against the leaf hashes of a verified tree
//
// Only authenticated data is cached, and cached data is authenticated again on use (a tile is
// checked against the new root, a bundle against the new tree's leaf hashes), so a tampered
// state directory can make an audit fail but never pass. Writes are atomic (temporary file +
// rename), so an interrupted run leaves either the old file or the new one: a run that was
// interrupted resumes from the tiles and bundles already saved.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TileCache } from '@concord/client-sdk/client';
import { parseTilePath } from '@concord/client-sdk/tiles';
import type { MonitorMemory } from './monitor.js';

/** Cap on what is read back from the state directory (the largest tile or bundle, or a report). */
const MAX_STATE_FILE = 256 * (2 + 65_535);

export interface LastAudit {
  readonly size: number;
  /** Base64 root. */
  readonly root: string;
  readonly time: number;
  /** Release sequence → leaf hex. */
  readonly releases: Record<string, string>;
  /** Policy sequence → leaf hex. */
  readonly policies: Record<string, string>;
}

export class StateDir {
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Opens (creating if needed, mode 0700) a state directory. */
  static open(dir: string): StateDir {
    mkdirSync(path.join(dir, 'tiles'), { recursive: true, mode: 0o700 });
    return new StateDir(dir);
  }

  private read(rel: string): Uint8Array | undefined {
    try {
      const b = readFileSync(path.join(this.dir, rel));
      if (b.length > MAX_STATE_FILE) return undefined;
      return new Uint8Array(b.buffer, b.byteOffset, b.length);
    } catch {
      return undefined;
    }
  }

  private write(rel: string, data: Uint8Array | string): void {
    const file = path.join(this.dir, rel);
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    writeFileSync(tmp, data);
    renameSync(tmp, file);
  }

  /** The last audited checkpoint note, or undefined on the first run. */
  readCheckpoint(): Uint8Array | undefined {
    return this.read('checkpoint');
  }

  writeCheckpoint(note: Uint8Array): void {
    this.write('checkpoint', note);
  }

  readLastAudit(): LastAudit | undefined {
    const b = this.read('last-audit.json');
    if (b === undefined) return undefined;
    try {
      const j = JSON.parse(new TextDecoder().decode(b)) as LastAudit;
      if (typeof j?.size !== 'number' || typeof j.root !== 'string') return undefined;
      return { size: j.size, root: j.root, time: j.time, releases: j.releases ?? {}, policies: j.policies ?? {} };
    } catch {
      return undefined;
    }
  }

  writeLastAudit(a: LastAudit): void {
    this.write('last-audit.json', JSON.stringify(a, null, 2) + '\n');
  }

  readMonitor(): MonitorMemory | undefined {
    const b = this.read('monitor.json');
    if (b === undefined) return undefined;
    try {
      const j = JSON.parse(new TextDecoder().decode(b)) as MonitorMemory;
      const strings = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === 'string');
      if (!Number.isSafeInteger(j?.size) || !strings(j.policiesInForce) || !strings(j.missingReported) || !strings(j.witnessesBehind)) return undefined;
      return j;
    } catch {
      return undefined;
    }
  }

  writeMonitor(m: MonitorMemory): void {
    this.write('monitor.json', JSON.stringify(m) + '\n');
  }

  /** Canonical tile paths only (parseTilePath), so a path can never leave DIR/tiles. */
  private tileFile(p: string): string | undefined {
    try {
      parseTilePath(p);
    } catch {
      return undefined;
    }
    return path.join('tiles', ...p.split('/'));
  }

  /** Authenticated hash tiles (and full entry bundles) by tile path. */
  tileCache(): TileCache {
    return {
      get: (p) => {
        const f = this.tileFile(p);
        return f === undefined ? undefined : this.read(f);
      },
      set: (p, data) => {
        const f = this.tileFile(p);
        if (f !== undefined) this.write(f, data);
      },
    };
  }
}
