/**
 * One entry read from a stream through a consumer group, settled exactly once (a second settle call rejects with
 * HW_DELIVERY_SETTLED):
 *
 * - ack: XACK (with XDEL when `deleteAcked`), the acks of one turn of the event loop in one command (ack-batcher.ts);
 * - retry: a copy with Hostwork's retry headers added to the scheduled set, due after the delay (or to the stream at
 *   once for no delay), and the original acknowledged, in one script;
 * - deadLetter: a copy with the dead-letter headers added to the dead-letter stream and the original acknowledged, in
 *   one script;
 * - release: a copy as it came added to the stream again (the attempt not counted) and the original acknowledged, in
 *   one script: any consumer reads it again at once;
 * - extend: the entry claimed again by its own consumer (XCLAIM JUSTID), which resets its idle time, so no other
 *   consumer takes it over (its claim) while the handler runs.
 *
 * Settles that fail because the connection was lost are sent again once it is back (each is safe to repeat: see
 * scripts.ts), until the transport closes. A settle that finds the entry claimed by another consumer (its lease ran out)
 * does nothing but warn: that consumer settles it. A settle that fails otherwise (a refusal from the server) leaves the
 * entry pending: it is claimed again once its lease runs out.
 */
import { randomUUID } from 'node:crypto';
import {
  type DeadLetterReason,
  type Delivery,
  type DeliveryError,
  deadLetterHeaders,
  deliveryAttempt,
  ErrorCodes,
  type Headers,
  HostworkError,
  retryHeaders,
} from 'hostwork';
import type { RedisArgument } from 'redis';
import type { AckBatcher } from './ack-batcher.ts';
import type { RedisConnection } from './connection.ts';
import { type EntryMessage, toFields, trimScriptArguments } from './fields.ts';
import type { ResolvedStream } from './redis-transport-options.ts';
import { SCRIPTS } from './scripts.ts';
import type { WarningListener } from './warnings.ts';

/** What a delivery needs of its subscription and transport. */
export interface DeliveryContext {
  readonly source: ResolvedStream;
  readonly consumer: string;
  readonly warn: WarningListener;
  /** The command connection. */
  readonly connection: RedisConnection;
  /** The subscription's acks, sent together per turn of the event loop. */
  readonly acks: AckBatcher<RedisDelivery>;
  /** Called once, when the delivery is settled (the subscription frees its slot). */
  settled(delivery: RedisDelivery): void;
  /** Called once the settle call has reached the server (or given up). */
  finished(delivery: RedisDelivery): void;
  /** A retry copy waits in the scheduled set for `delayMs`: the subscription moves it back when due. */
  scheduled(delayMs: number): void;
  /**
   * Runs `command` until it succeeds, trying again after a lost connection (with backoff, while the transport is open),
   * as a pending operation close() waits for; `onDone` runs when it ended, either way. `what` names it in a warning.
   */
  persist(what: () => string, command: () => Promise<unknown>, onDone?: () => void): Promise<void>;
}

type Settlement = 'ack' | 'retry' | 'deadLetter' | 'release';

/** A Redis Streams delivery; see the module's comment. */
export class RedisDelivery implements Delivery {
  readonly id: string;
  readonly body: Uint8Array;
  readonly headers: Headers;
  readonly attempt: number;
  readonly key?: string;
  /** The lease: how long the entry may stay idle before another consumer claims it. */
  readonly lockMs: number;
  /** The entry's id in the stream. */
  readonly entryId: string;
  /** Its place in the subscription's in-flight list, -1 once out of it (the subscription's bookkeeping). */
  inFlightSlot = -1;
  readonly #context: DeliveryContext;
  #settledBy: Settlement | undefined;
  /** Runs of the settle script (a run after a lost connection finds the work done: 0 is no news then). */
  #copies = 0;

  constructor(context: DeliveryContext, entryId: string, message: EntryMessage) {
    this.#context = context;
    this.entryId = entryId;
    this.id = message.id;
    this.body = message.body;
    this.headers = message.headers;
    this.attempt = deliveryAttempt(this.headers);
    if (message.key !== undefined) this.key = message.key;
    this.lockMs = context.source.leaseMs;
  }

  /** Whether a settle call was made. */
  get settled(): boolean {
    return this.#settledBy !== undefined;
  }

