/**
 * Hostwork in NestJS (11, 12; the Express platform): `HostworkModule.forRoot(...)` makes the host's job client,
 * message publisher, consumers, job worker, lifetime and the host itself injectable, {@link useHostwork} mounts
 * health, metrics and the dashboard, and either the host runs the Nest application ({@link addNestServer}) or the Nest
 * application runs the host (`forRoot({ builder })`).
 *
 * @example
 * ```ts
 * // The host runs Nest: SIGTERM → the server stops accepting → the worker drains → exit.
 * addNestServer(builder, async (services) => {
 *   const app = await NestFactory.create(AppModule.with(HostworkModule.forRoot({ services })));
 *   useHostwork(app, { dashboard: { basePath: '/admin/jobs', auth } });
 *   return app;
 * });
 * await builder.build().run();
 *
 * // In a provider or controller:
 * constructor(@Inject(JobClient) private readonly jobs: JobClient) {}
 * ```
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { nestDashboard } from '@hostwork/dashboard';
import type {
  BeforeApplicationShutdown,
  DynamicModule,
  INestApplication,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  Provider,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import {
  ApplicationLifetime,
  createToken,
  ErrorCodes,
  Host,
  type HostBuilder,
  HostworkError,
  JobClient,
  JobWorker,
  MessageConsumers,
  MessagePublisher,
  type ServiceProvider,
} from 'hostwork';
import { checkMountOptions, dashboardOptions, type MountOptions, nodeRoutes } from './routes.ts';
import { addWebServer, gracefulClose, type ListenOptions } from './web-server.ts';

export type { HostworkContext } from './context.ts';
export type { HostDashboardOptions, MountOptions } from './routes.ts';
export type { ListenOptions } from './web-server.ts';

/** The injection token of the host's root services (a Hostwork `ServiceProvider`). */
export const HOSTWORK_SERVICES = Symbol.for('hostwork.services');

/** The part of a Nest container Hostwork's handlers use: `get(token, { strict: false })` (a `ModuleRef`, an app). */
export interface NestProviders {
  get<T = unknown>(token: unknown, options: { strict: false }): T;
}

/**
 * The Hostwork service key of the Nest application's providers, registered by `HostworkModule.forRoot({ builder })`
 * and {@link addNestServer}: job handlers and message consumers reach Nest providers through it
 * ({@link nestProvider}). Resolving it before the Nest application exists throws.
 */
export const NestProvidersKey = createToken<NestProviders>('NestProviders');

/** Where the Nest container is put once Nest created it, for {@link NestProvidersKey}. */
class NestSlot {
  providers: NestProviders | undefined;
  get(): NestProviders {
    if (!this.providers)
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        'The Nest application does not exist yet: Nest providers are available to handlers once NestFactory.create() returned.',
      );
    return this.providers;
  }
}

/** Registers {@link NestProvidersKey} on the builder; the returned slot is filled once Nest created its container. */
function registerNestSlot(builder: HostBuilder): NestSlot {
  const slot = new NestSlot();
  builder.services.addSingleton(NestProvidersKey, { factory: () => slot.get() });
  return slot;
}

/**
 * A Nest provider, from a job handler or a message consumer (`ctx.services`) of a host that runs with Nest
 * (`HostworkModule.forRoot({ builder })` or {@link addNestServer}): `nestProvider(ctx.services, ShippingService)`.
 * Looked up in the whole application (`strict: false`).
 */
export function nestProvider<T>(services: ServiceProvider, token: abstract new (...args: never[]) => T): T;
export function nestProvider<T = unknown>(services: ServiceProvider, token: string | symbol): T;
export function nestProvider(services: ServiceProvider, token: unknown): unknown {
  return services.get(NestProvidersKey).get(token, { strict: false });
}

/** What {@link HostworkModule.forRoot} takes: exactly one of them. */
export type HostworkModuleOptions =
  /** A host that runs the Nest application ({@link addNestServer}) or is run by your code. */
  | { readonly host: Host }
  /** The host's services, as {@link addNestServer}'s `create` gets them. */
  | { readonly services: ServiceProvider }
  /**
   * A host builder: the module builds the host and runs it with the Nest application. It starts when the
   * application bootstraps (before `listen` resolves), is told to stop in `beforeApplicationShutdown` (readiness
   * 503), and stops (the worker and consumers drain) in `onApplicationShutdown`, after Nest closed its HTTP server.
   * Call `app.enableShutdownHooks()` for SIGTERM.
   */
  | { readonly builder: HostBuilder };

