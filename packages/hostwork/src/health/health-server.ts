import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCodes, HostworkError } from '../errors.ts';
import type { ApplicationLifetime } from '../hosting/application-lifetime.ts';
import type { HostedServiceWithHooks } from '../hosting/hosted-service.ts';
import type { Logger } from '../logging/index.ts';
import type { HealthEndpoint } from './health-endpoint.ts';

/** A handler mounted on the health server: answers its own paths (resolving true) and leaves the others (false). */
export type MountedHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

/** Where the health server listens. */
export interface HealthServerAddress {
  /** TCP port; 0 picks a free one (tests). */
  readonly port: number;
  /** Interface: '0.0.0.0' so that a kubelet or load balancer outside the process reaches it, '127.0.0.1' for local. */
  readonly host: string;
}

/**
 * The health endpoint on a small HTTP server of its own, for workers that serve no HTTP. It listens in the hosts's
 * `starting` phase, before any service starts (so a start-up probe gets answers during a long start), keeps answering
 * while the services stop (readiness says 503 from the first moment of the stop), and closes once the host has
 * stopped every service. Every path outside the endpoint (and the handlers mounted with {@link mount}) answers 404.
 */
export class HealthServer implements HostedServiceWithHooks {
  readonly #endpoint: HealthEndpoint;
  readonly #address: HealthServerAddress;
  readonly #lifetime: ApplicationLifetime;
  readonly #log: Logger;
  readonly #mounted: MountedHandler[] = [];
  #server: Server | undefined;

  constructor(
    endpoint: HealthEndpoint,
    address: HealthServerAddress,
    lifetime: ApplicationLifetime,
    log: Logger,
  ) {
    this.#endpoint = endpoint;
    this.#address = address;
    this.#lifetime = lifetime;
    this.#log = log;
  }

  /** The port it listens on, once listening. */
  get port(): number | undefined {
    return (this.#server?.address() as AddressInfo | null)?.port;
  }

  /**
   * Serves another handler on this server (a metrics endpoint, say): it answers and resolves true for its paths,
   * resolves false for the others. Tried after the health endpoint, in mount order.
   */
  mount(handler: MountedHandler): void {
    this.#mounted.push(handler);
  }

  async starting(): Promise<void> {
    const server = createServer((req, res) => {
      void this.#serve(req, res);
    });
    // Probes come every few seconds: keep-alive sockets would only hold the close back at the end.
    server.keepAliveTimeout = 1_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new HostworkError(
            ErrorCodes.INVALID_OPTION,
            `The health endpoint cannot listen on ${this.#address.host}:${this.#address.port}: ${error.code ?? error.message}. Fix: choose another port with Health:Port (HEALTH__PORT) or addHealthEndpoint({ port }).`,
            { cause: error },
          ),
        ),
      );
      server.listen(this.#address.port, this.#address.host, resolve);
    });
    this.#server = server;
    this.#lifetime.onStopped(() => this.#close());
    this.#log.info(
      { port: this.port, host: this.#address.host },
      `Health endpoint listening on http://${this.#address.host}:${this.port}`,
    );
  }

  start(): void {}
  stop(): void {}

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (await this.#endpoint.handle(req, res)) return;
      for (const handler of this.#mounted) if (await handler(req, res)) return;
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found' }));
    } catch (error) {
      this.#log.error({ err: error }, 'The health endpoint failed to answer');
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    }
  }

  #close(): void {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    server.close();
  }
}
