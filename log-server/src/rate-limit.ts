// Per-key rate limits (DESIGN.md: "POST /add is rate-limited per author key") on storage's
// atomic counters (LogStore.chargeQuota), without a storage transaction per request.
//
// Counters are (scope, key, window) with window = ⌊now / windowSeconds⌋. Instead of charging
// storage one unit per request (a durable transaction each: an fsync on SQLite), the limiter
// leases blocks of units — chargeQuota(amount = block, limit) — and hands them out from memory;
// when a lease is used up it charges the next block, and when a whole block no longer fits under
// the limit it charges what is left. So storage never lets more than `limit` units be charged per
// window (also across restarts and several processes), requests cost one transaction per block,
// and the only inexactness is conservative: units leased but not used before a restart or the end
// of the window count as used.

import type { LogStore } from './storage/types.js';
import { ServerError } from './http-errors.js';

export interface RateLimitOptions {
  /** Counter scope in storage (e.g. 'add'). */
  readonly scope: string;
  /** Units per key per window; 0 refuses everything. */
  readonly limit: number;
  /** Window length in seconds (default 60). */
  readonly windowSeconds?: number;
  /** Unix seconds. */
  readonly now: () => number;
}

interface KeyState {
  window: number;
  leased: number;
  exhausted: boolean;
  charging: Promise<void> | null;
}

export class RateLimiter {
  private readonly store: LogStore;
  private readonly scope: string;
  private readonly limit: number;
  private readonly windowSeconds: number;
  private readonly now: () => number;
  private readonly block: number;
  private readonly keys = new Map<string, KeyState>();
  private window = -1;

  constructor(store: LogStore, o: RateLimitOptions) {
    if (!Number.isSafeInteger(o.limit) || o.limit < 0) throw new RangeError('limit must be a non-negative integer');
    this.store = store;
    this.scope = o.scope;
    this.limit = o.limit;
    this.windowSeconds = o.windowSeconds ?? 60;
    if (!Number.isSafeInteger(this.windowSeconds) || this.windowSeconds < 1) throw new RangeError('windowSeconds must be a positive integer');
    this.now = o.now;
    // About 16 storage charges per key per window at most, and never more than 256 units leased.
    this.block = Math.max(1, Math.min(256, Math.ceil(o.limit / 16)));
  }

  /** Seconds until the current window ends. */
  retryAfter(): number {
    const now = this.now();
    return this.windowSeconds - (now % this.windowSeconds);
  }

  /** Takes one unit for `key`, or throws ServerError('rate-limited'). */
  async take(key: string): Promise<void> {
    for (;;) {
      const window = Math.floor(this.now() / this.windowSeconds);
      if (window !== this.window) this.newWindow(window);
      let s = this.keys.get(key);
      if (s === undefined) this.keys.set(key, (s = { window, leased: 0, exhausted: false, charging: null }));
      if (s.leased > 0) {
        s.leased--;
        return;
      }
      if (s.exhausted || this.limit === 0) {
        throw new ServerError('rate-limited', `submission limit of ${this.limit} per ${this.windowSeconds} s reached for this key`);
      }
      if (s.charging === null) s.charging = this.lease(key, s).finally(() => (s.charging = null));
      await s.charging;
    }
  }

  private async lease(key: string, s: KeyState): Promise<void> {
    let amount = this.block;
    for (let attempt = 0; attempt < 8; attempt++) {
      const r = await this.store.chargeQuota({ scope: this.scope, key, period: s.window, amount, limit: this.limit });
      if (r.allowed) {
        s.leased += amount;
        return;
      }
      const left = this.limit - r.used;
      if (left <= 0) break;
      amount = Math.min(amount, left); // another process charged in between: try what is left
    }
    s.exhausted = true;
  }

  private newWindow(window: number): void {
    const old = this.window;
    this.window = window;
    this.keys.clear();
    // Counters of windows before the previous one are of no use to anyone.
    if (old >= 0) this.store.pruneQuotas(this.scope, window - 1).catch(() => {});
  }
}
