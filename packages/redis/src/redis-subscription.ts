/**
 * One consumer of a stream in a consumer group, under a consumer name of its own, reading on a connection of its own
 * (XREADGROUP blocks it). One loop, so the room is never over-asked:
 *
 * 1. when the claim is due (at start, then every `claimIntervalMs`), claim entries idle longer than the lease (their
 *    consumer died, or stopped extending) for at most the room left (the claim script: XPENDING IDLE and XCLAIM,
 *    telling who held each). One another consumer held counts as an attempt that failed: the consumer died (or
 *    stalled) while handling it, so a message that kills its consumer every time is dead-lettered after
 *    `maxAttempts`, not delivered for ever. It goes back to the stream as a retry copy with that error in its history
 *    (the original acknowledged, in one script); one this consumer held itself (a reply lost with the connection, or
 *    its own lease ran out while the event loop was blocked) is handed over as it is, uncounted;
 * 2. XREADGROUP `>` with COUNT = the room left (prefetch minus deliveries handed over and unsettled), blocking up to
 *    `blockMs` or until the next claim is due; waits for room when there is none: backpressure.
 *
 * Besides it, a timer moves due retries and delayed publishes from the scheduled set back to the stream (the
 * move-due script: any number of consumers may run it at once). A failed read (the server unreachable) is reported
 * once per outage and tried again with backoff; a group that vanished (the stream deleted, a server restarted without
 * persistence) is created again. stop() interrupts a blocking read with CLIENT UNBLOCK; entries read after it are
 * released (added back), never handed over.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { type DeliveryError, deliveryAttempt, type SubscribeOptions, type Subscription } from 'hostwork';
import { AckBatcher } from './ack-batcher.ts';
import { isReplyError, type RedisConnection, type Reply } from './connection.ts';
import {
  type EntryMessage,
  entryIdOf,
  fromFields,
  type StreamEntry,
  text,
  trimScriptArguments,
} from './fields.ts';
import { type DeliveryContext, RedisDelivery } from './redis-delivery.ts';
import type { ResolvedStream } from './redis-transport-options.ts';
import { SCRIPTS } from './scripts.ts';
import type { WarningListener } from './warnings.ts';

/** What a subscription needs from its transport. */
export interface SubscriptionHost {
  readonly warn: WarningListener;
  /** The transport's command connection (settles, claims of leases, the scheduled set). */
  readonly connection: RedisConnection;
  /** A new connection for this subscription's blocking reads, named `name`. */
  readerConnection(name: string): RedisConnection;
  /** The connections' name prefix (CLIENT SETNAME). */
  readonly connectionName: string;
  readonly blockMs: number;
  readonly schedulePollMs: number;
  /** Backoff before the `n`th consecutive attempt (1-based). */
  backoffMs(n: number): number;
  /** See {@link DeliveryContext.persist}. */
  persist(what: () => string, command: () => Promise<unknown>, onDone?: () => void): Promise<void>;
}

/** The most entries one run of the move-due script moves. */
const MOVE_BATCH = 100;

