import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { HostedService, Logger } from 'hostwork';
import {
  BackgroundTaskQueue,
  Configuration,
  HealthEndpoint,
  HostworkError,
  JobClient,
  LoggerFactory,
  MessagePublisher,
} from 'hostwork';
import { ProcessOrder, SendEmail } from './jobs.ts';
import { OrderBook } from './order-book.ts';
import { OrderPlaced } from './order-messages.ts';

/** An order id that was placed already: 409. */
class OrderExists extends Error {}

/**
 * The demo's HTTP API, a hosted service. Every endpoint answers 202 at once: the work runs outside the request.
 * - POST /work         → the in-memory queue (lost on a crash: fine for best-effort work only)
 * - POST /orders       → in one transaction: the order, its durable job and an OrderPlaced message (the outbox);
 *                        body { orderId, amount, failTimes?, workMs? }
 * - GET  /orders/:id   → the order: its job, its message, and whether the warehouse consumer has handled it
 * - POST /emails       → a durable job; body { to, subject, body? }
 * - GET  /jobs/:id     → the job's state, attempts and errors
 * - GET  /jobs         → counts per queue and state
 * - GET  /healthz[/live|/ready|/startup] → the health checks (200, or 503 when unhealthy)
 */
export class HttpServer implements HostedService {
  static readonly inject = [
    Configuration,
    LoggerFactory,
    BackgroundTaskQueue,
    JobClient,
    MessagePublisher,
    OrderBook,
    HealthEndpoint,
  ] as const;
  readonly #port: number;
  readonly #ordersQueue: string;
  readonly #log: Logger;
  readonly #queue: BackgroundTaskQueue;
  readonly #jobs: JobClient;
  readonly #publisher: MessagePublisher;
  readonly #orders: OrderBook;
  readonly #health: HealthEndpoint;
  #server: Server | undefined;

  constructor(
    configuration: Configuration,
    loggers: LoggerFactory,
    queue: BackgroundTaskQueue,
    jobs: JobClient,
    publisher: MessagePublisher,
    orders: OrderBook,
    health: HealthEndpoint,
  ) {
    this.#port = Number(configuration.get('Demo:Port') ?? 3000);
    this.#ordersQueue = String(configuration.get('Demo:OrdersQueue') ?? 'demo.orders');
    this.#log = loggers.create('HttpServer');
    this.#queue = queue;
    this.#jobs = jobs;
    this.#publisher = publisher;
    this.#orders = orders;
    this.#health = health;
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
    if (await this.#health.handle(req, res)) return;
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
    if (req.method === 'POST' && url.pathname === '/orders') return this.#placeOrder(req, res);
    const order = /^\/orders\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && order) {
      const found = await this.#orders.get(decodeURIComponent(order[1]!));
      return found ? send(res, 200, found) : send(res, 404, { error: `no order ${order[1]}` });
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
      endpoints: [
        'POST /work',
        'POST /orders',
        'GET /orders/:id',
        'POST /emails',
        'GET /jobs/:id',
        'GET /jobs',
        'GET /healthz',
      ],
    });
  }

  /**
   * The order, its job and its OrderPlaced message commit together or not at all: the job and the message are
   * written through the order's transaction (`{ tx }`), and the outbox relay publishes the message after the commit.
   * A crash at any point leaves either everything or nothing, and never a message about an order that does not exist.
   */
  async #placeOrder(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJson<{ orderId: string; amount: number; failTimes?: number; workMs?: number }>(
      req,
    );
    const placed = await this.#orders.transaction(async (tx) => {
      // Both validate before writing: an invalid body throws, and the transaction rolls back with nothing in it.
      const job = await this.#jobs.enqueue(ProcessOrder, body, { tx: tx.handle });
      const messageId = await this.#publisher.send(
        OrderPlaced,
        { orderId: body.orderId, amount: body.amount },
        { tx: tx.handle, key: body.orderId, destination: { name: this.#ordersQueue } },
      );
      const inserted = await tx.run('insert', [
        body.orderId,
        body.amount,
        job.id,
        messageId,
        new Date().toISOString(),
      ]);
      if (inserted === 0) throw new OrderExists(`order ${body.orderId} was placed already`);
      return { id: job.id, messageId };
    });
    send(res, 202, {
      ...placed,
      status: `/jobs/${placed.id}`,
      order: `/orders/${encodeURIComponent(body.orderId)}`,
    });
  }

  #fail(res: ServerResponse, error: unknown): void {
    if (error instanceof HostworkError) send(res, 400, { error: error.message, code: error.code });
    else if (error instanceof OrderExists) send(res, 409, { error: error.message });
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
