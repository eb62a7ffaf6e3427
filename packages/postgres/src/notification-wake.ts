/**
 * The wake-up signal behind `PostgresStore.onWake`.
 *
 * - In this process, a write that may make work ready calls {@link NotificationWake.notifySoon}: listeners run on
 *   the next microtask (once, however many writes before it).
 * - Other processes' writes arrive as notifications on the schema's channel, through one dedicated connection that
 *   LISTENs while anyone here listens (opened with the first listener, closed with the last). A notification whose
 *   payload is this store's own is skipped: its listeners were already woken in-process.
 * - When that connection fails (server restart, network cut, pg_terminate_backend), the store warns, polls (wakes
 *   the listeners every `pollIntervalMs`, so work is still found), and reconnects with exponential backoff from
 *   100 ms to 5 s. Once listening again, it wakes the listeners once: notifications sent meanwhile are lost.
 *   The first connection does the same, since work may have been committed before anyone listened.
 */
import type pg from 'pg';
import type { WarningListener } from './warnings.ts';

/** Where the notification connection is in its life (for diagnostics and tests). */
export type NotificationState = 'idle' | 'connecting' | 'listening' | 'reconnecting' | 'closed';

export interface NotificationWakeOptions {
  /** The channel to LISTEN on (a validated name: letters, digits, `_` and `.`). */
  readonly channel: string;
  /** The payload this store sends with its own notifications. */
  readonly ownPayload: string;
  /** Creates a new, unconnected client for the LISTEN connection. */
  readonly createClient: () => pg.Client;
  /** How often to wake the listeners while the connection is down. */
  readonly pollIntervalMs: number;
  /** Names the store in warnings. */
  readonly where: string;
  readonly warn: WarningListener;
}

const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 5_000;

export class NotificationWake {
  readonly #options: NotificationWakeOptions;
  /** One entry per subscription, so the same function subscribed twice is two subscriptions. */
  readonly #subscriptions = new Set<{ readonly listener: () => void }>();
  #queued = false;
  #state: NotificationState = 'idle';
  #client: pg.Client | undefined;
  /** Bumped whenever listening stops: a connect or retry started before then sees a new value and backs out. */
  #generation = 0;
  /** Connection attempts (and losses) since the last success: the exponent of the backoff. */
  #failures = 0;
  /** Whether a failed attempt was reported since the last success (one such warning per outage). */
  #reportedFailure = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #pollTimer: ReturnType<typeof setInterval> | undefined;

  constructor(options: NotificationWakeOptions) {
    this.#options = options;
  }

  get state(): NotificationState {
    return this.#state;
  }

  /** Adds a listener (listeners must not throw); returns its unsubscribe function. */
  subscribe(listener: () => void): () => void {
    if (this.#state === 'closed') return () => {};
    const subscription = { listener };
    this.#subscriptions.add(subscription);
    if (this.#state === 'idle') this.#start();
    return () => {
      if (!this.#subscriptions.delete(subscription)) return;
      if (this.#subscriptions.size === 0 && this.#state !== 'closed') void this.#stop('idle');
    };
  }

  /** Wakes the listeners on the next microtask (once, however many calls before it runs). */
  notifySoon(): void {
    if (this.#queued || this.#subscriptions.size === 0) return;
    this.#queued = true;
    queueMicrotask(this.#fire);
  }

  /** Stops listening and drops every listener; resolves once the LISTEN connection is closed. Idempotent. */
  close(): Promise<void> {
    this.#subscriptions.clear();
    return this.#stop('closed');
  }

  #start(): void {
    this.#state = 'connecting';
    this.#failures = 0;
    this.#reportedFailure = false;
    void this.#connect(this.#generation);
  }

  #stop(next: 'idle' | 'closed'): Promise<void> {
    this.#generation++;
    this.#state = next;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#stopPolling();
    const client = this.#client;
    this.#client = undefined;
    return client ? endQuietly(client) : Promise.resolve();
  }

  async #connect(generation: number): Promise<void> {
    const client = this.#options.createClient();
    // Attached before connecting and never removed: a client's 'error' event without a listener would throw.
    client.on('error', (error: Error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, new Error('the connection ended')));
    client.on('notification', (message: pg.Notification) => {
      if (client === this.#client && message.payload !== this.#options.ownPayload) this.#fire();
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.#options.channel}"`);
    } catch (error) {
      void endQuietly(client);
      if (generation === this.#generation) this.#failed(error);
      return;
    }
    if (generation !== this.#generation) {
      void endQuietly(client); // stopped while connecting
      return;
    }
    this.#client = client;
    this.#state = 'listening';
    this.#failures = 0;
    this.#reportedFailure = false;
    this.#stopPolling();
    this.#fire(); // whatever was committed while nobody listened
  }

  /** The LISTEN connection broke while in use. */
  #lost(client: pg.Client, error: Error): void {
    if (client !== this.#client) return; // a client already given up, or one still connecting (#connect handles it)
    this.#client = undefined;
    void endQuietly(client);
    this.#options.warn(
      `${this.#options.where}: the LISTEN connection for wake-ups was lost; reconnecting, and polling every ${this.#options.pollIntervalMs} ms meanwhile.`,
      error,
      { warning: 'listen-lost', pollIntervalMs: this.#options.pollIntervalMs },
    );
    this.#retryLater();
  }

  /** A connection attempt failed. */
  #failed(error: unknown): void {
    // Once per outage: a database down for minutes must not produce a warning every few seconds.
    if (!this.#reportedFailure) {
      this.#reportedFailure = true;
      this.#options.warn(
        `${this.#options.where}: cannot open the LISTEN connection for wake-ups; retrying with backoff up to ${MAX_RETRY_MS / 1000} s, and polling every ${this.#options.pollIntervalMs} ms meanwhile.`,
        error,
        { warning: 'listen-failed', pollIntervalMs: this.#options.pollIntervalMs, maxRetryMs: MAX_RETRY_MS },
      );
    }
    this.#retryLater();
  }

  #retryLater(): void {
    this.#state = 'reconnecting';
    this.#startPolling();
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.#failures);
    this.#failures++;
    const generation = this.#generation;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (generation === this.#generation) void this.#connect(generation);
    }, delay);
    this.#retryTimer.unref();
  }

  #startPolling(): void {
    if (this.#pollTimer !== undefined) return;
    this.#pollTimer = setInterval(this.#fire, this.#options.pollIntervalMs);
    this.#pollTimer.unref();
  }

  #stopPolling(): void {
    clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
  }

  #fire = (): void => {
    this.#queued = false;
    for (const { listener } of [...this.#subscriptions]) {
      try {
        listener();
      } catch (error) {
        // Called from a driver event or a timer, where a throw would crash the process.
        this.#options.warn(`${this.#options.where}: a wake-up listener threw.`, error, {
          warning: 'wake-listener-threw',
        });
      }
    }
  };
}

/** Ends a client whose connection may already be gone; never rejects. */
function endQuietly(client: pg.Client): Promise<void> {
  return client.end().catch(() => {});
}