/** Runs a host built by the module with the Nest application's lifecycle. */
class HostworkLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  readonly host: Host;
  constructor(host: Host) {
    this.host = host;
  }
  async onApplicationBootstrap(): Promise<void> {
    await this.host.start();
  }
  beforeApplicationShutdown(): void {
    this.host.lifetime.stopApplication('The Nest application is shutting down');
  }
  async onApplicationShutdown(): Promise<void> {
    await this.host.stop();
  }
}

/** The module giving Nest providers the host's services. Global: every module of the application can inject them. */
export class HostworkModule {
  /**
   * Providers: `JobClient`, `MessagePublisher` (when the host has messaging), `MessageConsumers` (when it has
   * consumers: their connections, `lag(name)`), `JobWorker` (when it runs a worker: its `health`, `runningCount`),
   * `ApplicationLifetime`, {@link HOSTWORK_SERVICES}, and `Host` unless given `{ services }`. Inject them by class:
   * `Inject(JobClient)`.
   */
  static forRoot(options: HostworkModuleOptions): DynamicModule {
    const keys = Object.keys(options);
    if (keys.length !== 1 || !['host', 'services', 'builder'].includes(keys[0]!))
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `HostworkModule.forRoot(): give exactly one of host, services or builder, got { ${keys.join(', ')} }.`,
      );
    let host: Host | undefined;
    const providers: Provider[] = [];
    if ('builder' in options) {
      const slot = registerNestSlot(options.builder);
      const built = options.builder.build();
      host = built;
      providers.push({
        provide: HostworkLifecycle,
        useFactory: (moduleRef: ModuleRef) => {
          slot.providers = moduleRef;
          return new HostworkLifecycle(built);
        },
        inject: [ModuleRef],
      });
    } else if ('host' in options) host = options.host;
    const services = host ? host.services : (options as { services: ServiceProvider }).services;
    providers.push(
      { provide: HOSTWORK_SERVICES, useValue: services },
      { provide: JobClient, useFactory: () => services.get(JobClient) },
      { provide: ApplicationLifetime, useFactory: () => services.get(ApplicationLifetime) },
    );
    // Each only where the host registers it: a Nest provider that injects one the host lacks fails at Nest's start,
    // naming it, rather than at its first use.
    for (const key of [MessagePublisher, MessageConsumers, JobWorker] as const)
      if (services.tryGet<object>(key) !== undefined)
        providers.push({ provide: key, useFactory: () => services.get<object>(key) });
    if (host) providers.push({ provide: Host, useValue: host });
    return {
      module: HostworkModule,
      global: true,
      providers,
      exports: providers,
    };
  }
}

/**
 * Mounts the health endpoints, `/metrics` and the dashboard (see {@link MountOptions}) on a Nest application of the
 * Express platform, before its routes; call it after `NestFactory.create` and before `listen`. The application's
 * module must import {@link HostworkModule}.
 */
export function useHostwork(app: INestApplication, options: MountOptions = {}): void {
  checkMountOptions('useHostwork() (nestjs)', options);
  const services = app.get<ServiceProvider>(HOSTWORK_SERVICES, { strict: false });
  const routes = nodeRoutes(services, options);
  const dashboardConfig = dashboardOptions(services, options);
  const dashboard = dashboardConfig ? nestDashboard(dashboardConfig) : undefined;
  app.use((req: IncomingMessage, res: ServerResponse, next: (e?: unknown) => void) => {
    routes(req, res).then((answered) => {
      if (answered) return;
      if (dashboard) dashboard(req, res, next);
      else next();
    }, next);
  });
}

/**
 * Runs a Nest application as part of the host: `create` builds it from the host's services when the host starts
 * (import `HostworkModule.forRoot({ services })` in it), it listens once every service has started, and at shutdown
 * its HTTP server stops accepting before the job worker and the consumers drain; then `app.close()` runs Nest's
 * shutdown hooks. Job handlers and consumers reach the application's providers with {@link nestProvider}.
 */
export function addNestServer(
  builder: HostBuilder,
  create: (services: ServiceProvider) => INestApplication | Promise<INestApplication>,
  listen: ListenOptions = {},
): void {
  const slot = registerNestSlot(builder);
  addWebServer(
    builder,
    'NestServer',
    async (services) => {
      const app = await create(services);
      slot.providers = app;
      const server = () => app.getHttpServer() as Server;
      const closeServer = gracefulClose(server());
      return {
        listen: async (port, host) => {
          await app.listen(port, host);
          return server().address() as AddressInfo;
        },
        close: async () => {
          // Stop accepting now (Nest's close runs its destroy hooks first), then let Nest shut down.
          await closeServer();
          await app.close();
        },
        closeAllConnections: () => server().closeAllConnections(),
      };
    },
    listen,
  );
}
