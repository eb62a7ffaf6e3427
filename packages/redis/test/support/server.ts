/**
 * The test servers: the shared Redis (`REDIS_URL`, default 127.0.0.1:6379), whether it answers, fresh stream names,
 * reading and deleting keys; and a dedicated redis-server that a test starts and restarts itself.
 *
 * Tests that need Redis register through {@link describeWithRedis}: skipped with the reason when it is unreachable,
 * failing under HOSTWORK_REQUIRE_SERVICES=1 (CI). Every test uses streams of its own ({@link freshStream}, deleted
 * afterwards), so test files running in parallel never see each other's messages.
 *
 * The shared server keeps nothing on disk (`--save "" --appendonly no`): a restart of it loses every stream, so it is
 * never restarted. Tests that restart a server start a {@link DedicatedServer} of their own instead: a real
 * redis-server on a free loopback port, with `--appendonly yes --appendfsync always` in a temporary folder, so that a
 * restart keeps every stream, group and pending entry (see the README's persistence section).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import type { Headers } from 'hostwork';
import { createClient, ErrorReply, RESP_TYPES } from 'redis';
import { describeWhenAvailable } from '../../../hostwork/test/support/services.ts';

/** The shared test server: `REDIS_URL`, or the local default. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The part of node-redis's client the tests use. */
interface AdminClient {
  sendCommand<T>(args: readonly (string | Buffer)[], options?: object): Promise<T>;
  connect(): Promise<unknown>;
  close(): Promise<void>;
  destroy(): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

const BUFFERS = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } };

/** A client for inspecting the server, connected, that fails at once rather than reconnecting. */
export async function adminClient(url = REDIS_URL): Promise<AdminClient> {
  const client = createClient({
    url,
    RESP: 2,
    disableClientInfo: true,
    socket: { connectTimeout: 3_000, reconnectStrategy: false },
  }) as unknown as AdminClient;
  client.on('error', () => {});
  await client.connect();
  return client;
}

const admins = new Map<string, Promise<AdminClient>>();

/** A shared admin client per URL, closed after the file; a new one after the server dropped it. */
async function admin(url: string): Promise<AdminClient> {
  let client = admins.get(url);
  if (!client) {
    client = adminClient(url);
    admins.set(url, client);
    client.catch(() => admins.delete(url));
  }
  return client;
}

/** Runs a command on the shared admin client of `url`, once more on a new client if the first was dropped. */
export async function command<T>(url: string, args: readonly (string | Buffer)[]): Promise<T> {
  try {
    return await (await admin(url)).sendCommand<T>(args, BUFFERS);
  } catch (error) {
    if (error instanceof ErrorReply) throw error;
    const stale = admins.get(url);
    admins.delete(url);
    (await stale?.catch(() => undefined))?.destroy();
    return (await admin(url)).sendCommand<T>(args, BUFFERS);
  }
}

after(async () => {
  const clients = [...admins.values()];
  admins.clear();
  for (const client of clients) (await client.catch(() => undefined))?.destroy();
});

let probe: Promise<string | undefined> | undefined;

/** Why the shared server is unusable, or undefined when it answers. Probed once per test file. */
export function serverProblem(): Promise<string | undefined> {
  probe ??= (async () => {
    try {
      const client = await adminClient(REDIS_URL);
      await client.sendCommand(['PING']);
      await client.close();
      return undefined;
    } catch (error) {
      return `Redis is unreachable at ${REDIS_URL}: ${(error as Error).message}`;
    }
  })();
  return probe;
}

/** Registers `body` when the shared server answers; otherwise a skipped (or, in CI, failing) test saying why. */
export async function describeWithRedis(what: string, body: () => void): Promise<void> {
  describeWhenAvailable(
    what,
    await serverProblem(),
    body,
    'set REDIS_URL to a reachable server to run these tests',
  );
}

/** A new stream name no other test uses. */
export function freshStream(prefix = 'hw-test'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

/** An entry as the tests read it: its stream id, Hostwork's message id, body and headers. */
export interface ReadEntry {
  readonly entryId: string;
  readonly id: string;
  readonly body: Uint8Array;
  readonly headers: Headers;
  readonly fields: Readonly<Record<string, string>>;
}

/** The entries of `stream`, oldest first, left in it (XRANGE). */
export async function readStream(stream: string, url = REDIS_URL): Promise<ReadEntry[]> {
  const reply = await command<[Buffer, Buffer[]][]>(url, ['XRANGE', stream, '-', '+']);
  return reply.map(([id, raw]) => {
    const fields: Record<string, string> = {};
    const headers: Record<string, string> = {};
    let body: Uint8Array = new Uint8Array(0);
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!.toString();
      fields[name] = raw[i + 1]!.toString();
      if (name === 'body') body = raw[i + 1]!;
      else if (name !== 'id' && name !== 'key') headers[name] = raw[i + 1]!.toString();
    }
    const entryId = id.toString();
    return { entryId, id: fields.id ?? entryId, body, headers, fields };
  });
}

