// concord check-image, verify-proof (not yet available).

import type { Command } from '../cli-common.js';

const unavailable = (summary: string): Command => ({ summary, usage: '', run: async (_a, io) => (io.stderr('not yet available\n'), 1) });

export const commands: Record<string, Command> = {
  'check-image': unavailable('check-image'),
  'verify-proof': unavailable('verify-proof'),
};
