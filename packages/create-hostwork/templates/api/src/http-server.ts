import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostedService, Logger } from 'hostwork';
import { HostworkError, JobClient, LoggerFactory } from 'hostwork';
import { GenerateReport } from './jobs.ts';
import { HttpOptions } from './options.ts';

/**
 * The API, a hosted service: `POST /reports` stores a durable job and answers 202 with its id at once;
 * `GET /jobs/:id` reports its state. The work itself runs outside the request, in the job worker.
 */
export class HttpServer implements HostedService {
  static readonly inject = [HttpOptions, JobClient, LoggerFactory] as const;
  readonly #options: HttpOptions;
  readonly #jobs: JobClient;
  readonly #log: Logger;
  #server: Server | undefined;

  constructor(options: HttpOptions, jobs: JobClient, loggers: LoggerFactory) {
    this.#options = options;
    this.#jobs = jobs;
    this.#log = loggers.create('HttpServer');
  }

  /** The port listened on (after start). */
  get port(): number {
    return (this.#server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        this.#log.error({ error: String(error) }, 'Request failed');
        send(res, 500, { error: 'internal error' });
      });
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#options.Port, () => resolve());
    });
    this.#log.info(`Listening on http://localhost:${this.port}`);
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    // Stop accepting, let requests in flight finish, close idle keep-alive connections.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await closed;
    this.#log.info('HTTP server stopped');
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'POST' && url.pathname === '/reports') {
      let body: unknown;
      try {
        body = JSON.parse(await readBody(req));
      } catch {
        return send(res, 400, { error: 'the body must be JSON' });
      }
      try {
        const { id } = await this.#jobs.enqueue(
          GenerateReport,
          body as { customerId: string; month: string },
        );
        return send(res, 202, { id, status: `/jobs/${id}` });
      } catch (error) {
        // An invalid payload: nothing was stored; the message names each failing field.
        if (error instanceof HostworkError && error.code === 'HW_JOB_INVALID_PAYLOAD')
          return send(res, 400, { error: error.message });
        throw error;
      }
    }
    const match = /^\/jobs\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && match) {
      const job = await this.#jobs.get(decodeURIComponent(match[1]!));
      if (!job) return send(res, 404, { error: 'no such job' });
      return send(res, 200, { id: job.id, name: job.name, state: job.state, attempt: job.attempt });
    }
    send(res, 404, { error: 'not found' });
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > 1_000_000) throw new Error('body too large');
  }
  return text;
}
