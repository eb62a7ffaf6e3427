/**
 * @hostwork/dashboard: the web dashboard of a Hostwork job store. Queues and their counts, the jobs with filters,
 * a job's payload, result, progress and every attempt's error, retry / cancel / delete / run now one by one or in
 * bulk, dead letters, schedules and workers, updated live. A Fetch handler at its core, with a node:http handler and
 * adapters for Express, Fastify, Hono and NestJS; authenticated by default, read-only on demand, CSRF-protected, under
 * a strict Content-Security-Policy.
 *
 * @example
 * ```ts
 * import http from 'node:http';
 * import { sqliteStore } from 'hostwork';
 * import { createNodeDashboard } from '@hostwork/dashboard';
 *
 * const store = sqliteStore({ path: '.data/hostwork-jobs.db' });
 * http.createServer(createNodeDashboard({ store, auth: { kind: 'bearer', token: process.env.DASHBOARD_TOKEN! } }))
 *   .listen(3000);
 * ```
 */
export {
  createNodeDashboard,
  expressDashboard,
  type FastifyLike,
  type FastifyReplyLike,
  type FastifyRequestLike,
  type FastifyScopeLike,
  fastifyDashboard,
  honoDashboard,
  nestDashboard,
} from './adapters.ts';
export { JOB_ACTIONS, type JobAction } from './api.ts';
export type { ConnectionInfo } from './auth.ts';
export type { ListFilterName, ListSearch } from './bounded-search.ts';
export { CONTENT_SECURITY_POLICY, createDashboard, type DashboardHandler } from './dashboard.ts';
export type { DashboardAuth, DashboardOptions } from './dashboard-options.ts';
export { type NodeDashboardHandler, type NodeHandlerOptions, nodeHandler } from './node-handler.ts';
