/**
 * One subscription: a member of the source's consumer group reading the source topic and its retry topic.
 *
 * - Membership (join, sync, heartbeats) is the client's, on its own timers: a long handler never delays a heartbeat.
 * - Fetching is this class's own loop (one fetch in flight per broker), so a partition can be left out of fetches
 *   (its read-ahead is full, or a retry partition's head is not due yet) without pausing the others.
 * - Records are handed over under the ordering rule (see `PartitionState.next`), at most `prefetch` unsettled.
 * - Offsets are committed off the handler's path: settles mark records done, a commit every `commitIntervalMs` sends
 *   each partition's lowest unfinished offset, and a settle's promise resolves once a commit covers its record.
 * - Before every rejoin (a rebalance: the client calls the `protocolsMetadata` hook before its JoinGroup), the
 *   read-ahead is dropped, running handlers get up to `drainTimeoutMs` to settle, and what settled is committed. After
 *   the assignment, partitions kept keep their state; partitions lost are revoked: a handler still running on one
 *   settles with an error (no copy produced, nothing committed) and the partition's new owner reads the record again.
 */
import { ConnectionPool, Consumer, ListOffsetTimestamps } from '@platformatic/kafka';
import { type ConsumerLag, ErrorCodes, HostworkError, type SubscribeOptions } from 'hostwork';
import { settlesWithin } from './bounded.ts';
import { KafkaDelivery, type SettleTarget } from './kafka-delivery.ts';
import type { ResolvedOptions, ResolvedSource } from './kafka-transport-options.ts';
import { groupLag } from './lag.ts';
import { type Entry, PartitionState, READ_AHEAD_TOTAL } from './partition-state.ts';
import { type FetchedRecord, readRecord } from './records.ts';
import type { WarningListener } from './warnings.ts';

/** What a subscription needs of its transport. */
export interface SubscriptionContext {
  readonly options: ResolvedOptions;
  readonly source: ResolvedSource;
  /** Produces a copy (retry or dead letter), resolving once the broker has it. */
  produceCopy(
    entry: Entry,
    topic: string,
    headers: Readonly<Record<string, string>>,
    notBefore?: number,
  ): Promise<void>;
  readonly warn: WarningListener;
}

/** Kafka error codes a fetch answers per partition that this loop handles. */
const OFFSET_OUT_OF_RANGE = 1;
/** Control records (transaction markers) are never handed over. */
const IS_CONTROL = 0b100000;

/** How long the fetch loop trusts the metadata it read (leaders); a failed fetch reads it again at once. */
const METADATA_MAX_AGE_MS = 30_000;

/** What the fetch loop reads of the cluster metadata. */
type Metadata = Awaited<ReturnType<Consumer['metadata']>>;

const key = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/** A Kafka client error's fields this loop reads. */
interface ClientError {
  readonly apiId?: string;
  readonly needsRejoin?: boolean;
  readonly response?: unknown;
  readonly errors?: readonly unknown[];
}

/** Whether `error` (or one it aggregates) says the group moved on (rebalance, new generation, evicted member). */
function isGroupError(error: unknown): boolean {
  const e = error as ClientError | null;
  if (typeof e !== 'object' || e === null) return false;
  if (e.needsRejoin === true) return true;
  return Array.isArray(e.errors) && e.errors.some(isGroupError);
}

/** The partitions a fetch error reports OFFSET_OUT_OF_RANGE for, as topic id and partition. */
function outOfRange(error: unknown): Array<{ topicId: string; partition: number }> {
  const found: Array<{ topicId: string; partition: number }> = [];
  const visit = (e: unknown) => {
    const err = e as ClientError | null;
    if (typeof err !== 'object' || err === null) return;
    const response = err.response as
      | {
          responses?: Array<{
            topicId: string;
            partitions: Array<{ partitionIndex: number; errorCode: number }>;
          }>;
        }
      | undefined;
    for (const topic of response?.responses ?? [])
      for (const p of topic.partitions)
        if (p.errorCode === OFFSET_OUT_OF_RANGE)
          found.push({ topicId: topic.topicId, partition: p.partitionIndex });
    if (Array.isArray(err.errors)) for (const inner of err.errors) visit(inner);
  };
  visit(error);
  return found;
}

