/**
 * The test broker: where it is, whether it is reachable, fresh queue names, and inspecting and cleaning up queues.
 *
 * Tests that need RabbitMQ register through {@link describeWithBroker}. When the broker is unreachable they are
 * skipped with a line saying what and why, unless `HOSTWORK_REQUIRE_SERVICES=1` (set by CI): then they fail, so a CI
 * machine without its broker can never pass by skipping.
 *
 * Every test uses queues of its own ({@link freshQueueName}, deleted afterwards), so test files running in parallel
 * (and other users of the shared broker) never see each other's messages.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import { promisify } from 'node:util';
import amqp, { type ChannelModel } from 'amqplib';
import { describeWhenAvailable } from '../../../hostwork/test/support/services.ts';

/** The test broker: `RABBITMQ_URL`, or the local default. */
export const RABBITMQ_URL = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

let probe: Promise<string | undefined> | undefined;

/** Why the broker is unusable, or undefined when it answers. Probed once per test file. */
export function brokerProblem(): Promise<string | undefined> {
  probe ??= (async () => {
    try {
      const connection = await amqp.connect(RABBITMQ_URL, { timeout: 3_000 });
      connection.on('error', () => {});
      await connection.close();
      return undefined;
    } catch (error) {
      return `RabbitMQ is unreachable at ${redact(RABBITMQ_URL)}: ${(error as Error).message}`;
    }
  })();
  return probe;
}

/**
 * Registers `body` (a describe block's body) when the broker answers. Otherwise registers one test named `what` that
 * is skipped, saying why, or, under HOSTWORK_REQUIRE_SERVICES=1, fails with the reason.
 */
export async function describeWithBroker(what: string, body: () => void): Promise<void> {
  describeWhenAvailable(
    what,
    await brokerProblem(),
    body,
    'set RABBITMQ_URL to a reachable broker to run these tests',
  );
}

/** A new queue name no other test uses. */
export function freshQueueName(prefix = 'hw-test'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

let admin: Promise<ChannelModel> | undefined;

/**
 * A connection for inspecting and deleting queues, closed after the file; a new one after the broker closed it (a
 * broker restart in a fault test).
 */
function adminConnection(): Promise<ChannelModel> {
  admin ??= amqp.connect(RABBITMQ_URL).then((connection) => {
    connection.on('error', () => {});
    connection.on('close', () => {
      admin = undefined;
    });
    return connection;
  });
  admin.catch(() => {
    admin = undefined;
  });
  return admin;
}

// Registered when the module loads (a hook added while tests run may never run): closes the connection if made. It
// runs before the `after` hooks of the test files that import this module, so they clean up in `afterEach`.
after(async () => {
  const connection = admin;
  admin = undefined;
  await (await connection?.catch(() => undefined))?.close().catch(() => {});
});

/** The number of ready (not delivered, or delivered and handed back) messages in `queue`; undefined if it is missing. */
export async function readyCount(queue: string): Promise<number | undefined> {
  const channel = await (await adminConnection()).createChannel();
  channel.on('error', () => {});
  try {
    return (await channel.checkQueue(queue)).messageCount;
  } catch (error) {
    if ((error as { code?: number }).code === 404) return undefined;
    throw error;
  } finally {
    await channel.close().catch(() => {});
  }
}

/** Takes the ready messages of `queue` (acked), oldest first. */
export async function drain(
  queue: string,
): Promise<{ body: string; id: unknown; headers: Record<string, unknown> }[]> {
  const channel = await (await adminConnection()).createChannel();
  const taken = [];
  try {
    for (;;) {
      const message = await channel.get(queue, { noAck: true });
      if (message === false) return taken;
      taken.push({
        body: message.content.toString(),
        id: message.properties.messageId,
        headers: (message.properties.headers ?? {}) as Record<string, unknown>,
      });
    }
  } finally {
    await channel.close().catch(() => {});
  }
}

/** Deletes queues (those missing are fine). */
export async function deleteQueues(...queues: string[]): Promise<void> {
  const channel = await (await adminConnection()).createChannel();
  channel.on('error', () => {});
  try {
    for (const queue of queues) await channel.deleteQueue(queue);
  } finally {
    await channel.close().catch(() => {});
  }
}

/** Declares a queue the way an application would before Hostwork uses it (declare: false). */
export async function createQueue(
  queue: string,
  type: 'classic' | 'quorum' = 'classic',
  args: Record<string, unknown> = {},
): Promise<void> {
  const channel = await (await adminConnection()).createChannel();
  try {
    await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': type, ...args } });
  } finally {
    await channel.close().catch(() => {});
  }
}

/** The queue's type as the broker reports it ('classic', 'quorum'). */
export async function queueType(queue: string): Promise<string | undefined> {
  const { stdout } = await run('rabbitmqctl', [
    'list_queues',
    '--quiet',
    '--no-table-headers',
    'name',
    'type',
  ]);
  for (const line of stdout.split('\n')) {
    const [name, type] = line.trim().split(/\s+/);
    if (name === queue) return type;
  }
  return undefined;
}

const run = promisify(execFile);

/**
 * The number of messages of `queue` delivered and not yet acked (handed back ones are ready again), as the broker
 * counts them; undefined if the queue is missing.
 */
export async function unackedCount(queue: string): Promise<number | undefined> {
  const { stdout } = await run('rabbitmqctl', [
    'list_queues',
    '--quiet',
    '--no-table-headers',
    'name',
    'messages_unacknowledged',
  ]);
  for (const line of stdout.split('\n')) {
    const [name, count] = line.trim().split(/\s+/);
    if (name === queue) return Number(count);
  }
  return undefined;
}

/**
 * Closes, from the broker's side, the connections whose name (the transport's `connectionName`) is `name`, as a
 * broker restart or a network failure would; other clients' connections are untouched. Resolves to how many.
 */
export async function killConnections(name: string): Promise<number> {
  const { stdout } = await run('rabbitmqctl', ['list_connections', '--silent', 'pid', 'client_properties']);
  let killed = 0;
  for (const line of stdout.split('\n')) {
    const [pid, properties] = line.split('\t');
    if (!pid || !properties?.includes(`{"connection_name","${name}"}`)) continue;
    await run('rabbitmqctl', ['close_connection', pid, 'hostwork test: connection killed']);
    killed++;
  }
  return killed;
}

/** Polls `check` until it returns true, failing after `timeoutMs` with `what`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The URL without its password, for messages. */
function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
