/**
 * Hostwork in Hono (4), served over node:http by the host.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { addHonoServer, hostwork, type HostworkEnv } from '@hostwork/frameworks/hono';
 *
 * addHonoServer(builder, (services) => {
 *   const app = new Hono<HostworkEnv>();
 *   app.use(hostwork(services, { dashboard: { basePath: '/admin/jobs', auth } }));
 *   app.post('/emails', async (c) => c.json(await c.var.jobs.enqueue(SendEmail, await c.req.json()), 202));
 *   return app;
 * });
 * ```
 */
import { createServer } from 'node:http';
import { honoDashboard } from '@hostwork/dashboard';
import type { MiddlewareHandler } from 'hono';
import { type HostBuilder, JobClient, type ServiceProvider } from 'hostwork';
import { type HostworkContext, hostworkContext } from './context.ts';
import { type FetchHandler, fetchListener } from './fetch-bridge.ts';
import { checkMountOptions, dashboardOptions, fetchRoutes, type MountOptions } from './routes.ts';
import { addWebServer, type ListenOptions, nodeWebServer } from './web-server.ts';

export type { HostworkContext } from './context.ts';
export type { FetchHandler } from './fetch-bridge.ts';
export type { HostDashboardOptions, MountOptions } from './routes.ts';
export type { ListenOptions } from './web-server.ts';

/** The variables the {@link hostwork} middleware sets: `c.var.hostwork`, `c.var.jobs`. */
export interface HostworkVariables {
  /** The host's services. */
  hostwork: HostworkContext;
  /** The host's job client (set when the host has jobs: `addJobs`). */
  jobs: JobClient;
}

/** A Hono environment with Hostwork's variables: `new Hono<HostworkEnv>()`. */
export interface HostworkEnv {
  Variables: HostworkVariables;
}

/**
 * The middleware setting `c.var.hostwork` and `c.var.jobs`, and answering the health endpoints, `/metrics` and the
 * dashboard (see {@link MountOptions}): `app.use(hostwork(services))`, before the routes.
 */
export function hostwork(
  services: ServiceProvider,
  options: MountOptions = {},
): MiddlewareHandler<HostworkEnv> {
  checkMountOptions('hostwork() (hono)', options);
  const context = hostworkContext(services);
  const routes = fetchRoutes(services, options);
  const dashboardConfig = dashboardOptions(services, options);
  const dashboard = dashboardConfig ? honoDashboard(dashboardConfig) : undefined;
  const base = dashboardConfig?.basePath ?? '';
  // Resolved once, and only when registered: a host without jobs still serves its routes (and c.var.jobs is unset).
  const jobClient = services.tryGet(JobClient);
  return async (c, next) => {
    c.set('hostwork', context);
    if (jobClient) c.set('jobs', jobClient);
    const answer = await routes(c.req.raw);
    if (answer) return answer;
    if (dashboard && (base === '' || c.req.path === base || c.req.path.startsWith(`${base}/`)))
      return dashboard(c);
    await next();
  };
}

/** A Hono application, as far as serving it goes: its `fetch`. */
export interface FetchApp {
  readonly fetch: FetchHandler;
}

/**
 * Runs a Hono application (anything with `fetch`) as part of the host, on a node:http server: `create` builds it
 * from the host's services when the host starts, it listens once every service has started, and at shutdown it
 * stops accepting before the job worker and the consumers drain.
 */
export function addHonoServer(
  builder: HostBuilder,
  create: (services: ServiceProvider) => FetchApp | Promise<FetchApp>,
  listen: ListenOptions = {},
): void {
  addWebServer(
    builder,
    'HonoServer',
    async (services) => {
      const app = await create(services);
      return nodeWebServer(createServer(fetchListener((request, env) => app.fetch(request, env))));
    },
    listen,
  );
}