/** How many entries are pending in `group` of `stream` (0 when either is missing). */
export async function pendingCount(stream: string, group = 'hostwork', url = REDIS_URL): Promise<number> {
  try {
    const [count] = await command<[number, ...unknown[]]>(url, ['XPENDING', stream, group]);
    return Number(count);
  } catch (error) {
    if (String((error as Error).message).startsWith('NOGROUP')) return 0;
    throw error;
  }
}

/** How many retries (or delayed publishes) wait in `key`. */
export async function scheduledCount(key: string, url = REDIS_URL): Promise<number> {
  return Number(await command<number>(url, ['ZCARD', key]));
}

/** The consumers of `group` on `stream`, by name, with their pending counts. */
export async function consumers(
  stream: string,
  group = 'hostwork',
  url = REDIS_URL,
): Promise<Map<string, number>> {
  const reply = await command<Buffer[][]>(url, ['XINFO', 'CONSUMERS', stream, group]);
  const found = new Map<string, number>();
  for (const row of reply) {
    const fields = new Map<string, unknown>();
    for (let i = 0; i + 1 < row.length; i += 2) fields.set(String(row[i]), row[i + 1]);
    found.set(String(fields.get('name')), Number(fields.get('pending')));
  }
  return found;
}

/** Deletes every key of a test's stream: the stream, its scheduled set, its dead-letter stream (missing ones are fine). */
export async function deleteStreamKeys(stream: string, url = REDIS_URL): Promise<void> {
  await command(url, ['DEL', stream, `${stream}:scheduled`, `${stream}:dead`]);
}

/** Polls `check` until it returns true, failing after `timeoutMs` with `what`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A free TCP port on the loopback interface (free when asked; the server started on it right after). */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/**
 * A redis-server of a test's own, on a free loopback port, persisting every write (`--appendonly yes --appendfsync
 * always`) in a temporary folder: {@link restart} stops it and starts it again on the same port and data, as a
 * server restart does. Stopped and its folder removed by {@link stop} (and when the test process exits).
 */
export class DedicatedServer {
  readonly port: number;
  readonly url: string;
  readonly #dir: string;
  #process: ChildProcess | undefined;
  #output = '';

  readonly #persistent: boolean;
  readonly #extra: readonly string[];

  private constructor(port: number, dir: string, persistent: boolean, extra: readonly string[]) {
    this.#persistent = persistent;
    this.#extra = extra;
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.#dir = dir;
  }

  /**
   * Starts a new server and waits until it answers; with `persistent: false`, it keeps nothing on disk (as the shared
   * server), so a restart loses every key. `args`: more redis-server arguments.
   */
  static async start(
    options: { readonly persistent?: boolean; readonly args?: readonly string[] } = {},
  ): Promise<DedicatedServer> {
    const dir = await mkdtemp(join(tmpdir(), 'hostwork-redis-'));
    const server = new DedicatedServer(await freePort(), dir, options.persistent ?? true, options.args ?? []);
    running.add(server);
    await server.#launch();
    return server;
  }

  /** Stops the server (SIGTERM: nothing more is written than `appendfsync always` wrote already), starts it again. */
  async restart(): Promise<void> {
    await this.#terminate();
    await this.#launch();
  }

  /** Stops the server for good and removes its folder. */
  async stop(): Promise<void> {
    running.delete(this);
    await this.#terminate();
    await rm(this.#dir, { recursive: true, force: true });
  }

  /** Kills the server at once (SIGKILL) and leaves it down; {@link startAgain} brings it back. */
  async kill(): Promise<void> {
    await this.#terminate('SIGKILL');
  }

  /** Starts the server again after {@link kill}. */
  async startAgain(): Promise<void> {
    await this.#launch();
  }

  async #launch(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.#dir,
        '--appendonly',
        this.#persistent ? 'yes' : 'no',
        '--appendfsync',
        'always',
        '--save',
        '',
        '--daemonize',
        'no',
        '--logfile',
        '',
        ...this.#extra,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.#output = '';
    child.stdout?.on('data', (chunk) => {
      this.#output = `${this.#output}${String(chunk)}`.slice(-4_000);
    });
    child.stderr?.on('data', (chunk) => {
      this.#output = `${this.#output}${String(chunk)}`.slice(-4_000);
    });
    this.#process = child;
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`redis-server exited at start: ${this.#output}`);
      try {
        const client = await adminClient(this.url);
        // With AOF, the server answers LOADING while it replays the file: wait for PONG.
        await client.sendCommand(['PING']);
        await client.close();
        return;
      } catch (error) {
        if (Date.now() > deadline)
          throw new Error(
            `redis-server did not answer on port ${this.port}: ${(error as Error).message}\n${this.#output}`,
          );
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  async #terminate(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.#process;
    this.#process = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
  }

  /** Kills the process at once (the test process is exiting). */
  killNow(): void {
    this.#process?.kill('SIGKILL');
  }
}

const running = new Set<DedicatedServer>();
process.on('exit', () => {
  for (const server of running) server.killNow();
});
