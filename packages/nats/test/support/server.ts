/**
 * The test server: where nats-server (with JetStream) is, whether it answers, fresh subjects, reading and deleting
 * streams, and restarting it (for the fault tests).
 *
 * Tests that need NATS register through {@link describeWithServer}. When the server is unreachable they are skipped
 * with a line saying what and why, unless `HOSTWORK_REQUIRE_SERVICES=1` (set by CI): then they fail, so a CI machine
 * without its server can never pass by skipping.
 *
 * Every test uses subjects and streams of its own ({@link freshSubject}, deleted afterwards), so test files running in
 * parallel never see each other's messages.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import { promisify } from 'node:util';
import { type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import type { Headers } from 'hostwork';
import { describeWhenAvailable } from '../../../hostwork/test/support/services.ts';

const run = promisify(execFile);

/** The test server: `NATS_URL`, or the local default. */
export const NATS_URL = process.env.NATS_URL ?? '127.0.0.1:4222';

let probe: Promise<string | undefined> | undefined;

/** Why the server is unusable, or undefined when it answers with JetStream. Probed once per test file. */
export function serverProblem(): Promise<string | undefined> {
  probe ??= (async () => {
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({ servers: NATS_URL, timeout: 3_000, reconnect: false });
      await jetstreamManager(nc);
      return undefined;
    } catch (error) {
      return `NATS with JetStream is unreachable at ${NATS_URL}: ${(error as Error).message}`;
    } finally {
      await nc?.close().catch(() => {});
    }
  })();
  return probe;
}

/**
 * Registers `body` (a describe block's body) when the server answers. Otherwise registers one test named `what` that
 * is skipped, saying why, or, under HOSTWORK_REQUIRE_SERVICES=1, fails with the reason.
 */
export async function describeWithServer(what: string, body: () => void): Promise<void> {
  describeWhenAvailable(
    what,
    await serverProblem(),
    body,
    'set NATS_URL to a reachable nats-server started with -js to run these tests',
  );
}

/** A new subject (and so stream and consumer name) no other test uses: `<prefix>-<hex>`. */
export function freshSubject(prefix = 'hw-test'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

let admin: Promise<{ nc: NatsConnection; jsm: JetStreamManager }> | undefined;

/** A connection for inspecting and deleting streams, closed after the file; a new one after a restart closed it. */
export function adminManager(): Promise<JetStreamManager> {
  admin ??= (async () => {
    const nc = await connect({ servers: NATS_URL, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    void nc.closed().then(() => {
      admin = undefined;
    });
    return { nc, jsm: await jetstreamManager(nc) };
  })();
  admin.catch(() => {
    admin = undefined;
  });
  return admin.then((a) => a.jsm);
}

// Registered when the module loads: closes the admin connection if made.
after(async () => {
  const connection = admin;
  admin = undefined;
  await (await connection?.catch(() => undefined))?.nc.close().catch(() => {});
});

/** Publishes to JetStream as a publisher that is not Hostwork would: no `Nats-Msg-Id` unless given. */
export async function publishRaw(
  subject: string,
  body: string,
  headerValues: Record<string, string> = {},
  msgID?: string,
): Promise<void> {
  await adminManager();
  const { nc } = await admin!;
  const h = headers();
  for (const [key, value] of Object.entries(headerValues)) h.set(key, value);
  await jetstream(nc).publish(subject, body, { headers: h, ...(msgID ? { msgID } : {}) });
}

/** A stored message as the tests read it. */
export interface StoredMessage {
  readonly seq: number;
  readonly subject: string;
  readonly id: string | undefined;
  readonly body: Uint8Array;
  readonly headers: Headers;
}

/** Every message in `stream`, oldest first, left in it; none when the stream is missing. */
export async function readStream(stream: string): Promise<StoredMessage[]> {
  const jsm = await adminManager();
  const info = await retrying(`reading stream ${stream}`, () =>
    jsm.streams.info(stream).catch((error: unknown) => {
      if (/not found/i.test((error as Error).message)) return undefined;
      throw error;
    }),
  );
  if (!info) return [];
  const found: StoredMessage[] = [];
  const { first_seq, last_seq, messages } = info.state;
  if (messages === 0) return found;
  for (let seq = first_seq; seq <= last_seq; seq++) {
    const stored = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (!stored) continue;
    const headers: Record<string, string> = {};
    for (const key of stored.header?.keys() ?? []) headers[key] = stored.header.get(key);
    found.push({
      seq,
      subject: stored.subject,
      id: headers['hostwork-id'] ?? headers['Nats-Msg-Id'],
      body: stored.data,
      headers,
    });
  }
  return found;
}

/** The number of messages in `stream` (undefined when it is missing). */
export async function streamCount(stream: string): Promise<number | undefined> {
  const jsm = await adminManager();
  return retrying(`counting stream ${stream}`, () =>
    jsm.streams.info(stream).then(
      (info) => info.state.messages,
      (error: unknown) => {
        if (/not found/i.test((error as Error).message)) return undefined;
        throw error;
      },
    ),
  );
}

/** Deletes streams (those missing are fine), trying again while the server recovers from a restart. */
export async function deleteStreams(...streams: string[]): Promise<void> {
  for (const stream of streams) {
    await retrying(`deleting stream ${stream}`, async () => {
      const jsm = await adminManager();
      await jsm.streams.delete(stream).catch((error: unknown) => {
        if (!/not found/i.test((error as Error).message)) throw error;
      });
    });
  }
}

/**
 * Runs `operation` until it succeeds, for up to 30 s: just after a restart the server's JetStream may not answer yet
 * (a timeout, no responders), and nats-server 2.9 may refuse a deletion while it writes the stream's state.
 */
async function retrying<T>(what: string, operation: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await operation();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what} kept failing`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
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

// --- restarting the server (fault tests only) ----------------------------------------------------------------------

const SERVER = '/usr/sbin/nats-server';
/** How .ci/run starts it; the JetStream store in /var/lib/nats-server survives the restart. */
const START = [
  '--start',
  '--oknodo',
  '--background',
  '--exec',
  SERVER,
  '--',
  '-a',
  '127.0.0.1',
  '-p',
  '4222',
  '-js',
  '-sd',
  '/var/lib/nats-server',
  '-l',
  '/var/log/nats-server.log',
];

/** Whether something accepts JetStream requests at {@link NATS_URL}. */
async function answers(): Promise<boolean> {
  let nc: NatsConnection | undefined;
  try {
    nc = await connect({ servers: NATS_URL, timeout: 1_000, reconnect: false });
    const jsm = await jetstreamManager(nc, { timeout: 1_000 });
    await jsm.getAccountInfo();
    return true;
  } catch {
    return false;
  } finally {
    await nc?.close().catch(() => {});
  }
}

/** Stops nats-server (SIGTERM: it writes its JetStream state) and waits until it is gone. */
export async function stopServer(): Promise<void> {
  await run('start-stop-daemon', ['--stop', '--oknodo', '--retry', 'TERM/30/KILL/5', '--exec', SERVER]);
}

/** Starts nats-server (idempotent) and waits until JetStream answers. */
export async function startServer(): Promise<void> {
  await run('start-stop-daemon', START);
  await waitFor('nats-server to answer with JetStream', answers, 60_000);
}

/** Restarts nats-server and resolves once JetStream answers again. */
export async function restartServer(): Promise<void> {
  await stopServer();
  await startServer();
}
