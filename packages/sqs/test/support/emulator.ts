/**
 * The SQS emulator for tests: fauxqs (from the npm registry) embedded in the test process, its HTTP server bound to
 * 127.0.0.1 on a free port, never 0.0.0.0. fauxqs's own `startFauxqs()` listens on every interface, so this builds
 * its app (`buildApp`) and listens itself; the emulator's state (its stores) is kept apart from the server, so the
 * server can be stopped (connections refused, long polls cut) and started again on the same port with every queue
 * and message where it was, like a broker restarting with its data.
 *
 * When fauxqs cannot be loaded, tests registered through {@link describeWithEmulator} are skipped with the reason,
 * or fail under HOSTWORK_REQUIRE_SERVICES=1, like the PostgreSQL tests.
 */
import { randomBytes } from 'node:crypto';
import { SQSClient } from '@aws-sdk/client-sqs';
import { describeWhenAvailable } from '../../../hostwork/test/support/services.ts';
import { type SqsTransportOptions, sqsTransport } from '../../src/index.ts';

/** The emulator's region and account; any credentials pass. */
export const REGION = 'us-east-1';
export const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

interface Listening {
  listen(options: { port: number; host: string }): Promise<string>;
  close(): Promise<void>;
}
type BuildApp = (options: { logger: boolean; stores: object }) => Listening;
type StoreClass = new () => object;

interface Fauxqs {
  readonly buildApp: BuildApp;
  readonly stores: () => object;
}

let loaded: Promise<Fauxqs | string> | undefined;

/** fauxqs's app builder and store classes, or why they cannot be loaded. */
function loadFauxqs(): Promise<Fauxqs | string> {
  loaded ??= (async () => {
    try {
      const main = import.meta.resolve('fauxqs');
      const app = (await import(main)) as { buildApp: BuildApp };
      // The stores are not exported; they are loaded from fauxqs's files next to its entry point.
      const sqs = (await import(new URL('./sqs/sqsStore.js', main).href)) as { SqsStore: StoreClass };
      const sns = (await import(new URL('./sns/snsStore.js', main).href)) as { SnsStore: StoreClass };
      const s3 = (await import(new URL('./s3/s3Store.js', main).href)) as { S3Store: StoreClass };
      return {
        buildApp: app.buildApp,
        stores: () => ({
          sqsStore: new sqs.SqsStore(),
          snsStore: new sns.SnsStore(),
          s3Store: new s3.S3Store(),
        }),
      };
    } catch (error) {
      return `the SQS emulator fauxqs cannot be loaded (npm install fauxqs): ${(error as Error).message}`;
    }
  })();
  return loaded;
}

/** A running emulator. */
export interface Emulator {
  readonly endpoint: string;
  readonly port: number;
  /** Stops the server (state kept). */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same state. */
  start(): Promise<void>;
}

/** Starts an emulator on 127.0.0.1 and a free port. */
export async function startEmulator(): Promise<Emulator> {
  const fauxqs = await loadFauxqs();
  if (typeof fauxqs === 'string') throw new Error(fauxqs);
  const stores = fauxqs.stores();
  let app: Listening | undefined;
  let port = 0;
  const listen = async () => {
    const next = fauxqs.buildApp({ logger: false, stores });
    const address = await next.listen({ port, host: '127.0.0.1' });
    port = Number(new URL(address).port);
    app = next;
  };
  await listen();
  return {
    get endpoint() {
      return `http://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    async stop() {
      const running = app;
      app = undefined;
      await running?.close();
    },
    start: listen,
  };
}

/**
 * Registers `body` with a fresh emulator for the file when fauxqs loads; otherwise one test named `what`, skipped
 * with the reason, or failing under HOSTWORK_REQUIRE_SERVICES=1.
 */
export async function describeWithEmulator(what: string, body: () => void): Promise<void> {
  const loaded = await loadFauxqs();
  describeWhenAvailable(what, typeof loaded === 'string' ? loaded : undefined, body);
}

/** A queue name no other test uses (`fifo`: with the `.fifo` suffix). */
export function freshQueue(prefix = 'q', fifo = false): string {
  return `${prefix}-${randomBytes(6).toString('hex')}${fifo ? '.fifo' : ''}`;
}

/** An SDK client for the emulator that counts the commands it sends, by name (observed, nothing mocked). */
export function countingClient(emulator: Emulator): { client: SQSClient; counts: Map<string, number> } {
  const counts = new Map<string, number>();
  const client = new SQSClient({ region: REGION, endpoint: emulator.endpoint, credentials: CREDENTIALS });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = context.commandName ?? 'unknown';
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: 'hostworkCountCommands' },
  );
  return { client, counts };
}

/**
 * A transport on the emulator that creates the queues it is given (and `<queue>-dead`), for a fresh queue per test
 * ({@link freshQueue}); `options` overrides (e.g. `visibilityTimeoutMs: 2_000` for lock tests). Long polls last 1 s,
 * not 20: a long poll aborted by `stop()` is still answered by the emulator, and a message it takes then stays
 * invisible for its visibility timeout; short polls keep that window small in tests.
 */
export function emulatorTransport(emulator: Emulator, options: SqsTransportOptions = {}) {
  return sqsTransport(emulatorTransportOptions(emulator, options));
}

/** The options {@link emulatorTransport} gives `sqsTransport`: plain JSON, so another process can build it too. */
export function emulatorTransportOptions(
  emulator: Emulator,
  options: SqsTransportOptions = {},
): SqsTransportOptions {
  return {
    region: REGION,
    endpoint: emulator.endpoint,
    credentials: CREDENTIALS,
    createQueues: true,
    waitTimeSeconds: 1,
    ...options,
  };
}

/** Polls `check` until it returns true, failing with `what` after `timeoutMs`. */
export async function eventually(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
