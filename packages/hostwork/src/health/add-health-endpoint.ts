import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';
import { ApplicationLifetime } from '../hosting/application-lifetime.ts';
import type { HostBuilder } from '../hosting/host-builder.ts';
import { LoggerFactory } from '../logging/index.ts';
import { HealthCheckService } from './health-check-service.ts';
import { healthChecksOf } from './health-checks.ts';
import { HealthEndpoint, type HealthEndpointOptions, resolveEndpointOptions } from './health-endpoint.ts';
import { HealthServer } from './health-server.ts';

/** Where and how the health endpoint is served. */
export interface HealthEndpointSetup extends HealthEndpointOptions {
  /** Port of its own server. Default: configuration `Health:Port`, else 8081. 0 picks a free port. */
  readonly port?: number;
  /** Interface it listens on. Default: configuration `Health:Host`, else '0.0.0.0' (probes come from outside). */
  readonly host?: string;
  /**
   * `false`: no server of its own; the application mounts `HealthEndpoint` in its HTTP server. Default true.
   */
  readonly listen?: boolean;
}

const SETUP_KEYS = ['port', 'host', 'basePath', 'details', 'listen'] as const;

/** The health endpoint's defaults, in one place. */
export const healthEndpointDefaults = { port: 8081, host: '0.0.0.0', basePath: '/healthz' } as const;

/**
 * Serves the health checks over HTTP on a small server of its own (`/healthz`, `/healthz/live`, `/healthz/ready`,
 * `/healthz/startup`), for workers without an HTTP server, and registers `HealthEndpoint` for applications that mount
 * it in their own server instead. Also registers the built-in checks (host lifecycle, event loop) if nothing did yet.
 *
 * ```ts
 * addJobs(builder, { jobs });
 * addHealthEndpoint(builder, { port: 8081 }); // Kubernetes: livenessProbe /healthz/live, readinessProbe /healthz/ready
 * ```
 */
export function addHealthEndpoint(builder: HostBuilder, setup: HealthEndpointSetup = {}): void {
  assertKnownKeys('addHealthEndpoint() options', setup, SETUP_KEYS);
  healthChecksOf(builder);
  const configured = builder.configuration;
  const port = Number(setup.port ?? configured.get('Health:Port') ?? healthEndpointDefaults.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `addHealthEndpoint(): port must be an integer from 0 to 65535 (Health:Port), got ${String(setup.port ?? configured.get('Health:Port'))}.`,
    );
  const host = String(setup.host ?? configured.get('Health:Host') ?? healthEndpointDefaults.host);
  const endpointOptions: HealthEndpointOptions = {
    basePath: setup.basePath ?? healthEndpointDefaults.basePath,
    ...(setup.details === undefined ? {} : { details: setup.details }),
  };
  resolveEndpointOptions(endpointOptions); // bad options fail here, at registration, not at start
  builder.services.addSingleton(HealthEndpoint, {
    factory: (p) => new HealthEndpoint(p.get(HealthCheckService), endpointOptions),
    deps: [HealthCheckService],
  });
  if (setup.listen === false) return;
  builder.services.addHostedService(HealthServer, {
    factory: (p) =>
      new HealthServer(
        p.get(HealthEndpoint),
        { port, host },
        p.get(ApplicationLifetime),
        p.get(LoggerFactory).create('Hostwork.Health'),
      ),
    deps: [HealthEndpoint, ApplicationLifetime, LoggerFactory],
  });
}
