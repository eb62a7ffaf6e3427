/**
 * Hostwork's own HTTP routes on an application's server: the health endpoints (`addHealthEndpoint(builder,
 * { listen: false })`), the Prometheus metrics and the dashboard, as node:http and as Fetch handlers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DashboardOptions } from '@hostwork/dashboard';
import {
  ErrorCodes,
  HealthEndpoint,
  HostworkError,
  JobStore,
  prometheusFetchHandler,
  prometheusRoute,
  type ServiceProvider,
  Telemetry,
} from 'hostwork';

/** The dashboard's options on a host: the store defaults to the host's job store. */
export type HostDashboardOptions = Omit<DashboardOptions, 'store'> & { readonly store?: JobStore };

/** What to mount next to the application's routes. */
export interface MountOptions {
  /**
   * The health endpoints, where `addHealthEndpoint(builder, { listen: false, basePath })` put them (default
   * `/healthz`, `/healthz/live|ready|startup`). Default true: mounted when the host registered them.
   */
  readonly health?: boolean;
  /** The Prometheus metrics' path, or false. Default `/metrics`, when the host has telemetry (`addJobs` adds it). */
  readonly metrics?: string | false;
  /** The dashboard (its `basePath`, `auth`, ...), on the host's job store unless `store` is given. Default: none. */
  readonly dashboard?: HostDashboardOptions | false;
}

const MOUNT_KEYS = new Set(['health', 'metrics', 'dashboard']);

/** Checks `options` (unknown keys, a metrics path without '/'), naming what is wrong and the fix. */
export function checkMountOptions(where: string, options: MountOptions): void {
  if (typeof options !== 'object' || options === null)
    throw new HostworkError(ErrorCodes.INVALID_OPTION, `${where}: options must be an object.`);
  for (const key of Object.keys(options)) {
    if (!MOUNT_KEYS.has(key))
      throw new HostworkError(
        ErrorCodes.UNKNOWN_OPTION,
        `${where}: unknown option '${key}' (known: ${[...MOUNT_KEYS].join(', ')}).`,
      );
  }
  const { metrics } = options;
  if (metrics !== undefined && metrics !== false && (typeof metrics !== 'string' || !metrics.startsWith('/')))
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `${where}: metrics must be a path starting with '/' or false, got ${JSON.stringify(metrics)}.`,
    );
}

/** The dashboard's full options on this host, or undefined when none is asked for. */
export function dashboardOptions(
  services: ServiceProvider,
  options: MountOptions,
): DashboardOptions | undefined {
  const dashboard = options.dashboard;
  if (dashboard === undefined || dashboard === false) return undefined;
  return { ...dashboard, store: dashboard.store ?? services.get(JobStore) };
}

/** Health and metrics as one node:http route: resolves true when it answered. */
export function nodeRoutes(
  services: ServiceProvider,
  options: MountOptions,
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const health = options.health === false ? undefined : services.tryGet(HealthEndpoint);
  const telemetry = options.metrics === false ? undefined : services.tryGet(Telemetry);
  const metrics = telemetry ? prometheusRoute(telemetry, options.metrics || '/metrics') : undefined;
  return async (req, res) => {
    if (health && (await health.handle(req, res))) return true;
    return metrics ? metrics(req, res) : false;
  };
}

/** Health and metrics as one Fetch route: a Response when it answered, undefined otherwise. */
export function fetchRoutes(
  services: ServiceProvider,
  options: MountOptions,
): (request: Request) => Promise<Response | undefined> {
  const health = options.health === false ? undefined : services.tryGet(HealthEndpoint);
  const telemetry = options.metrics === false ? undefined : services.tryGet(Telemetry);
  const metricsPath = options.metrics || '/metrics';
  const metrics = telemetry ? prometheusFetchHandler(telemetry) : undefined;
  return async (request) => {
    const answer = health ? await health.fetch(request) : undefined;
    if (answer) return answer;
    if (metrics && new URL(request.url).pathname === metricsPath) return metrics(request);
    return undefined;
  };
}
