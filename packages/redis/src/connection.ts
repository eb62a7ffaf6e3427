/**
 * One connection to Redis (a node-redis client speaking RESP2, replies read as Buffers so bodies stay bytes): the
 * transport's command connection, or a subscription's reading connection (XREADGROUP blocks the connection it runs on,
 * so each subscription reads on one of its own). The first connect fails at once when the server does not answer;
 * after that, a lost connection is reconnected by node-redis with the transport's backoff, and the commands not yet
 * written wait for it (those written before the loss fail, and their callers try again).
 */
import {
  ErrorReply,
  RESP_TYPES,
  type RedisArgument,
  RedisClient,
  type RedisClientOptions,
  type RedisFunctions,
  type RedisModules,
  type RedisScripts,
} from 'redis';
import type { ResolvedOptions } from './redis-transport-options.ts';
import { redact } from './redis-transport-options.ts';

/** A reply as read here: bulk strings as Buffers, integers as numbers, arrays, null. */
export type Reply = Buffer | number | null | string | Reply[];

/** The part of node-redis's client used here (its full type carries every module's commands). */
interface Client {
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  sendCommand<T>(args: readonly RedisArgument[], options?: object): Promise<T>;
  close(): Promise<void>;
  destroy(): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'ready' | 'reconnecting' | 'end', listener: () => void): unknown;
}

/** What a connection reports; the command connection turns these into warnings. */
export interface ConnectionEvents {
  /** The connection was lost (once per outage). */
  lost?(error: Error): void;
  /** A reconnect attempt failed. */
  reconnectFailed?(error: Error, attempt: number): void;
  /** Ready again after a loss, after `attempts` tries. */
  reconnected?(attempts: number): void;
}

const BUFFERS = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } };

/**
 * The client class, built once per process: node-redis builds a class with a method per command (and per module
 * command, through the `redis` package's createClient) for every client it creates, which costs tens of ms each.
 * Commands are sent with sendCommand, so no module is attached.
 */
let factory: ((options: object) => Client) | undefined;

/** A Redis connection; see the module's comment. */
export class RedisConnection {
  readonly #options: ResolvedOptions;
  readonly #name: string;
  readonly #events: ConnectionEvents;
  #client: Client | undefined;
  #opening: Promise<Client> | undefined;
  #everReady = false;
  #down = false;
  #attempts = 0;
  #closed = false;
  /** This connection's CLIENT ID on the server, asked once per (re)connect. */
  #clientId: Promise<number> | undefined;
  /** Whether that id was answered on the current connection (no wait for it before the next command). */
  #clientIdAnswered = false;

  constructor(options: ResolvedOptions, name: string, events: ConnectionEvents = {}) {
    this.#options = options;
    this.#name = name;
    this.#events = events;
  }

  /** Whether the connection is up now. */
  get ready(): boolean {
    return this.#client?.isReady ?? false;
  }

  /** Connects (once; a failed first connect is tried again on the next call). */
  open(): Promise<void> {
    return this.#connected().then(() => undefined);
  }

  /** Sends one command; bulk strings come back as Buffers. */
  send<T extends Reply = Reply>(args: readonly RedisArgument[]): Promise<T> {
    // Connected: straight to the client, no extra promise on the path of every ack.
    const client = this.#client;
    if (client) return client.sendCommand<T>(args, BUFFERS);
    return this.#connected().then((connected) => connected.sendCommand<T>(args, BUFFERS));
  }

  /** The server's id of this connection (CLIENT ID), for CLIENT UNBLOCK; asked again after a reconnect. */
  clientId(): Promise<number> {
    if (this.#clientId) return this.#clientId;
    const asked = this.send<number>(['CLIENT', 'ID']);
    this.#clientId = asked;
    asked.then(
      () => {
        if (this.#clientId === asked) this.#clientIdAnswered = true;
      },
      () => {
        if (this.#clientId === asked) this.#clientId = undefined;
      },
    );
    return asked;
  }

  /** Whether {@link clientId} has its answer on the current connection (asked and answered since the last connect). */
  get clientIdAnswered(): boolean {
    return this.#clientIdAnswered;
  }

  /** The id last learnt by {@link clientId} on the current connection, if any. */
  knownClientId(): Promise<number> | undefined {
    return this.#clientId;
  }

  /** Closes after the replies of the commands already sent; gives up (drops the socket) after `timeoutMs`. */
  async close(timeoutMs: number): Promise<'closed' | 'timeout'> {
    this.#closed = true;
    const client = this.#client ?? (await this.#opening?.catch(() => undefined));
    this.#client = undefined;
    if (!client) return 'closed';
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      client.close().then(
        () => 'closed' as const,
        () => 'closed' as const,
      ),
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (outcome === 'timeout') client.destroy();
    return outcome;
  }

  /** Drops the socket at once: commands waiting for a reply fail. */
  destroy(): void {
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    client?.destroy();
  }

  #connected(): Promise<Client> {
    if (this.#closed) return Promise.reject(new Error(`the Redis connection '${this.#name}' is closed`));
    if (this.#client) return Promise.resolve(this.#client);
    this.#opening ??= this.#connect().finally(() => {
      this.#opening = undefined;
    });
    return this.#opening;
  }

  async #connect(): Promise<Client> {
    const options = this.#options;
    let refused: Error | undefined;
    factory ??= RedisClient.factory({ RESP: 2 }) as unknown as (options: object) => Client;
    const client = factory({
      RESP: 2,
      url: options.url,
      name: this.#name,
      // Not tagged with the library's name on every connect (CLIENT SETINFO); the name above says whose it is.
      disableClientInfo: true,
      socket: {
        connectTimeout: options.connectTimeoutMs,
        noDelay: true,
        keepAlive: true,
        // Before the first ready: no retry, connect() fails with the reason. After it: reconnect with backoff.
        reconnectStrategy: (retries: number, cause: Error) => {
          if (!this.#everReady || this.#closed) {
            refused = cause;
            return false;
          }
          return Math.min(options.reconnectDelayMs * 2 ** Math.min(retries, 30), options.maxReconnectDelayMs);
        },
      },
    } satisfies RedisClientOptions<RedisModules, RedisFunctions, RedisScripts, 2>);
    client.on('error', (error) => this.#error(error));
    client.on('ready', () => this.#ready());
    try {
      await client.connect();
    } catch (error) {
      client.destroy();
      const cause = refused ?? error;
      throw new Error(
        `cannot connect to Redis at ${redact(options.url)}: ${(cause as Error)?.message ?? String(cause)}`,
        { cause },
      );
    }
    if (this.#closed) {
      client.destroy();
      throw new Error(`the Redis connection '${this.#name}' closed while connecting`);
    }
    this.#client = client;
    return client;
  }

  #error(error: Error): void {
    // A reply error is the caller's; only socket trouble is a connection event.
    if (error instanceof ErrorReply || !this.#everReady || this.#closed) return;
    this.#clientId = undefined;
    this.#clientIdAnswered = false;
    if (!this.#down) {
      this.#down = true;
      this.#attempts = 0;
      this.#events.lost?.(error);
    } else {
      this.#attempts++;
      this.#events.reconnectFailed?.(error, this.#attempts);
    }
  }

  #ready(): void {
    this.#everReady = true;
    this.#clientId = undefined;
    this.#clientIdAnswered = false;
    if (!this.#down) return;
    this.#down = false;
    this.#events.reconnected?.(this.#attempts + 1);
  }
}

/** Whether `error` is a reply from Redis (a refusal: NOGROUP, a script error...) rather than a lost connection. */
export function isReplyError(error: unknown): error is ErrorReply {
  return error instanceof ErrorReply;
}
