import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { HostedService, Logger } from 'hostwork';
import { BackgroundTaskQueue, Configuration, HostworkError, JobClient, LoggerFactory } from 'hostwork';
import { ProcessOrder, SendEmail } from './jobs.ts';

/**
 * The demo's HTTP API, a hosted service. Every endpoint answers 202 at once: the work runs outside the request.
 * - POST /work         → the in-memory queue (lost on a crash: fine for best-effort work only)
 * - POST /orders       → a durable job; body { orderId, amount, failTimes?, workMs? }
 * - POST /emails       → a durable job; body { to, subject, body? }
 * - GET  /jobs/:id     → the job's state, attempts and errors
 * - GET  /jobs         → counts per queue and state
 */
export class HttpServer implements HostedService {
  static readonly inject = [Configuration, LoggerFactory, BackgroundTaskQueue, JobClient] as const;
  readonly #port: number;
  readonly #log: Logger;
  readonly #queue: BackgroundTaskQueue;
  readonly #jobs: JobClient;
  #server: Server | undefined;

  constructor(
    configuration: Configuration,
    loggers: LoggerFactory,
    queue: BackgroundTaskQueue,
    jobs: JobClient,
  ) {
    this.#port = Number(configuration.get('Demo:Port') ?? 3000);
    this.#log = loggers.create('HttpServer');
    this.#queue = queue;
    this.#jobs = jobs;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => this.#fail(res, error));
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', resolve);
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : this.#port;
    this.#log.info({ port }, `Listening on http://127.0.0.1:${port}`);
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    // Stop accepting, and drop idle keep-alive sockets so close() can finish.
    server.closeIdleConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'POST' && url.pathname === '/work') {
      const started = Date.now();
      await this.#queue.enqueue(async ({ logger, signal }) => {
        await new Promise((r) => setTimeout(r, 100));
        signal.throwIfAborted();
        logger.info({ queuedMs: Date.now() - started }, 'In-memory work item done');
      });
      return send(res, 202, { accepted: true, durable: false });
    }
    if (req.method === 'POST' && url.pathname === '/orders') {
      const { id, outcome } = await this.#jobs.enqueue(ProcessOrder, await readJson(req));
      return send(res, 202, { id, outcome, status: `/jobs/${id}` });
    }
    if (req.method === 'POST' && url.pathname === '/emails') {
      const { id, outcome } = await this.#jobs.enqueue(SendEmail, await readJson(req));
      return send(res, 202, { id, outcome, status: `/jobs/${id}` });
    }
    const match = /^\/jobs\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && match) {
      const job = await this.#jobs.get(match[1]!);
      return job ? send(res, 200, job) : send(res, 404, { error: `no job ${match[1]}` });
    }
    if (req.method === 'GET' && url.pathname === '/jobs') return send(res, 200, await this.#jobs.counts());
    send(res, 404, {
      error: 'not found',
      endpoints: ['POST /work', 'POST /orders', 'POST /emails', 'GET /jobs/:id', 'GET /jobs'],
    });
  }

  #fail(res: ServerResponse, error: unknown): void {
    if (error instanceof HostworkError) send(res, 400, { error: error.message, code: error.code });
    else if (error instanceof SyntaxError) send(res, 400, { error: `invalid JSON: ${error.message}` });
    else {
      this.#log.error({ err: error }, 'Request failed');
      send(res, 500, { error: 'internal error' });
    }
  }
}

/** Reads a JSON body. The cast is safe: `enqueue` validates the payload against the job's schema at run time. */
async function readJson<T>(req: IncomingMessage): Promise<T> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return (chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {}) as T;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
