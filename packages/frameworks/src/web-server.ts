/**
 * The application's web server run by the host, whatever the framework: it listens once every hosted service has
 * started (the job client and the consumers are ready before the first request), and at shutdown it stops accepting
 * connections before anything else stops (lifecycle `stopping` hook, which runs before any service's `stop`), so no
 * request arrives while the job worker and the consumers drain. Requests already in flight finish; the server is
 * closed for good in its `stop`, and connections still open when the host's shutdown budget runs out are dropped.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ErrorCodes,
  type HostBuilder,
  type HostedLifecycleHooks,
  type HostedService,
  HostworkError,
  type Logger,
  LoggerFactory,
  ServiceProvider,
} from 'hostwork';

/** Where the server listens. */
export interface ListenOptions {
  /** The port; default configuration `Http:Port` (`HTTP__PORT`), else 3000. 0 picks a free port (logged). */
  readonly port?: number;
  /** The interface; default configuration `Http:Host` (`HTTP__HOST`), else '0.0.0.0'. */
  readonly host?: string;
}

/** A framework's server as the host drives it. */
export interface WebServer {
  /** Starts listening at `port`/`host`; resolves with the bound address. */
  listen(port: number, host: string): Promise<AddressInfo>;
  /**
   * Stops accepting new connections and closes the idle ones, at once; resolves once every in-flight request has
   * finished and the server is closed.
   */
  close(): Promise<void>;
  /** Drops every connection still open (the shutdown budget ran out). */
  closeAllConnections(): void;
}

/**
 * Makes a server's close prompt on keep-alive connections: `server.close()` stops accepting and closes the idle
 * connections, but a connection busy at that moment would stay open until its keep-alive timeout after its
 * response. Once the returned function is called, every response still to be sent ends its connection
 * (`Connection: close`), and a connection that turns idle is closed. Call it when the close begins.
 */
export function endConnectionsWhenClosing(server: Server): () => void {
  let closing = false;
  const inFlight = new Set<ServerResponse>();
  const endConnection = (res: ServerResponse) => {
    if (!res.headersSent) res.setHeader('connection', 'close');
  };
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    if (closing) endConnection(res);
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
    res.once('finish', () => {
      if (closing) setImmediate(() => server.closeIdleConnections());
    });
  });
  return () => {
    closing = true;
    for (const res of inFlight) endConnection(res);
    server.closeIdleConnections();
  };
}

/** Closes a node:http server promptly (see {@link endConnectionsWhenClosing}); once, however often called. */
export function gracefulClose(server: Server): () => Promise<void> {
  const beginClosing = endConnectionsWhenClosing(server);
  let closed: Promise<void> | undefined;
  return () => {
    closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      beginClosing();
    });
    return closed;
  };
}

/** A node:http server (Express, a Fetch bridge) as a {@link WebServer}. */
export function nodeWebServer(server: Server): WebServer {
  const close = gracefulClose(server);
  return {
    listen: (port, host) =>
      new Promise<AddressInfo>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      }),
    close,
    closeAllConnections: () => server.closeAllConnections(),
  };
}

class WebServerService implements HostedService, HostedLifecycleHooks {
  readonly #create: (services: ServiceProvider) => WebServer | Promise<WebServer>;
  readonly #services: ServiceProvider;
  readonly #log: Logger;
  readonly #port: number;
  readonly #host: string;
  #server: WebServer | undefined;
  #closing: Promise<void> | undefined;

  constructor(
    create: (services: ServiceProvider) => WebServer | Promise<WebServer>,
    services: ServiceProvider,
    log: Logger,
    port: number,
    host: string,
  ) {
    this.#create = create;
    this.#services = services;
    this.#log = log;
    this.#port = port;
    this.#host = host;
  }

  /** Builds the application (its routes), so that a mistake in them fails the host's start. */
  async start(): Promise<void> {
    this.#server = await this.#create(this.#services);
  }

  /** Listens once every hosted service has started. */
  async started(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    const address = await server.listen(this.#port, this.#host);
    const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.#log.info(
      { port: address.port, host: address.address },
      `Listening on http://${shown}:${address.port}`,
    );
  }

  /** First thing at shutdown, before any service stops: no new connections. */
  stopping(): void {
    if (!this.#server || this.#closing) return;
    this.#log.info('Stopped accepting connections; finishing the requests in flight');
    this.#closing = this.#server.close();
  }

  /** Waits for the requests in flight; drops their connections when the shutdown budget runs out. */
  async stop(signal: AbortSignal): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#closing ??= server.close();
    const onAbort = () => server.closeAllConnections();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await this.#closing;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    this.#log.info('HTTP server closed');
  }
}

/**
 * Registers the application's web server as a hosted service of the host (the framework functions
 * `addExpressServer`, `addFastifyServer`, `addHonoServer` and `addNestServer` call this). `create` builds the
 * server from the host's services at start; the server listens after every service started and stops accepting
 * before any stops.
 */
export function addWebServer(
  builder: HostBuilder,
  name: string,
  create: (services: ServiceProvider) => WebServer | Promise<WebServer>,
  listen: ListenOptions = {},
): void {
  for (const key of Object.keys(listen)) {
    if (key !== 'port' && key !== 'host')
      throw new HostworkError(
        ErrorCodes.UNKNOWN_OPTION,
        `${name}: unknown listen option '${key}' (known: port, host).`,
      );
  }
  const configured = builder.configuration;
  const port = Number(listen.port ?? configured.get('Http:Port') ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `${name}: port must be an integer from 0 to 65535 (Http:Port), got ${String(listen.port ?? configured.get('Http:Port'))}.`,
    );
  const host = String(listen.host ?? configured.get('Http:Host') ?? '0.0.0.0');
  // A class per server so that the host's lifecycle log names it ("Service 'ExpressServer' started").
  const Named = { [name]: class extends WebServerService {} }[name]!;
  builder.services.addHostedService(Named, {
    factory: (p) =>
      new Named(create, p.get(ServiceProvider), p.get(LoggerFactory).create(`Hostwork.${name}`), port, host),
    deps: [ServiceProvider, LoggerFactory],
  });
}
