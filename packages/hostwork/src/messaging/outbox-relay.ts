import { randomUUID } from 'node:crypto';
import type { HostedService } from '../hosting/hosted-service.ts';
import { type Backoff, backoffDelay } from '../jobs/backoff.ts';
import type { JobStore } from '../jobs/job-store.ts';
import { describeThrown } from '../jobs/thrown-value.ts';
import type { Logger } from '../logging/logger-factory.ts';
import type { MessagingTransports } from './messaging-transports.ts';
import { type ClaimedOutboxMessage, isOutboxStore, type OutboxStore } from './outbox-store.ts';
import type { Destination, OutgoingMessage } from './transport.ts';

/** The relay's settings (`addMessaging({ outbox: { ... } })`), resolved. */
export interface OutboxRelaySettings {
  /** Messages claimed and published per batch; also the bound on duplicates after a relay crash. */
  readonly batchSize: number;
  /** How long a claim holds its messages before another relay may take them (a relay that died). */
  readonly leaseMs: number;
  /** The safety-net poll, in ms, besides the store's wake-up after each append. */
  readonly pollIntervalMs: number;
  /** The delay before publishing again after a failed publish. */
  readonly backoff: Backoff;
  /** Sent messages are deleted after this many ms. */
  readonly keepSentMs: number;
}

/** What the relay needs: the store (if the host has one), the transports, a logger, its settings. */
export interface OutboxRelayEnvironment {
  readonly store: () => JobStore | undefined;
  readonly transports: MessagingTransports;
  readonly log: Logger;
  readonly settings: OutboxRelaySettings;
}

const PRUNE_EVERY_MS = 60_000;
const PRUNE_BATCH = 1_000;

/**
 * The hosted service that publishes the transactional outbox: it claims batches of committed messages (oldest first,
 * a key's messages in order), publishes each through its transport with its original id, marks the batch sent in one
 * statement, and retries failed publishes with the backoff. It wakes on the store's signal after an append and polls
 * as a safety net. On stop it finishes the publish in flight, and hands back every claimed message it did not publish.
 *
 * At-least-once: a relay that dies after publishing and before marking sent leaves its claim to expire; the next
 * claim publishes those messages again, with the same ids. At most one claimed batch (`batchSize`) per crash.
 * Idle in a host without a job store, or with one that keeps no outbox.
 */
export class OutboxRelay implements HostedService {
  readonly #env: OutboxRelayEnvironment;
  readonly #owner = `outbox-relay-${randomUUID()}`;
  #store: (JobStore & OutboxStore) | undefined;
  #loop: Promise<void> | undefined;
  #stopping = false;
  #wakeSoon: (() => void) | undefined;
  #woken = false;
  #unsubscribe: (() => void) | undefined;
  #lastPrune = 0;

  constructor(env: OutboxRelayEnvironment) {
    this.#env = env;
  }

  /** The relay's owner name in the outbox (lease holder), for logs and tests. */
  get owner(): string {
    return this.#owner;
  }

  start(): void {
    const store = this.#env.store();
    if (store === undefined || !isOutboxStore(store)) {
      this.#env.log.debug('The outbox relay is idle: the host has no job store that keeps an outbox');
      return;
    }
    this.#store = store;
    this.#unsubscribe = store.onWake(this.#wake);
    this.#loop = this.#run(store);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake();
    this.#unsubscribe?.();
    await this.#loop;
  }

