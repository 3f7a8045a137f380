// POST /oprf/evaluate and GET /oprf/stats.

import type { Hono } from 'hono';
import type { Env, RouteContext } from '../app.js';

export function registerOprfRoutes(_app: Hono<Env>, _ctx: RouteContext): void {}
