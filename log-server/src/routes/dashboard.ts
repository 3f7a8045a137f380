// the transparency dashboard at /.

import type { Hono } from 'hono';
import type { Env, RouteContext } from '../app.js';

export function registerDashboardRoutes(_app: Hono<Env>, _ctx: RouteContext): void {}