/** How many brokers lead partitions of `topics` (a fetch in flight to each means there is none to start). */
function leaderCount(metadata: Metadata, topics: readonly string[]): number {
  const leaders = new Set<number>();
  for (const topic of topics)
    for (const p of metadata.topics.get(topic)?.partitions ?? [])
      if (p && p.leader >= 0) leaders.add(p.leader);
  return leaders.size;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A running subscription (see the file comment). */
export class KafkaSubscription implements SettleTarget {
  /** The topics and group it reads. */
  get source(): ResolvedSource {
    return this.#context.source;
  }

  /** The group's lag on the source topic, read on this subscription's client (see lag.ts). */
  lag(): Promise<ConsumerLag> {
    return groupLag(this.#consumer, this.#context.source, this.#context.options.startFrom);
  }

  readonly #context: SubscriptionContext;
  readonly #subscribe: SubscribeOptions;
  readonly #consumer: Consumer;
  /**
   * Fetches go over connections of their own: a broker answers a connection's requests in order, so a long-polling
   * fetch would hold a commit or a heartbeat to the same broker back for up to `fetchMaxWaitMs`.
   */
  readonly #fetchPool: ConnectionPool;
  readonly #partitions = new Map<string, PartitionState>();
  /** Partitions of the last assignment, in a stable order: handing over goes round them. */
  #order: PartitionState[] = [];
  #cursor = 0;
  #unsettled = 0;
  /**
   * Records fetched and not handed over, over the source topic's partitions (the sum of their queues); a retry
   * partition's records may wait for their time, so they count against its own read-ahead only.
   */
  #queued = 0;
  #pumpScheduled = false;
  #stopped = false;
  #closed = false;
  /** Set from the rebalance hook until the next assignment: nothing is fetched or handed over meanwhile. */
  #rebalancing = false;
  /** Whether the member has had its first assignment (the hook has nothing to drain before it). */
  #joined = false;
  /** Brokers with a fetch in flight. */
  readonly #fetching = new Set<number>();
  #fetchBackoffMs = 0;
  /** The cluster metadata the fetch loop last read (leaders of the partitions). */
  #metadata: { value: Metadata; at: number; leaders: number } | undefined;
  #fetchRetry: NodeJS.Timeout | undefined;
  #wake: NodeJS.Timeout | undefined;
  #wakeAt = 0;
  #commitTimer: NodeJS.Timeout | undefined;
  #committing: Promise<void> | undefined;
  #commitAgain = false;
  #commitBackoffMs = 0;
  /** Assignments are applied one after the other (each reads committed offsets). */
  #assigning: Promise<void> = Promise.resolve();
  #rejoining: Promise<void> | undefined;
  /** Set while a rebalance announced by a commit's answer has not come yet. */
  #rebalanceWatch: NodeJS.Timeout | undefined;
  /** Set while the connection is lost (a fetch failing): `reconnected` is reported once it works again. */
  #lost = false;
  /** Resolved when a running entry settles; created only while the rebalance drain waits (not one per settle). */
  #settledSignal: PromiseWithResolvers<void> | undefined;
  /** Settles under way (copies being produced), awaited by close. */
  readonly #operations = new Set<Promise<unknown>>();

  constructor(context: SubscriptionContext, subscribe: SubscribeOptions) {
    this.#context = context;
    this.#subscribe = subscribe;
    const { options, source } = context;
    this.#consumer = new Consumer({
      clientId: options.clientId,
      bootstrapBrokers: [...options.brokers],
      groupId: source.group,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: options.heartbeatIntervalMs,
      rebalanceTimeout: options.rebalanceTimeoutMs,
      autocommit: false,
      // This class retries with its own backoff: a client retry of a commit would rejoin the group by itself.
      retries: 0,
      timeout: 10_000,
      // The group leader reads the metadata before it computes the assignment: with no cache, that is a round trip,
      // which lets the followers' SyncGroup reach the coordinator first. librdkafka's mock coordinator refuses a
      // follower's SyncGroup that comes after the leader's (a real broker answers it with the assignment). This
      // loop's own metadata reads pass their own age.
      metadataMaxAge: 0,
    });
    this.#fetchPool = new ConnectionPool(`${options.clientId}-fetch`, { connectTimeout: 10_000 });
    // The client reports a failed rejoin (after a rebalance or an eviction) as an 'error' event.
    this.#consumer.on('error', (error: unknown) => this.#membershipLost(error));
    this.#consumer.on('consumer:group:join', (payload) => {
      this.#assigning = this.#assigning.then(() => this.#assigned(payload.assignments ?? []));
    });
  }

  /** Joins the group; resolves after the first assignment is applied. */
  async start(): Promise<void> {
    const { source } = this.#context;
    this.#consumer.topics.trackAll(source.topic, source.retryTopic);
    try {
      // A JoinGroup or SyncGroup answered "rebalance in progress" (another member joining, a dead one evicted) is
      // tried again at once; anything else a few times with backoff before subscribe fails.
      let wait = this.#context.options.reconnectMinMs;
      for (let attempt = 1; ; attempt++) {
        try {
          await this.#join();
          break;
        } catch (error) {
          // Any join failure is tried again (the mock refuses a late follower's SyncGroup as an invalid request).
          if (attempt >= 10) throw error;
          if (!isGroupError(error)) {
            await new Promise((r) => setTimeout(r, wait));
            wait = Math.min(wait * 2, this.#context.options.reconnectMaxMs);
          }
        }
      }
      await this.#assigning;
    } catch (error) {
      await this.#consumer.close(true).catch(() => {});
      await this.#fetchPool.close().catch(() => {});
      throw new HostworkError(
        ErrorCodes.TRANSPORT_FAILED,
        `kafkaTransport: joining group ${source.group} for topics ${source.topic} and ${source.retryTopic} failed: ${message(error)}`,
        { cause: error },
      );
    }
  }

  #join(): Promise<string> {
    const { options } = this.#context;
    return this.#consumer.joinGroup({
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: options.heartbeatIntervalMs,
      rebalanceTimeout: options.rebalanceTimeoutMs,
      protocolsMetadata: () => this.#beforeJoin(),
    });
  }

  /** The rebalance hook, run before every JoinGroup: drain within the bound, commit, then let the join go on. */
  async #beforeJoin(): Promise<Buffer> {
    if (!this.#joined) return Buffer.alloc(0);
    this.#rebalancing = true;
    this.#clearTimers();
    for (const state of this.#order) state.dropQueue();
    this.#queued = 0;
    const deadline = Date.now() + this.#context.options.drainTimeoutMs;
    while (this.#runningCount() > 0 && Date.now() < deadline) {
      const left = deadline - Date.now();
      let timer: NodeJS.Timeout | undefined;
      this.#settledSignal ??= Promise.withResolvers<void>();
      await Promise.race([
        this.#settledSignal.promise,
        new Promise<void>((r) => {
          timer = setTimeout(r, left);
        }),
      ]);
      clearTimeout(timer);
    }
    const running = this.#runningCount();
    if (running > 0)
      this.#context.warn(
        `kafka: ${running} handler(s) of group ${this.#context.source.group} still running after the ${this.#context.options.drainTimeoutMs} ms drain of a rebalance; if their partitions move, their records are read again by the new owner.`,
        undefined,
        { warning: 'partitions-revoked', group: this.#context.source.group, running },
      );
    // Best effort: a broker accepts commits of the old generation while the group prepares the rebalance (the mock
    // cluster refuses them; they are committed after the assignment when the partitions stay).
    await this.#commit(true).catch(() => {});
    return Buffer.alloc(0);
  }

  /**
   * The coordinator answered a commit with a rebalance in progress (or a generation this member no longer has): hand
   * nothing more over, since what is finished now cannot be committed before the rebalance; the client rejoins at
   * its next heartbeat. Should no assignment follow within the rebalance timeout, join again.
   */
  #rebalanceComing(error: unknown): void {
    if (this.#rebalancing || this.#closed) return;
    this.#rebalancing = true;
    this.#clearTimers();
    clearTimeout(this.#rebalanceWatch);
    this.#rebalanceWatch = setTimeout(() => {
      this.#rebalanceWatch = undefined;
      if (!this.#closed) this.#membershipLost(error);
    }, this.#context.options.rebalanceTimeoutMs);
  }

  #runningCount(): number {
    let running = 0;
    for (const state of this.#order) running += state.running;
    return running;
  }

  /** A new assignment: revoke partitions lost, read the committed offsets of the others, start again. */
  async #assigned(
    assignments: ReadonlyArray<{ topic: string; partitions: readonly number[] }>,
  ): Promise<void> {
    if (this.#closed) return;
    const { source, options } = this.#context;
    const wanted = new Map<string, { topic: string; partition: number }>();
    for (const a of assignments)
      for (const partition of a.partitions)
        wanted.set(key(a.topic, partition), { topic: a.topic, partition });
    const committed = new Map<string, bigint>();
    if (wanted.size > 0) {
      const byTopic = new Map<string, number[]>();
      for (const { topic, partition } of wanted.values())
        byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition]);
      try {
        const offsets = await this.#consumer.listCommittedOffsets({
          topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
        });
        for (const [topic, list] of offsets)
          list.forEach((offset, partition) => {
            if (offset >= 0n) committed.set(key(topic, partition), offset);
          });
      } catch (error) {
        // Without the committed offsets nothing can be read safely: lose the membership and join again.
        this.#membershipLost(error);
        return;
      }
    }
    for (const [k, state] of this.#partitions) {
      const offset = committed.get(k);
      // Kept, unless another member committed past it meanwhile (this member was evicted in between).
      if (
        wanted.has(k) &&
        (offset === undefined || state.committed === undefined || offset <= state.committed)
      )
        continue;
      this.#revoke(state, wanted.has(k) ? 'read by another member meanwhile' : 'assigned to another member');
    }
    const missing = [...wanted].filter(([k]) => !this.#partitions.has(k) && !committed.has(k));
    const starts = new Map<string, bigint>();
    if (missing.length > 0) {
      const byTopic = new Map<string, number[]>();
      for (const [, { topic, partition }] of missing)
        byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition]);
      try {
        const offsets = await this.#consumer.listOffsets({
          topics: [...byTopic.keys()],
          partitions: Object.fromEntries(byTopic),
          timestamp:
            options.startFrom === 'earliest' ? ListOffsetTimestamps.EARLIEST : ListOffsetTimestamps.LATEST,
        });
        for (const [topic, list] of offsets)
          list.forEach((offset, partition) => {
            starts.set(key(topic, partition), offset);
          });
      } catch (error) {
        this.#membershipLost(error);
        return;
      }
    }
    for (const [k, { topic, partition }] of wanted) {
      if (this.#partitions.has(k)) continue;
      const from = committed.get(k) ?? starts.get(k) ?? 0n;
      this.#partitions.set(
        k,
        new PartitionState(topic, partition, topic === source.retryTopic, from, committed.get(k)),
      );
    }
    this.#order = [...this.#partitions.values()];
    clearTimeout(this.#rebalanceWatch);
    this.#rebalanceWatch = undefined;
    this.#joined = true;
    this.#rebalancing = false;
    this.#scheduleCommit();
    this.#pump();
  }

  #revoke(state: PartitionState, why: string): void {
    const { source } = this.#context;
    state.revoke(
      new HostworkError(
        ErrorCodes.TRANSPORT_FAILED,
        `kafka: partition ${state.topic}/${state.partition} of group ${source.group} was ${why} before this record's offset was committed; the partition's owner reads it again.`,
      ),
    );
    this.#partitions.delete(key(state.topic, state.partition));
    this.#order = this.#order.filter((s) => s !== state);
    this.#queued = 0;
    for (const s of this.#order) if (!s.retry) this.#queued += s.queue.length;
  }

  /**
   * A rejoin failed (the client gives up on its first error) or the committed offsets could not be read: stop reading
   * and join again with backoff. Partitions are not revoked yet: the next assignment decides which stay (and whether
   * another member read them meanwhile).
   */
  #membershipLost(error: unknown): void {
    if (this.#closed) return;
    if (!isGroupError(error))
      this.#context.warn(
        `kafka: group ${this.#context.source.group} membership lost; joining again.`,
        error,
        {
          warning: 'join-failed',
          group: this.#context.source.group,
        },
      );
    this.#rebalancing = true;
    this.#clearTimers();
    this.#rejoin();
  }

  #rejoin(): void {
    if (this.#rejoining || this.#closed) return;
    this.#rejoining = (async () => {
      let wait = this.#context.options.reconnectMinMs;
      while (!this.#closed) {
        try {
          await this.#join();
          return;
        } catch (error) {
          if (this.#closed) return;
          // Another rebalance round: join again soon, without a warning.
          if (isGroupError(error)) {
            await new Promise((r) => setTimeout(r, this.#context.options.reconnectMinMs));
            continue;
          }
          this.#context.warn(
            `kafka: joining group ${this.#context.source.group} failed; trying again.`,
            error,
            {
              warning: 'join-failed',
              group: this.#context.source.group,
            },
          );
          await new Promise((r) => setTimeout(r, wait));
          wait = Math.min(wait * 2, this.#context.options.reconnectMaxMs);
        }
      }
    })().finally(() => {
      this.#rejoining = undefined;
    });
  }

  /**
   * A pump after a settle, on a microtask, once however many settles come: a handler that finishes synchronously
   * settles inside `onDelivery`, and pumping there would nest one stack frame deeper per message.
   */
  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  /** Hands over what may start, then fetches what is wanted. */
  #pump(): void {
    if (this.#stopped || this.#rebalancing || this.#closed) return;
    this.#dispatch();
    this.#fetch();
  }

  #dispatch(): void {
    const { prefetch } = this.#subscribe;
    const ordering = this.#context.source.ordering;
    const now = Date.now();
    let waitUntil = Number.POSITIVE_INFINITY;
    let idle = 0;
    // Round the partitions, one record each turn, until the prefetch is full or no partition has one that may start.
    while (this.#unsettled < prefetch && this.#order.length > 0 && idle < this.#order.length) {
      const state = this.#order[this.#cursor % this.#order.length]!;
      this.#cursor = (this.#cursor + 1) % this.#order.length;
      const next = state.next(ordering, now);
      if (next === undefined || next.index === undefined) {
        if (next?.waitUntil !== undefined) waitUntil = Math.min(waitUntil, next.waitUntil);
        idle++;
        continue;
      }
      idle = 0;
      const entry = state.take(next.index);
      this.#unsettled++;
      if (!state.retry) this.#queued--;
      this.#subscribe.onDelivery(new KafkaDelivery(this, entry));
      if (this.#stopped || this.#rebalancing) return;
    }
    // A retry partition's head not due yet: its partition waits (no fetch, nothing handed over) until then.
    if (waitUntil !== Number.POSITIVE_INFINITY && (this.#wake === undefined || waitUntil < this.#wakeAt)) {
      clearTimeout(this.#wake);
      this.#wakeAt = waitUntil;
      this.#wake = setTimeout(
        () => {
          this.#wake = undefined;
          this.#pump();
        },
        Math.max(0, waitUntil - Date.now()),
      );
    }
  }

  #fetch(): void {
    if (this.#fetchRetry !== undefined) return;
    // The leaders are read again after METADATA_MAX_AGE_MS or a failed fetch; in between, no promise per pump.
    const cached = this.#metadata;
    const fresh = cached !== undefined && performance.now() - cached.at < METADATA_MAX_AGE_MS;
    // Every leader has a fetch in flight (the usual case on a pump after a settle): nothing to start, and no pass
    // over the partitions per settle; the answer pumps again.
    if (fresh && this.#fetching.size > 0 && this.#fetching.size >= cached.leaders) return;
    // Enough read ahead: no fetch while the consumer is busy. Should nothing queued be able to start (its
    // partitions' or keys' records are running) while the prefetch has room, partitions with nothing queued are
    // fetched still, so a few slow handlers never keep the other partitions waiting.
    const { prefetch } = this.#subscribe;
    const full = this.#queued >= Math.max(READ_AHEAD_TOTAL, 4 * prefetch);
    if (full && this.#unsettled >= prefetch) return;
    const wanted = this.#order.filter((s) => s.wantsRecords && !s.revoked && (!full || s.queue.length === 0));
    if (wanted.length === 0) return;
    if (fresh) {
      this.#fetchWanted(wanted, cached.value);
      return;
    }
    const topics = [this.#context.source.topic, this.#context.source.retryTopic];
    this.#consumer.metadata({ topics, metadataMaxAge: METADATA_MAX_AGE_MS }).then(
      (metadata) => {
        this.#metadata = { value: metadata, at: performance.now(), leaders: leaderCount(metadata, topics) };
        if (this.#stopped || this.#rebalancing || this.#closed) return;
        this.#fetchWanted(wanted, metadata);
      },
      (error: unknown) => this.#fetchFailed(error),
    );
  }

  #fetchWanted(wanted: readonly PartitionState[], metadata: Metadata): void {
    const byNode = new Map<number, PartitionState[]>();
    for (const state of wanted) {
      if (state.revoked) continue;
      const leader = metadata.topics.get(state.topic)?.partitions[state.partition]?.leader;
      if (leader === undefined || leader < 0 || this.#fetching.has(leader)) continue;
      const list = byNode.get(leader);
      if (list) list.push(state);
      else byNode.set(leader, [state]);
    }
    for (const [node, states] of byNode) this.#fetchFrom(node, states, metadata);
  }

  #fetchFrom(node: number, states: readonly PartitionState[], metadata: Metadata): void {
    const { options } = this.#context;
    const idToTopic = new Map<string, string>();
    const byTopic = new Map<string, PartitionState[]>();
    for (const state of states) {
      const id = metadata.topics.get(state.topic)?.id ?? state.topic;
      idToTopic.set(id, state.topic);
      const list = byTopic.get(id);
      if (list) list.push(state);
      else byTopic.set(id, [state]);
    }
    const requested = new Map(
      states.map((s) => [key(s.topic, s.partition), { state: s, offset: s.position }]),
    );
    this.#fetching.add(node);
    this.#consumer
      .fetch({
        node,
        maxWaitTime: options.fetchMaxWaitMs,
        minBytes: 1,
        connectionPool: this.#fetchPool,
        maxBytes: options.fetchMaxBytesPerPartition * states.length,
        topics: [...byTopic].map(([topicId, list]) => ({
          topicId,
          partitions: list.map((s) => ({
            partition: s.partition,
            fetchOffset: s.position,
            partitionMaxBytes: options.fetchMaxBytesPerPartition,
            currentLeaderEpoch: -1,
            lastFetchedEpoch: -1,
          })),
        })),
      })
      .then(
        (response) => {
          this.#fetching.delete(node);
          this.#fetchWorked();
          for (const topicResponse of response.responses) {
            const topic = idToTopic.get(topicResponse.topicId) ?? topicResponse.topicId;
            for (const p of topicResponse.partitions) {
              const asked = requested.get(key(topic, p.partitionIndex));
              // A partition revoked, or moved by a rebalance or a stop, since the request: its records are stale.
              if (asked === undefined || asked.state.revoked || asked.state.position !== asked.offset)
                continue;
              if (this.#partitions.get(key(topic, p.partitionIndex)) !== asked.state) continue;
              const records: FetchedRecord[] = [];
              let next = asked.offset;
              for (const batch of p.records ?? []) {
                const last = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n;
                if (last > next) next = last;
                if (batch.attributes & IS_CONTROL) continue;
                for (const record of batch.records)
                  records.push(
                    readRecord(
                      topic,
                      p.partitionIndex,
                      batch.firstOffset + BigInt(record.offsetDelta),
                      record,
                    ),
                  );
              }
              if (!this.#stopped && !this.#rebalancing) {
                const added = asked.state.append(records, next);
                if (!asked.state.retry) this.#queued += added;
              }
            }
          }
          this.#pump();
        },
        (error: unknown) => {
          this.#fetching.delete(node);
          this.#fetchFailed(error, requested);
        },
      );
  }

  #fetchWorked(): void {
    this.#fetchBackoffMs = 0;
    if (this.#lost) {
      this.#lost = false;
      this.#context.warn(`kafka: group ${this.#context.source.group} is fetching again.`, undefined, {
        warning: 'reconnected',
        group: this.#context.source.group,
      });
      this.#subscribe.events?.reconnected?.();
    }
  }

  #fetchFailed(error: unknown, requested?: Map<string, { state: PartitionState; offset: bigint }>): void {
    if (this.#stopped || this.#closed) return;
    const { options, source } = this.#context;
    const reset = outOfRange(error);
    if (reset.length > 0 && requested) {
      void this.#resetOutOfRange(reset, requested);
      return;
    }
    if (!this.#lost && !isGroupError(error)) {
      this.#lost = true;
      this.#context.warn(
        `kafka: fetching for group ${source.group} failed; trying again with backoff.`,
        error,
        {
          warning: 'connection-lost',
          group: source.group,
        },
      );
      this.#subscribe.events?.disconnected?.(error);
    }
    this.#fetchBackoffMs = Math.min(
      Math.max(options.reconnectMinMs, this.#fetchBackoffMs * 2),
      options.reconnectMaxMs,
    );
    this.#metadata = undefined;
    this.#fetchRetry = setTimeout(() => {
      this.#fetchRetry = undefined;
      // Leaders may have moved: read the metadata again before the next fetch.
      this.#consumer
        .metadata({ topics: [source.topic, source.retryTopic], forceUpdate: true })
        .catch(() => {})
        .finally(() => this.#pump());
    }, this.#fetchBackoffMs);
  }

  /** Offsets out of range (the log was truncated past them): start again from `startFrom`. */
  async #resetOutOfRange(
    reset: ReadonlyArray<{ topicId: string; partition: number }>,
    requested: Map<string, { state: PartitionState; offset: bigint }>,
  ): Promise<void> {
    const states = [...requested.values()]
      .map((r) => r.state)
      .filter((s) => reset.some((r) => r.partition === s.partition));
    try {
      const topics = [...new Set(states.map((s) => s.topic))];
      const offsets = await this.#consumer.listOffsets({
        topics,
        timestamp:
          this.#context.options.startFrom === 'earliest'
            ? ListOffsetTimestamps.EARLIEST
            : ListOffsetTimestamps.LATEST,
      });
      for (const state of states) {
        const offset = offsets.get(state.topic)?.[state.partition];
        if (offset !== undefined && offset >= 0n) state.position = offset;
      }
      this.#pump();
    } catch (error) {
      this.#fetchFailed(error);
    }
  }

  // SettleTarget: what deliveries call.

  settling(_entry: Entry): void {
    this.#unsettled--;
  }

  complete(entry: Entry): Promise<void> {
    if (entry.orphaned) {
      this.#signalSettled();
      return Promise.reject(this.#orphanError(entry));
    }
    entry.committed = Promise.withResolvers<void>();
    entry.partition.finish(entry, 'done');
    this.#signalSettled();
    this.#scheduleCommit();
    this.#schedulePump();
    return entry.committed.promise;
  }

  async copy(
    entry: Entry,
    kind: 'retry' | 'dead',
    headers: Readonly<Record<string, string>>,
    notBefore?: number,
  ): Promise<void> {
    // A record of a revoked partition is its new owner's now: a copy would be a second life for it.
    if (entry.orphaned) {
      this.#signalSettled();
      throw this.#orphanError(entry);
    }
    const { source } = this.#context;
    const topic = kind === 'retry' ? source.retryTopic : source.deadLetterTopic;
    const operation = this.#context.produceCopy(entry, topic, headers, notBefore);
    this.#operations.add(operation);
    try {
      await operation;
    } catch (error) {
      // Not copied: the record is not done; its offset holds until it is read again.
      entry.partition.finish(entry, 'released');
      this.#signalSettled();
      throw error;
    } finally {
      this.#operations.delete(operation);
    }
  }

  release(entry: Entry): void {
    if (entry.orphaned) {
      this.#signalSettled();
      return;
    }
    // Still reading: hand it over again. Stopped: it holds the commit, so the group's next owner reads it.
    if (!this.#stopped && !this.#rebalancing && !entry.partition.revoked) {
      entry.partition.requeue(entry);
      if (!entry.partition.retry) this.#queued++;
    } else entry.partition.finish(entry, 'released');
    this.#signalSettled();
    this.#schedulePump();
  }

  #orphanError(entry: Entry): HostworkError {
    const { record } = entry;
    return new HostworkError(
      ErrorCodes.TRANSPORT_FAILED,
      `kafka: partition ${record.topic}/${record.partition} was revoked while record ${record.id} (offset ${record.offset}) ran; its new owner reads it again.`,
    );
  }

  #signalSettled(): void {
    this.#settledSignal?.resolve();
    this.#settledSignal = undefined;
  }

  #scheduleCommit(): void {
    if (this.#closed) return;
    if (this.#committing) {
      this.#commitAgain = true;
      return;
    }
    if (this.#commitTimer !== undefined) return;
    this.#commitTimer = setTimeout(() => {
      this.#commitTimer = undefined;
      void this.#commit(false).catch(() => {});
    }, this.#commitBackoffMs || this.#context.options.commitIntervalMs);
  }

  /** Commits every partition's watermark that moved; `rethrow`: the caller handles a failure. */
  #commit(rethrow: boolean): Promise<void> {
    if (this.#committing) {
      this.#commitAgain = true;
      return this.#committing;
    }
    const offsets: Array<{ state: PartitionState; offset: bigint }> = [];
    for (const state of this.#order) {
      if (state.revoked) continue;
      const offset = state.watermark();
      if (state.committed === undefined || offset > state.committed) offsets.push({ state, offset });
      // Nothing to send, but entries before the committed offset may wait (committed by an earlier round).
      else if (state.committed !== undefined) state.committedTo(state.committed);
    }
    if (offsets.length === 0) return Promise.resolve();
    const { source, options } = this.#context;
    this.#committing = this.#consumer
      .commit({
        offsets: offsets.map(({ state, offset }) => ({
          topic: state.topic,
          partition: state.partition,
          offset,
          leaderEpoch: -1,
        })),
      })
      .then(
        () => {
          this.#commitBackoffMs = 0;
          for (const { state, offset } of offsets) if (!state.revoked) state.committedTo(offset);
        },
        (error: unknown) => {
          // During a rebalance the commit waits for the assignment (which schedules one); otherwise back off.
          if (isGroupError(error)) this.#rebalanceComing(error);
          else {
            this.#commitBackoffMs = Math.min(
              Math.max(options.reconnectMinMs, this.#commitBackoffMs * 2),
              options.reconnectMaxMs,
            );
            this.#context.warn(
              `kafka: committing offsets of group ${source.group} failed; trying again.`,
              error,
              {
                warning: 'commit-failed',
                group: source.group,
              },
            );
            this.#commitAgain = true;
          }
          if (rethrow) throw error;
        },
      )
      .finally(() => {
        this.#committing = undefined;
        if (this.#commitAgain && !this.#closed) {
          this.#commitAgain = false;
          this.#scheduleCommit();
        }
      });
    return this.#committing;
  }

  #clearTimers(): void {
    if (this.#closed) {
      clearTimeout(this.#rebalanceWatch);
      this.#rebalanceWatch = undefined;
    }
    clearTimeout(this.#wake);
    this.#wake = undefined;
    clearTimeout(this.#fetchRetry);
    this.#fetchRetry = undefined;
  }

  /** Stops handing over: the read-ahead is dropped (read again by whoever holds the partition next). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#clearTimers();
    for (const state of this.#order) state.dropQueue();
    this.#queued = 0;
  }

  /**
   * Leaves the group: settles under way finish (within `closeTimeoutMs`), the last offsets are committed, settles
   * still waiting for a commit are given up (their records are read again), and the member leaves.
   */
  async close(): Promise<void> {
    await this.stop();
    const { options, source } = this.#context;
    const deadline = Date.now() + options.closeTimeoutMs;
    const within = (p: Promise<unknown>) => settlesWithin(p, deadline - Date.now());
    let finished = await within(Promise.allSettled([...this.#operations]));
    if (finished && !this.#rebalancing) {
      clearTimeout(this.#commitTimer);
      this.#commitTimer = undefined;
      if (this.#committing) await within(this.#committing.catch(() => {}));
      finished = await within(this.#commit(true).catch(() => {}));
    }
    this.#closed = true;
    this.#clearTimers();
    clearTimeout(this.#commitTimer);
    for (const state of [...this.#partitions.values()]) this.#revoke(state, 'closed');
    if (!finished)
      this.#context.warn(
        `kafka: closing group ${source.group} member took longer than ${options.closeTimeoutMs} ms; gave up waiting.`,
        undefined,
        { warning: 'close-timeout', group: source.group },
      );
    // Leaving the group (LeaveGroup) hands the partitions to the others at once rather than after the session.
    const leaveMs = Math.max(2_000, deadline - Date.now());
    const left = await settlesWithin(this.#consumer.close(), leaveMs);
    if (!left) await this.#consumer.close(true).catch(() => {});
    await this.#fetchPool.close().catch(() => {});
  }
}
