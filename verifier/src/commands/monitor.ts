// concord monitor: follow a log and its mirrors, report changes and split views as JSON lines.
//
//   concord monitor --log URL --trust FILE [--mirror URL …] [--webhook URL] [--interval S]
//                   [--state DIR] [--once]
//
// Every --interval seconds (default 60) it polls (verifier/src/monitor.ts) and prints one JSON
// object per event on stdout — {"type": "checkpoint" | "new-release" | "policy-proposed" |
// "policy-change" | "release-missing-endorsements" | "witness-behind" | "split-view" | "error",
// "time": <unix s of the poll>, "log": URL, …} — and POSTs each event (JSON) to --webhook. A
// webhook that fails is reported on stderr and does not stop the monitor. With --state it
// remembers the last checkpoint and what it has reported across restarts. --once polls once
// and exits: 1 if it saw a split view or an error, else 0. Otherwise it runs until interrupted
// (exit 0, or 1 if a split view was ever seen).

import path from 'node:path';
import { UsageError, parseArgs, required } from '../cli-common.js';
import type { CliIO, Command } from '../cli-common.js';
import { readTrustFile } from '../log-view.js';
import { Monitor } from '../monitor.js';
import type { MonitorEvent } from '../monitor.js';
import { StateDir } from '../state-dir.js';

const USAGE = `usage: concord monitor --log URL --trust FILE [--mirror URL …] [--webhook URL] [--interval S] [--state DIR] [--once]

  --mirror URL    a mirror of the log (repeatable): its checkpoint must be consistent with the log's
  --webhook URL   POST every event there as JSON
  --interval S    seconds between polls (default 60)
  --state DIR     remember the last checkpoint and reported events across restarts
  --once          poll once and exit (1 on a split view or an error)

Output: one JSON object per line per event (new-release, policy-proposed, policy-change,
release-missing-endorsements, witness-behind, split-view with both checkpoints as evidence, error).`;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}

export const commands: Record<string, Command> = {
  monitor: {
    summary: 'follow a log and report changes and split views',
    usage: USAGE,
    run: async (args: readonly string[], io: CliIO): Promise<number> => {
      const a = parseArgs(args, { values: ['log', 'trust', 'webhook', 'interval', 'state'], multi: ['mirror'], flags: ['once', 'json'] });
      const url = required(a, 'log');
      const trust = readTrustFile(path.resolve(io.cwd, required(a, 'trust')));
      const interval = a.values.interval === undefined ? 60 : Number(a.values.interval);
      if (!Number.isFinite(interval) || interval <= 0) throw new UsageError('--interval must be a positive number of seconds');
      const state = a.values.state === undefined ? undefined : StateDir.open(path.resolve(io.cwd, a.values.state));
      const webhook = a.values.webhook;
      const monitor = new Monitor({ url, trust, mirrors: a.multi.mirror ?? [], fetch: io.fetch, now: () => io.now(), ...(state !== undefined ? { state } : {}) });
      let alarm = false;
      const emit = async (e: MonitorEvent, time: number): Promise<void> => {
        const line = JSON.stringify({ ...e, time, log: url });
        io.stdout(line + '\n');
        if (webhook !== undefined) {
          try {
            const res = await io.fetch(webhook, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: new TextEncoder().encode(line) });
            if (res.status < 200 || res.status >= 300) io.stderr(`concord monitor: webhook ${webhook}: HTTP ${res.status}\n`);
          } catch (err) {
            io.stderr(`concord monitor: webhook ${webhook}: ${err instanceof Error ? err.message : String(err)}\n`);
          }
        }
      };
      const aborted = (): boolean => io.signal?.aborted === true;
      for (;;) {
        const time = io.now();
        const events = await monitor.poll();
        for (const e of events) {
          if (e.type === 'split-view' || (a.flags.once === true && e.type === 'error')) alarm = true;
          await emit(e, time);
        }
        if (a.flags.once === true || aborted()) break;
        await sleep(interval * 1000, io.signal);
        if (aborted()) break;
      }
      return alarm ? 1 : 0;
    },
  },
};
