// GET /release/<n>/bundle and /release/latest/bundle.

import type { Hono } from 'hono';
import type { Env, RouteContext } from '../app.js';

export function registerReleaseRoutes(_app: Hono<Env>, _ctx: RouteContext): void {}