  ack(): Promise<void> {
    if (this.#settledBy !== undefined) return this.#refuse('ack');
    this.#settledBy = 'ack';
    this.#context.settled(this);
    // Batched with the other acks of this turn, sent again after a lost connection, tracked for close() there.
    return this.#context.acks.ack(this);
  }

  retry(delayMs: number, error: DeliveryError): Promise<void> {
    return this.#settle('retry', async () => {
      const { source } = this.#context;
      const headers = retryHeaders(this.headers, error);
      const delay = Math.max(0, Math.ceil(delayMs));
      const result =
        delay > 0
          ? await this.#copy('retry', source.scheduledKey, headers, { schedule: delay })
          : await this.#copy('retry', source.stream, headers, { trim: true });
      if (result === 1 && delay > 0) this.#context.scheduled(delay);
    });
  }

  deadLetter(reason: DeadLetterReason, errors: readonly DeliveryError[]): Promise<void> {
    return this.#settle('deadLetter', async () => {
      const headers = deadLetterHeaders(this.headers, reason, errors);
      await this.#copy('deadLetter', this.#context.source.deadLetterStream, headers, {});
    });
  }

  release(): Promise<void> {
    return this.#settle('release', async () => {
      await this.#copy('release', this.#context.source.stream, this.headers, { trim: true });
    });
  }

  async extend(ms: number): Promise<void> {
    if (this.#settledBy !== undefined) return;
    const { connection, source, consumer } = this.#context;
    // The lease is the idle time other consumers wait for: an idle time of (lease - ms) ends it `ms` from now.
    const idle = Math.max(0, source.leaseMs - Math.ceil(ms));
    const result = await SCRIPTS.extend.run(
      connection,
      [source.stream],
      [source.group, consumer, this.entryId, String(idle)],
    );
    // 0 while unsettled: another consumer claimed it and counted the attempt as lost (the copy is on its way).
    if (result === -1 || (result === 0 && this.#settledBy === undefined)) this.#leaseLost('extend');
  }

  /**
   * Adds a copy with `headers` to `target` (a stream, or the scheduled set with a delay) and acknowledges the original,
   * in one script. Resolves to the script's answer: 1 done, 0 not pending any more (settled by an earlier run whose
   * reply was lost; on the first run: taken over by another consumer, which counted the attempt as lost), -1 claimed by
   * another consumer.
   */
  async #copy(
    how: Settlement,
    target: string,
    headers: Headers,
    options: { readonly schedule?: number; readonly trim?: boolean },
  ): Promise<number> {
    const { connection, source, consumer } = this.#context;
    const fields = toFields({ id: this.id, body: this.body, headers, key: this.key }, `stream '${target}'`);
    const [trimKind, trimValue] = options.trim ? trimScriptArguments(source.trim) : ['none', '0'];
    const args: RedisArgument[] = [
      source.group,
      consumer,
      this.entryId,
      options.schedule === undefined ? 'stream' : 'schedule',
      String(options.schedule ?? 0),
      trimKind,
      trimValue,
      source.deleteAcked ? '1' : '0',
      // The scheduled set's member must be unique: two retries of equal messages are two members.
      `${this.entryId}/${randomUUID()}`,
      ...fields,
    ];
    const first = ++this.#copies === 1;
    const result = Number(await SCRIPTS.settleWithCopy.run(connection, [source.stream, target], args));
    if (result === -1 || (result === 0 && first)) this.#leaseLost(how);
    return result;
  }

  #leaseLost(how: string): void {
    const { source, consumer } = this.#context;
    this.#context.warn(
      `Redis: message '${this.id}' (entry ${this.entryId} of stream '${source.stream}') was claimed by another consumer of group '${source.group}' after its lease of ${source.leaseMs} ms ran out (or trimmed from the stream meanwhile); ${how}() left it to that consumer.`,
      undefined,
      {
        warning: 'lease-lost',
        stream: source.stream,
        group: source.group,
        consumer,
        messageId: this.id,
        entryId: this.entryId,
        settle: how,
      },
    );
  }

  #refuse(how: Settlement): Promise<never> {
    return Promise.reject(
      new HostworkError(
        ErrorCodes.DELIVERY_SETTLED,
        `Redis: message '${this.id}' (entry ${this.entryId} of stream '${this.#context.source.stream}') was already settled by ${this.#settledBy}(); ${how}() cannot settle it again. Settle each delivery once.`,
      ),
    );
  }

  #settle(how: Settlement, run: () => Promise<unknown>): Promise<void> {
    if (this.#settledBy !== undefined) return this.#refuse(how);
    this.#settledBy = how;
    this.#context.settled(this);
    return this.#context.persist(
      () => `${how} of message '${this.id}'`,
      run,
      () => this.#context.finished(this),
    );
  }
}
