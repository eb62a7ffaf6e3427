/**
 * Hostwork in Express (4 and 5).
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { addExpressServer, hostwork, jobs } from '@hostwork/frameworks/express';
 *
 * addExpressServer(builder, (services) => {
 *   const app = express();
 *   app.use(express.json());
 *   app.use(hostwork(services, { dashboard: { basePath: '/admin/jobs', auth } }));
 *   app.post('/emails', async (req, res) => {
 *     res.status(202).json(await jobs(req).enqueue(SendEmail, req.body));
 *   });
 *   return app;
 * });
 * await builder.build().run();
 * ```
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { expressDashboard } from '@hostwork/dashboard';
import { ErrorCodes, type HostBuilder, HostworkError, type JobClient, type ServiceProvider } from 'hostwork';
import { type HostworkContext, hostworkContext } from './context.ts';
import { checkMountOptions, dashboardOptions, type MountOptions, nodeRoutes } from './routes.ts';
import { addWebServer, type ListenOptions, nodeWebServer } from './web-server.ts';

export type { HostworkContext } from './context.ts';
export type { HostDashboardOptions, MountOptions } from './routes.ts';
export type { ListenOptions } from './web-server.ts';

/** A connect-style middleware, as Express calls it. */
export type Middleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

const contexts = new WeakMap<IncomingMessage, HostworkContext>();

/**
 * The middleware that gives every request the host's services ({@link hostworkOf}, {@link jobs},
 * `res.locals.hostwork`) and answers the health endpoints, `/metrics` and the dashboard (see {@link MountOptions}).
 * Put it before the application's routes (after `express.json()` when the dashboard should see parsed bodies).
 */
export function hostwork(services: ServiceProvider, options: MountOptions = {}): Middleware {
  checkMountOptions('hostwork() (express)', options);
  const context = hostworkContext(services);
  const routes = nodeRoutes(services, options);
  const dashboardConfig = dashboardOptions(services, options);
  const dashboard = dashboardConfig ? expressDashboard(dashboardConfig) : undefined;
  return (req, res, next) => {
    contexts.set(req, context);
    const locals = (res as ServerResponse & { locals?: Record<string, unknown> }).locals;
    if (locals) locals.hostwork = context;
    routes(req, res).then((answered) => {
      if (answered) return;
      if (dashboard) dashboard(req, res, next);
      else next();
    }, next);
  };
}

/** The host's services of a request that went through {@link hostwork}. */
export function hostworkOf(req: IncomingMessage): HostworkContext {
  const context = contexts.get(req);
  if (!context)
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      'hostworkOf(req): this request did not go through the hostwork() middleware; add app.use(hostwork(services)) before your routes.',
    );
  return context;
}

/** The host's job client, in a request handler: `await jobs(req).enqueue(SendEmail, payload)`. */
export function jobs(req: IncomingMessage): JobClient {
  return hostworkOf(req).jobs;
}

/** An Express application: a node:http request listener. */
export type ExpressApp = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Runs an Express application as part of the host: `create` builds it from the host's services when the host
 * starts, it listens once every service has started, and at shutdown it stops accepting before the job worker
 * and the consumers drain. Listens at `Http:Port` / `Http:Host` unless `listen` says otherwise.
 */
export function addExpressServer(
  builder: HostBuilder,
  create: (services: ServiceProvider) => ExpressApp | Promise<ExpressApp>,
  listen: ListenOptions = {},
): void {
  addWebServer(
    builder,
    'ExpressServer',
    async (services) => nodeWebServer(createServer(await create(services))),
    listen,
  );
}
