/**
 * Hostwork in Fastify (5).
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { addFastifyServer, hostwork } from '@hostwork/frameworks/fastify';
 *
 * addFastifyServer(builder, async (services) => {
 *   const app = Fastify();
 *   await app.register(hostwork(services, { dashboard: { basePath: '/admin/jobs', auth } }));
 *   app.post('/emails', async (request, reply) => reply.code(202).send(await request.jobs.enqueue(SendEmail, request.body)));
 *   return app;
 * });
 * ```
 */
import type { AddressInfo } from 'node:net';
import { fastifyDashboard } from '@hostwork/dashboard';
import type { FastifyInstance } from 'fastify';
import type { HostBuilder, JobClient, ServiceProvider } from 'hostwork';
import { type HostworkContext, hostworkContext } from './context.ts';
import { checkMountOptions, dashboardOptions, type MountOptions, nodeRoutes } from './routes.ts';
import { addWebServer, endConnectionsWhenClosing, type ListenOptions } from './web-server.ts';

export type { HostworkContext } from './context.ts';
export type { HostDashboardOptions, MountOptions } from './routes.ts';
export type { ListenOptions } from './web-server.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The host's services (the `hostwork` plugin of @hostwork/frameworks/fastify). */
    readonly hostwork: HostworkContext;
  }
  interface FastifyRequest {
    /** The host's services (the `hostwork` plugin of @hostwork/frameworks/fastify). */
    readonly hostwork: HostworkContext;
    /** The host's job client: `await request.jobs.enqueue(SendEmail, request.body)`. */
    readonly jobs: JobClient;
  }
}

/** A Fastify plugin, in the shape `app.register` takes. */
export type HostworkPlugin = (app: FastifyInstance) => Promise<void>;

/**
 * The plugin giving the application `app.hostwork`, `request.hostwork` and `request.jobs`, and answering the health
 * endpoints, `/metrics` and the dashboard (see {@link MountOptions}): `await app.register(hostwork(services))`.
 * Not encapsulated (like a plugin wrapped in fastify-plugin): the decorations reach every route of the instance.
 */
export function hostwork(services: ServiceProvider, options: MountOptions = {}): HostworkPlugin {
  checkMountOptions('hostwork() (fastify)', options);
  const context = hostworkContext(services);
  const routes = nodeRoutes(services, options);
  const dashboard = dashboardOptions(services, options);
  const plugin: HostworkPlugin = async (app) => {
    app.decorate('hostwork', context);
    app.decorateRequest('hostwork', {
      getter: () => context,
    });
    app.decorateRequest('jobs', {
      getter: () => context.jobs,
    });
    // Health and metrics before routing: their paths come from the host's configuration, and a hook sees every
    // request, a 404 included.
    app.addHook('onRequest', async (request, reply) => {
      if (await routes(request.raw, reply.raw)) reply.hijack();
    });
    if (dashboard) fastifyDashboard(app, dashboard);
  };
  // fastify-plugin's marker, without the dependency: register in the caller's scope instead of a child one.
  Object.assign(plugin, { [Symbol.for('skip-override')]: true });
  return plugin;
}

/**
 * Runs a Fastify application as part of the host: `create` builds it from the host's services when the host starts
 * (register {@link hostwork} there), it listens once every service has started, and at shutdown `app.close()` stops
 * accepting (idle keep-alive connections closed, 503 on the busy ones) before the job worker and the consumers drain.
 */
export function addFastifyServer(
  builder: HostBuilder,
  create: (services: ServiceProvider) => FastifyInstance | Promise<FastifyInstance>,
  listen: ListenOptions = {},
): void {
  addWebServer(
    builder,
    'FastifyServer',
    async (services) => {
      const app = await create(services);
      // Fastify's close ends idle connections, not the busy keep-alive ones once their response is sent.
      const beginClosing = endConnectionsWhenClosing(app.server);
      return {
        listen: async (port, host) => {
          await app.listen({ port, host });
          return app.server.address() as AddressInfo;
        },
        close: () => {
          const closed = app.close();
          beginClosing();
          return closed;
        },
        closeAllConnections: () => app.server.closeAllConnections(),
      };
    },
    listen,
  );
}