  #wake = (): void => {
    this.#woken = true;
    this.#wakeSoon?.();
  };

  async #run(store: JobStore & OutboxStore): Promise<void> {
    const { settings, log } = this.#env;
    let failures = 0;
    while (!this.#stopping) {
      let full = false;
      try {
        this.#woken = false;
        const claimedAt = Date.now();
        const claimed = await store.claimOutbox(settings.batchSize, this.#owner, settings.leaseMs, claimedAt);
        if (claimed.length > 0) await this.#publish(store, claimed, claimedAt + settings.leaseMs);
        full = claimed.length >= settings.batchSize;
        failures = 0;
        await this.#maybePrune(store);
      } catch (error) {
        failures++;
        log.error(
          { err: error, owner: this.#owner },
          `The outbox relay could not read the outbox: ${describeThrown(error).message}`,
        );
      }
      if (full || this.#stopping) continue;
      // After a store failure, wait with backoff rather than the poll interval alone.
      const pause =
        failures === 0
          ? settings.pollIntervalMs
          : Math.max(settings.pollIntervalMs, backoffDelay(settings.backoff, failures, undefined));
      if (!this.#woken || failures > 0) await this.#sleep(pause);
    }
  }

  /**
   * Publishes a claimed batch in seq order, in runs of consecutive messages for one transport and destination (one
   * publish call each). After a failed run, later messages of its keys are handed back unpublished, so a key's
   * messages never overtake one another; they wait behind the failed one's retry. Once the claim's lease has run
   * out (a publish that hung), the rest is left alone: another relay may have taken it over.
   */
  async #publish(
    store: OutboxStore,
    claimed: readonly ClaimedOutboxMessage[],
    leaseEnds: number,
  ): Promise<void> {
    const sent: string[] = [];
    const handBack: string[] = [];
    const blockedKeys = new Set<string>();
    const now = Date.now();
    for (const run of runsOf(claimed)) {
      if (Date.now() >= leaseEnds) break;
      if (this.#stopping) {
        handBack.push(...run.map((m) => m.seq));
        continue;
      }
      const publishable = run.filter((m) => m.key === null || !blockedKeys.has(m.key));
      for (const m of run) if (!publishable.includes(m)) handBack.push(m.seq);
      if (publishable.length === 0) continue;
      const first = publishable[0]!;
      try {
        const transport = await this.#env.transports.connected(first.transport, 'The outbox relay');
        const destination = JSON.parse(first.destination) as Destination;
        await transport.publish(
          destination,
          publishable.map((m) => outgoing(m, now)),
        );
        sent.push(...publishable.map((m) => m.seq));
      } catch (error) {
        for (const m of publishable) if (m.key !== null) blockedKeys.add(m.key);
        const attempts = Math.max(...publishable.map((m) => m.attempts)) + 1;
        const delay = backoffDelay(this.#env.settings.backoff, attempts, error);
        const text = describeThrown(error).message;
        this.#env.log.warn(
          {
            err: error,
            transport: first.transport,
            destination: first.destination,
            messages: publishable.length,
          },
          `The outbox relay could not publish ${publishable.length} message(s) to '${first.destination}' through '${first.transport}' (attempt ${attempts}); trying again in ${delay} ms: ${text}`,
        );
        await store.retryOutbox(
          this.#owner,
          publishable.map((m) => m.seq),
          Date.now() + delay,
          text,
        );
      }
    }
    await store.markOutboxSent(sent, Date.now());
    await store.releaseOutbox(this.#owner, handBack);
  }

  async #maybePrune(store: OutboxStore): Promise<void> {
    const now = Date.now();
    if (now - this.#lastPrune < PRUNE_EVERY_MS) return;
    this.#lastPrune = now;
    await store.pruneOutbox(now - this.#env.settings.keepSentMs, PRUNE_BATCH);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wakeSoon = () => {
        this.#wakeSoon = undefined;
        done();
      };
    });
  }
}

/** Consecutive messages for the same transport and destination, in seq order. */
function runsOf(claimed: readonly ClaimedOutboxMessage[]): ClaimedOutboxMessage[][] {
  const runs: ClaimedOutboxMessage[][] = [];
  for (const m of claimed) {
    const last = runs.at(-1);
    const head = last?.[0];
    if (last && head && head.transport === m.transport && head.destination === m.destination) last.push(m);
    else runs.push([m]);
  }
  return runs;
}

/** The message as first given to `send`, with what is left of its delay. */
function outgoing(m: ClaimedOutboxMessage, now: number): OutgoingMessage {
  const delayMs = Math.max(0, m.createdAt + m.delayMs - now);
  return {
    id: m.id,
    body: m.body,
    headers: JSON.parse(m.headers) as Record<string, string>,
    ...(m.key !== null ? { key: m.key } : {}),
    ...(delayMs > 0 ? { delayMs } : {}),
  };
}
