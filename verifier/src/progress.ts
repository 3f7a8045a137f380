// Progress for long downloads and recomputations: a bar redrawn in place on a terminal, plain
// lines otherwise (CI logs, pipes). Always on stderr: stdout carries the report or the JSON.

export interface ProgressBar {
  /** `done` of the bar's total. */
  update(done: number): void;
  /** Completes the bar (prints its final line). */
  finish(): void;
}

export interface Progress {
  bar(label: string, total: number): ProgressBar;
  /** A one-line note (a phase starting, a count). */
  note(message: string): void;
}

/** Prints nothing: for --json runs that must keep stderr quiet, and for library callers. */
export const silentProgress: Progress = {
  bar: () => ({ update: () => {}, finish: () => {} }),
  note: () => {},
};

export interface ProgressOptions {
  readonly write: (s: string) => void;
  /** Redraw a bar in place (a terminal), or print plain lines at 0/25/50/75/100 %. */
  readonly tty: boolean;
  /** Milliseconds between redraws on a terminal (default 100). */
  readonly intervalMs?: number;
  readonly clock?: () => number;
}

const WIDTH = 30;

export function createProgress(opts: ProgressOptions): Progress {
  const clock = opts.clock ?? (() => Date.now());
  const interval = opts.intervalMs ?? 100;
  return {
    note: (m) => opts.write(`${m}\n`),
    bar: (label, total) => {
      let last = -Infinity;
      let quarter = -1;
      let finished = false;
      const line = (done: number): string => {
        const frac = total <= 0 ? 1 : Math.min(1, done / total);
        const filled = Math.round(frac * WIDTH);
        return `${label} [${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${Math.floor(frac * 100)}% ${done}/${total}`;
      };
      const draw = (done: number, force: boolean): void => {
        if (finished) return;
        if (opts.tty) {
          const t = clock();
          if (!force && t - last < interval) return;
          last = t;
          opts.write(`\r${line(done)}`);
        } else {
          const q = total <= 0 ? 4 : Math.floor((Math.min(done, total) / total) * 4);
          if (q > quarter || force) {
            if (q === quarter && force) return;
            quarter = q;
            opts.write(`${label}: ${done}/${total} (${q * 25}%)\n`);
          }
        }
      };
      draw(0, true);
      return {
        update: (done) => draw(done, false),
        finish: () => {
          draw(total, true);
          if (opts.tty && !finished) opts.write('\n');
          finished = true;
        },
      };
    },
  };
}