/** A consumer name no other subscription uses: `<host>-<pid>-<random>`. */
export function consumerName(): string {
  return `${hostname().replace(/\s+/g, '_')}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Creates the group when it does not exist (and the stream with it); resolves to whether it was created. */
export async function ensureGroup(connection: RedisConnection, source: ResolvedStream): Promise<boolean> {
  try {
    await connection.send(['XGROUP', 'CREATE', source.stream, source.group, source.groupStart, 'MKSTREAM']);
    return true;
  } catch (error) {
    if (isReplyError(error) && error.message.startsWith('BUSYGROUP')) return false;
    throw error;
  }
}

/** A running consumer; see the module's comment. */
export class RedisSubscription implements Subscription {
  readonly #host: SubscriptionHost;
  readonly #source: ResolvedStream;
  readonly #options: SubscribeOptions;
  readonly #context: DeliveryContext;
  readonly #reader: RedisConnection;
  /** This subscription's consumer name in the group. */
  readonly consumer: string;
  /**
   * Deliveries not yet settled, or settling: a claim of one of them is not handed over again. A list in no order,
   * each delivery knowing its place, not a map by entry id: hashing each new entry id string costs more than the
   * rest of taking an entry, and only the rare claims look entries up by id (see #known).
   */
  readonly #inFlight: RedisDelivery[] = [];
  /** Handed over and not yet settled. */
  #outstanding = 0;
  #roomWaiter: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #stopped = false;
  #stopping: Promise<void> | undefined;
  /** A blocking XREADGROUP is under way on the reader. */
  #reading = false;
  /** The claim's cursor through the group's pending entries ('-': from the start), and when the next claim is due. */
  #cursor = '-';
  #nextClaimAt = 0;
  /** The move-due timer, when it fires, and the run under way. */
  #moveTimer: NodeJS.Timeout | undefined;
  #moveAt = Number.POSITIVE_INFINITY;
  #moving: Promise<void> | undefined;
  /** Whether reading is failing (one warning and one `disconnected` per outage). */
  #down = false;
  /** Wakes a backoff sleep when the subscription stops. */
  readonly #halt = Promise.withResolvers<void>();

  constructor(host: SubscriptionHost, source: ResolvedStream, options: SubscribeOptions) {
    this.#host = host;
    this.#source = source;
    this.#options = options;
    this.consumer = consumerName();
    this.#reader = host.readerConnection(`${host.connectionName}:${this.consumer}`);
    this.#context = {
      source,
      consumer: this.consumer,
      warn: host.warn,
      connection: host.connection,
      acks: new AckBatcher({
        connection: host.connection,
        source,
        persist: (what, command, onDone) => host.persist(what, command, onDone),
        finished: (deliveries) => {
          for (const delivery of deliveries) this.#leave(delivery);
        },
      }),
      settled: () => {
        this.#outstanding--;
        this.#wake();
      },
      finished: (delivery) => {
        this.#leave(delivery);
      },
      scheduled: (delayMs) => this.#scheduleMove(delayMs),
      persist: (what, command, onDone) => host.persist(what, command, onDone),
    };
  }

  /** The stream this subscription reads. */
  get source(): ResolvedStream {
    return this.#source;
  }

  /** Connects its reader, creates the group when missing, and starts reading; errors reach `subscribe`'s caller. */
  async start(): Promise<void> {
    await ensureGroup(this.#host.connection, this.#source);
    await this.#reader.open();
    this.#loop = this.#read();
    this.#scheduleMove(0);
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  /** Removes this consumer from the group when nothing is pending with it any more (at close; best effort). */
  async retire(): Promise<void> {
    await SCRIPTS.deleteIdleConsumer
      .run(this.#host.connection, [this.#source.stream], [this.#source.group, this.consumer])
      .catch(() => {});
  }

  async #stop(): Promise<void> {
    this.#stopped = true;
    this.#halt.resolve();
    this.#wake();
    clearTimeout(this.#moveTimer);
    this.#moveTimer = undefined;
    const loop = this.#loop ?? Promise.resolve();
    let done = false;
    void loop.finally(() => {
      done = true;
    });
    // A blocking read returns at once on CLIENT UNBLOCK; sent again until the loop ends, in case the read reached the
    // server after the first one. Without the right to CLIENT UNBLOCK, the read ends within blockMs. With the server
    // unreachable (a read or claim waiting for the reconnect), or past that, the reader is dropped: entries a lost
    // reply carried stay pending with this consumer and are claimed again after the lease. Nothing waits for ever.
    const deadline = Date.now() + this.#host.blockMs + 1_000;
    while (!done) {
      if (!this.#reader.ready || Date.now() > deadline) {
        this.#reader.destroy();
        await loop;
        break;
      }
      if (this.#reading) await this.#unblock();
      await Promise.race([loop, new Promise((resolve) => setTimeout(resolve, 50))]);
    }
    await Promise.race([this.#moving, new Promise((resolve) => setTimeout(resolve, 1_000))]);
    await this.#reader.close(1_000);
  }

  async #unblock(): Promise<void> {
    const id = await this.#reader.knownClientId()?.catch(() => undefined);
    if (id === undefined) return;
    await this.#host.connection.send(['CLIENT', 'UNBLOCK', String(id), 'TIMEOUT']).catch(() => {});
  }

  get #room(): number {
    return this.#options.prefetch - this.#outstanding;
  }

  #wake(): void {
    const wake = this.#roomWaiter;
    this.#roomWaiter = undefined;
    wake?.();
  }

  async #read(): Promise<void> {
    const source = this.#source;
    let failures = 0;
    while (!this.#stopped) {
      if (this.#room <= 0) {
        await new Promise<void>((resolve) => {
          this.#roomWaiter = resolve;
        });
        continue;
      }
      try {
        if (Date.now() >= this.#nextClaimAt) await this.#claim();
        const room = this.#room;
        if (this.#stopped || room <= 0) continue;
        // Known before blocking, so that stop() can unblock the read; asked again after a reconnect, so its answer
        // also tells that the server is back (before a read that may block for blockMs). Once answered, not waited
        // for: the read follows in the same turn, with this turn's acks ahead of it (see below).
        if (!this.#reader.clientIdAnswered) await this.#reader.clientId();
        if (failures > 0 || this.#down) this.#recovered();
        failures = 0;
        if (this.#stopped) break;
        const block = Math.max(1, Math.min(this.#host.blockMs, this.#nextClaimAt - Date.now()));
        let reply: Reply;
        // The acks made since the last read (the batch just handled) go first on this connection, in the same write.
        if (this.#reader.ready) this.#context.acks.sendBefore(this.#reader);
        this.#reading = true;
        try {
          reply = await this.#reader.send([
            'XREADGROUP',
            'GROUP',
            source.group,
            this.consumer,
            'COUNT',
            String(room),
            'BLOCK',
            String(block),
            'STREAMS',
            source.stream,
            '>',
          ]);
        } finally {
          this.#reading = false;
        }
        // [[stream, entries]], or nil when the block ran out.
        const streams = Array.isArray(reply) ? reply : [];
        const entries = Array.isArray(streams[0]) ? streams[0][1] : undefined;
        this.#takeReply(entries);
      } catch (error) {
        if (this.#stopped) break;
        if (isReplyError(error) && error.message.startsWith('NOGROUP')) {
          await this.#recreateGroup(error);
          continue;
        }
        failures++;
        this.#failed(error);
        await this.#sleep(this.#host.backoffMs(failures));
      }
    }
  }

  /**
   * Claims entries whose lease ran out, for at most the room left, continuing through the pending list: those this
   * consumer held are handed over, those another held are counted as a failed attempt (see the module's comment).
   */
  async #claim(): Promise<void> {
    const source = this.#source;
    const room = this.#room;
    const reply = await SCRIPTS.claim.run(
      this.#reader,
      [source.stream],
      [source.group, this.consumer, String(source.leaseMs), this.#cursor, String(room)],
    );
    // [next cursor, [[entry id, fields, previous owner], ...]].
    const parts = Array.isArray(reply) ? reply : [];
    this.#cursor = text(parts[0]) || '-';
    const rows = Array.isArray(parts[1]) ? parts[1] : [];
    const own: StreamEntry[] = [];
    const lost = new Map<string, StreamEntry[]>();
    for (const row of rows) {
      if (!Array.isArray(row) || !Array.isArray(row[1])) continue;
      const entryId = entryIdOf(row[0]);
      const entry: StreamEntry = { entryId, message: fromFields(entryId, row[1]) };
      const owner = text(row[2]);
      if (owner === this.consumer) own.push(entry);
      else {
        const entries = lost.get(owner);
        if (entries) entries.push(entry);
        else lost.set(owner, [entry]);
      }
    }
    // A full batch may leave more behind: look again at once. Otherwise after the interval, on from the cursor.
    this.#nextClaimAt = Date.now() + (rows.length >= room ? 0 : source.claimIntervalMs);
    if (own.length === 0 && lost.size === 0) return;
    const known = this.#known();
    for (const entry of own) if (!known.has(entry.entryId)) this.#takeOne(entry.entryId, entry.message);
    for (const [owner, entries] of lost)
      this.#countLost(
        owner,
        entries.filter((entry) => !known.has(entry.entryId)),
      );
  }

  #enter(delivery: RedisDelivery): void {
    delivery.inFlightSlot = this.#inFlight.length;
    this.#inFlight.push(delivery);
  }

  /** Out of the in-flight list (once): the last one takes its place. */
  #leave(delivery: RedisDelivery): void {
    const slot = delivery.inFlightSlot;
    if (slot < 0) return;
    delivery.inFlightSlot = -1;
    const last = this.#inFlight.pop() as RedisDelivery;
    if (last === delivery) return;
    this.#inFlight[slot] = last;
    last.inFlightSlot = slot;
  }

  /** The entry ids of the deliveries in flight (claims only: the hot path never looks an entry up by id). */
  #known(): Set<string> {
    const known = new Set<string>();
    for (const delivery of this.#inFlight) known.add(delivery.entryId);
    return known;
  }

  /**
   * Entries whose lease ran out with `owner`: each attempt counted as failed (the consumer died or stalled while
   * handling it), as a retry copy due at once, carrying that error in its history, and the original acknowledged.
   * The consumer engine dead-letters a message whose attempts are used up without running it again.
   */
  #countLost(owner: string, entries: readonly StreamEntry[]): void {
    const source = this.#source;
    const at = Date.now();
    const ids: string[] = [];
    for (const entry of entries) {
      const delivery = new RedisDelivery(this.#context, entry.entryId, entry.message);
      this.#enter(delivery);
      this.#outstanding++;
      ids.push(delivery.id);
      const error: DeliveryError = {
        attempt: deliveryAttempt(entry.message.headers),
        name: 'ConsumerLost',
        message: `The consumer died while handling it: consumer '${owner}' held it past its lease of ${source.leaseMs} ms without settling it (the process exited or was killed, or stalled longer than the lease)`,
        at,
      };
      delivery.retry(0, error).catch(() => {});
    }
    if (ids.length === 0) return;
    this.#host.warn(
      `Redis: ${ids.length} message(s) of stream '${source.stream}' were held by consumer '${owner}' of group '${source.group}' past their lease of ${source.leaseMs} ms without being settled (the process died or stalled); each attempt is counted as failed and the messages are delivered again (or dead-lettered once their attempts are used up).`,
      undefined,
      {
        warning: 'attempt-lost',
        stream: source.stream,
        group: source.group,
        consumer: owner,
        messageIds: ids.slice(0, 20),
        count: ids.length,
      },
    );
  }

  /**
   * Hands over the entries of an XREADGROUP reply (`[[id, [field, value...]], ...]`) in the stream's order, read
   * straight from the reply: no list or wrapper object per entry.
   */
  #takeReply(entries: Reply | undefined): void {
    if (!Array.isArray(entries)) return;
    for (const entry of entries) {
      if (!Array.isArray(entry) || entry.length < 2) continue;
      const fields = entry[1];
      // An entry deleted while pending comes back without fields (before Redis 7): nothing to deliver.
      if (!Array.isArray(fields)) continue;
      const entryId = entryIdOf(entry[0]);
      this.#takeOne(entryId, fromFields(entryId, fields));
    }
  }

  /**
   * Hands an entry over; after stop() it is released instead. New entries (`>`) are never in flight; a claim of one
   * already in flight (a lease that ran out under a live handler: the claim renewed it) was left out by #claim.
   */
  #takeOne(entryId: string, message: EntryMessage): void {
    const delivery = new RedisDelivery(this.#context, entryId, message);
    this.#enter(delivery);
    this.#outstanding++;
    if (this.#stopped) {
      void delivery.release().catch(() => {});
      return;
    }
    try {
      this.#options.onDelivery(delivery);
    } catch (error) {
      this.#host.warn(
        `Redis: onDelivery threw for message '${delivery.id}' of stream '${this.#source.stream}'; the delivery stays unsettled until the consumer settles it.`,
        error,
        { warning: 'on-delivery-threw', stream: this.#source.stream, messageId: delivery.id },
      );
    }
  }

  async #recreateGroup(error: unknown): Promise<void> {
    this.#host.warn(
      `Redis: the consumer group '${this.#source.group}' of stream '${this.#source.stream}' is gone (was the stream deleted, or the server restarted without persistence?); creating it again.`,
      error,
      { warning: 'group-recreated', stream: this.#source.stream, group: this.#source.group },
    );
    this.#cursor = '-';
    try {
      await ensureGroup(this.#host.connection, this.#source);
    } catch (failure) {
      this.#failed(failure);
      await this.#sleep(this.#host.backoffMs(1));
    }
  }

  /** Runs the move-due script `ms` from now (or sooner, if a run is already due sooner). */
  #scheduleMove(ms: number): void {
    if (this.#stopped) return;
    const at = Date.now() + ms;
    if (this.#moveTimer !== undefined && this.#moveAt <= at) return;
    clearTimeout(this.#moveTimer);
    this.#moveAt = at;
    this.#moveTimer = setTimeout(() => this.#move(), ms);
  }

  #move(): void {
    this.#moveTimer = undefined;
    this.#moveAt = Number.POSITIVE_INFINITY;
    if (this.#stopped || this.#moving) return;
    const source = this.#source;
    const poll = this.#host.schedulePollMs;
    this.#moving = (async () => {
      let next = poll;
      try {
        const [trimKind, trimValue] = trimScriptArguments(source.trim);
        const reply = await SCRIPTS.moveDue.run(
          this.#host.connection,
          [source.scheduledKey, source.stream],
          [String(MOVE_BATCH), trimKind, trimValue],
        );
        const [moved, wait] = Array.isArray(reply) ? reply.map(Number) : [0, -1];
        next = (moved ?? 0) >= MOVE_BATCH ? 0 : wait !== undefined && wait >= 0 ? Math.min(wait, poll) : poll;
      } catch {
        // The server is unreachable (the read loop reports it): try again after the poll interval.
      }
      this.#moving = undefined;
      this.#scheduleMove(next);
    })();
  }

  #failed(error: unknown): void {
    if (this.#down) return;
    this.#down = true;
    this.#host.warn(
      `Redis: reading stream '${this.#source.stream}' (group '${this.#source.group}') failed; trying again with backoff until the server answers.`,
      error,
      { warning: 'read-failed', stream: this.#source.stream, group: this.#source.group },
    );
    try {
      this.#options.events?.disconnected?.(error);
    } catch {
      // A listener's failure must not stop reading.
    }
  }

  #recovered(): void {
    if (!this.#down) return;
    this.#down = false;
    try {
      this.#options.events?.reconnected?.();
    } catch {
      // A listener's failure must not stop reading.
    }
  }

  /** Waits `ms`, or less when the subscription stops. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      void this.#halt.promise.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
