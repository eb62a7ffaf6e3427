/**
 * @hostwork/frameworks: Hostwork in web frameworks. The framework subpaths (`@hostwork/frameworks/express`,
 * `/fastify`, `/hono`, `/nestjs`) give request handlers the job client, mount the health endpoints, the metrics and
 * the dashboard, and run the framework's server as part of the host: it listens once the host's services started,
 * and on SIGTERM it stops accepting before the job worker drains. This entry point holds what they share, for a
 * framework of your own.
 */
export { type HostworkContext, hostworkContext } from './context.ts';
export {
  checkMountOptions,
  fetchRoutes,
  type HostDashboardOptions,
  type MountOptions,
  nodeRoutes,
} from './routes.ts';
export {
  addWebServer,
  endConnectionsWhenClosing,
  gracefulClose,
  type ListenOptions,
  nodeWebServer,
  type WebServer,
} from './web-server.ts';
