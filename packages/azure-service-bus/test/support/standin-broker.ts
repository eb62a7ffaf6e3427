/**
 * A local AMQP 1.0 peer that stands in for Azure Service Bus in the tests: a STAND-IN, NOT THE SERVICE. It is built on
 * `rhea` and implements exactly what `@azure/service-bus` sends for the operations the adapter uses, as read in the
 * SDK's source: the CBS put-token on `$cbs` (accepted, not checked), sender links to queues and topics (single and
 * batched transfers), peek-lock receiver links on queues, topic subscriptions (`<topic>/Subscriptions/<name>`) and
 * their `$DeadLetterQueue` sub-queues, dispositions (accepted = complete, modified = abandon, rejected with
 * `com.microsoft:dead-letter` = dead letter with `DeadLetterReason`/`DeadLetterErrorDescription` and the properties
 * to modify), credit and drain, and on `<entity>/$management` the operations `com.microsoft:renew-lock`,
 * `com.microsoft:schedule-message`, `com.microsoft:cancel-scheduled-message`, `com.microsoft:update-disposition` and
 * `com.microsoft:peek-message`, and session receivers (`com.microsoft:session-filter`: the session asked for or the next
 * free one, one receiver per session, the session lock's expiry in the link's properties in .NET ticks, renewed with
 * `com.microsoft:renew-session-lock`).
 *
 * Locks work as the service's: the delivery tag is the lock token (a GUID in .NET byte order), a lock runs out after
 * the entity's lock duration unless renewed, and the message then comes back with its delivery count one higher (to
 * the dead-letter sub-queue once it reaches the entity's max delivery count). A lock outlives the connection that
 * took it. Entities are created by the test ({@link StandinBroker.createQueue}...), since the service creates them
 * through its HTTP management API, of which the stand-in serves one read only; an unknown entity is refused as the
 * service refuses it (`amqp:not-found`).
 *
 * The HTTP management API, on a port of its own ({@link StandinBroker.managementEndpoint}, plain http as the
 * emulator's): `GET /<queue>` and `GET /<topic>/Subscriptions/<name>` answer the ATOM entry of the entity's
 * description with its real counts (`CountDetails`: active = available + locked, scheduled, dead letters), which
 * `ServiceBusAdministrationClient.getQueueRuntimeProperties` / `getSubscriptionRuntimeProperties` read; an unknown
 * entity (a topic too) is answered as the service answers an unknown one, 200 with an empty feed. Nothing else (no PUT, no DELETE, no listing:
 * 405), and the `Authorization` token is not checked.
 *
 * What it does not do: TLS, authorisation (any token is accepted), duplicate detection, deferral, rules and filters,
 * transactions, partitioning, message expiry; with no free session it answers at once (the service waits up to the
 * link's timeout). {@link StandinBroker.restart} drops every connection and
 * listens again on the same port keeping every message and lock, as the service keeps them across a gateway restart.
 */
import { randomBytes } from 'node:crypto';
import {
  createServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { Server, Socket } from 'node:net';
import rhea, {
  type Connection,
  type Container,
  type Delivery,
  type EventContext,
  type Message,
  type Receiver,
  type Sender,
} from 'rhea';

/** The accepted outcome, as a disposition's state. */
const ACCEPTED = (): unknown =>
  (rhea.message as unknown as { accepted(): { described(): unknown } }).accepted().described();

/** The rejected outcome carrying `error`, as a disposition's state. */
const REJECTED = (error: { condition: string; description: string }): unknown =>
  (rhea.message as unknown as { rejected(f: unknown): { described(): unknown } })
    .rejected({ error })
    .described();

/** The largest message a sender may send (the Standard tier's 256 KB). */
const MAX_MESSAGE_SIZE = 262_144;

/** The format of a batched transfer: each data section is an encoded message. */
const BATCH_FORMAT = 0x80013700;

/** How an entity keeps and hands out messages. */
export interface EntitySettings {
  /** How long a received message stays locked, in ms. Default 60000 (the service's default). */
  readonly lockDurationMs?: number;
  /** Messages are received through sessions (by `sessionId`), one receiver per session at a time. Default false. */
  readonly requiresSession?: boolean;
  /** After this many deliveries a message goes to the dead-letter sub-queue. Default 10 (the service's default). */
  readonly maxDeliveryCount?: number;
}

/** One message held by an entity. */
interface Stored {
  readonly seq: number;
  readonly message: Message;
  readonly enqueuedAt: number;
  /** Deliveries so far. */
  deliveries: number;
  lock?: { readonly token: string; until: number; timer: NodeJS.Timeout };
}

/** A queue, a subscription or a dead-letter sub-queue. */
class Entity {
  readonly available: Stored[] = [];
  readonly locked = new Map<string, Stored>();
  readonly scheduled = new Map<number, { stored: Stored; timer: NodeJS.Timeout }>();
  readonly consumers: Sender[] = [];
  /** Session entities: the session each consumer holds, and each held session's lock. */
  readonly sessionOf = new Map<Sender, string>();
  readonly sessionLocks = new Map<
    string,
    { readonly sender: Sender; until: number; timer: NodeJS.Timeout }
  >();
  requiresSession = false;
  #next = 0;

  readonly broker: StandinBroker;
  readonly path: string;
  readonly lockDurationMs: number;
  readonly maxDeliveryCount: number;
  readonly deadLetter: Entity | undefined;

  constructor(
    broker: StandinBroker,
    path: string,
    lockDurationMs: number,
    maxDeliveryCount: number,
    deadLetter: Entity | undefined,
  ) {
    this.broker = broker;
    this.path = path;
    this.lockDurationMs = lockDurationMs;
    this.maxDeliveryCount = maxDeliveryCount;
    this.deadLetter = deadLetter;
  }

  enqueue(stored: Stored): void {
    // Kept in sequence order (a lock that ran out puts its message back in its place).
    let i = this.available.length;
    while (i > 0 && (this.available[i - 1] as Stored).seq > stored.seq) i--;
    this.available.splice(i, 0, stored);
    this.dispatch();
  }

  /** Hands available messages to consumers with credit, round robin; completes a drain with nothing left. */
  dispatch(): void {
    const open = this.consumers.filter((s) => s.is_open());
    while (this.available.length > 0) {
      let sent = false;
      for (let k = 0; k < open.length && this.available.length > 0; k++) {
        const sender = open[(this.#next + k) % open.length] as Sender;
        if (creditLeft(sender) < 1) continue;
        const i = this.#nextFor(sender);
        if (i < 0) continue;
        this.#next = (this.#next + k + 1) % open.length;
        this.#send(sender, this.available.splice(i, 1)[0] as Stored);
        sent = true;
        break;
      }
      if (!sent) break;
    }
    for (const sender of open) if (this.#nextFor(sender) < 0) sender.set_drained(true);
  }

  /** The index of the next available message for `sender`: the first, or its session's first. */
  #nextFor(sender: Sender): number {
    if (!this.requiresSession) return this.available.length > 0 ? 0 : -1;
    const session = this.sessionOf.get(sender);
    return this.available.findIndex((s) => s.message.group_id === session);
  }

  /** A session with available messages that no receiver holds. */
  freeSession(): string | undefined {
    for (const s of this.available) {
      const id = s.message.group_id;
      if (id !== undefined && !this.sessionLocks.has(id)) return id;
    }
    return undefined;
  }

  /** Locks session `id` to `sender` for the lock duration; its expiry. */
  lockSession(sender: Sender, id: string): number {
    const until = Date.now() + this.lockDurationMs;
    const timer = setTimeout(() => this.releaseSession(id, true), this.lockDurationMs);
    timer.unref();
    this.sessionLocks.set(id, { sender, until, timer });
    this.sessionOf.set(sender, id);
    return until;
  }

  renewSession(id: string): number | undefined {
    const held = this.sessionLocks.get(id);
    if (!held) return undefined;
    clearTimeout(held.timer);
    held.until = Date.now() + this.lockDurationMs;
    held.timer = setTimeout(() => this.releaseSession(id, true), this.lockDurationMs);
    held.timer.unref();
    return held.until;
  }

  /** Ends a session's lock (its receiver left, or the lock ran out): its locked messages come back. */
  releaseSession(id: string, expired: boolean): void {
    const held = this.sessionLocks.get(id);
    if (!held) return;
    clearTimeout(held.timer);
    this.sessionLocks.delete(id);
    this.sessionOf.delete(held.sender);
    for (const [token, stored] of [...this.locked])
      if (stored.message.group_id === id) this.unlock(token, 'expired');
    if (expired && held.sender.is_open())
      held.sender.close({
        condition: 'com.microsoft:session-lock-lost',
        description: `The session lock of '${id}' ran out (stand-in).`,
      });
  }

  #send(sender: Sender, stored: Stored): void {
    const token = randomBytes(16);
    const tokenText = rhea.uuid_to_string(token);
    // In a session, the session's lock holds the message (it comes back when the session is released).
    const ms = this.requiresSession ? 2_147_483_647 : this.lockDurationMs;
    const until = this.requiresSession
      ? (this.sessionLocks.get(String(stored.message.group_id))?.until ?? Date.now())
      : Date.now() + ms;
    stored.lock = { token: tokenText, until, timer: this.#lockTimer(tokenText, ms) };
    this.locked.set(tokenText, stored);
    stored.deliveries++;
    const delivery = sender.send(this.broker.outgoing(stored, until), dotNetOrder(token));
    const waiting = queued.get(sender) ?? [];
    waiting.push(delivery as unknown as { id: number });
    queued.set(sender, waiting);
  }

  #lockTimer(token: string, ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => this.unlock(token, 'expired'), ms);
    timer.unref();
    return timer;
  }

  /** Extends a lock by the lock duration from now; the new expiry, or undefined when the lock is lost. */
  renew(token: string): number | undefined {
    const stored = this.locked.get(token);
    if (!stored?.lock) return undefined;
    clearTimeout(stored.lock.timer);
    stored.lock.until = Date.now() + this.lockDurationMs;
    stored.lock.timer = this.#lockTimer(token, this.lockDurationMs);
    return stored.lock.until;
  }

  /**
   * Ends a lock: completed (gone), abandoned or expired (back, or dead-lettered past the max delivery count),
   * dead-lettered. False when the lock is lost.
   */
  unlock(
    token: string,
    how: 'completed' | 'abandoned' | 'expired' | 'deadLettered',
    deadLetter?: { readonly properties: Record<string, unknown> },
  ): boolean {
    const stored = this.locked.get(token);
    if (!stored?.lock) return false;
    clearTimeout(stored.lock.timer);
    stored.lock = undefined;
    this.locked.delete(token);
    if (how === 'completed') return true;
    if (how === 'deadLettered' || stored.deliveries >= this.maxDeliveryCount) {
      const properties =
        how === 'deadLettered'
          ? (deadLetter?.properties ?? {})
          : {
              DeadLetterReason: 'MaxDeliveryCountExceeded',
              DeadLetterErrorDescription: `Message could not be consumed after ${this.maxDeliveryCount} delivery attempts.`,
            };
      this.deadLetter?.enqueue(this.broker.copy(stored.message, properties, this.path));
      return true;
    }
    this.enqueue(stored);
    return true;
  }

  /** Every message held (available, locked, scheduled), in sequence order, for peeking. */
  all(): Stored[] {
    return [
      ...this.available,
      ...this.locked.values(),
      ...[...this.scheduled.values()].map((s) => s.stored),
    ].sort((a, b) => a.seq - b.seq);
  }
}

/** A topic: what is sent to it goes to each of its subscriptions. */
class Topic {
  readonly subscriptions = new Map<string, Entity>();
  readonly path: string;
  constructor(path: string) {
    this.path = path;
  }
}

/** Deliveries handed to rhea per link, until rhea writes their transfer (it takes the credit only then). */
const queued = new WeakMap<Sender, { id: number }[]>();

/**
 * The credit a link has left: rhea's count, less the deliveries sent to it in this turn and not yet written (rhea
 * would hold them, locked, until the client gives more credit).
 */
function creditLeft(sender: Sender): number {
  const outgoing = (sender as unknown as { session: { outgoing: { next_pending_delivery: number } } }).session
    .outgoing;
  const waiting = (queued.get(sender) ?? []).filter((d) => d.id >= outgoing.next_pending_delivery);
  queued.set(sender, waiting);
  return sender.sendable() ? (sender as unknown as { credit: number }).credit - waiting.length : 0;
}

/** The .NET byte order of a GUID (the service's delivery tags; the SDK reorders them back). */
function dotNetOrder(b: Buffer): Buffer {
  return Buffer.from([b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], ...b.subarray(8)] as number[]);
}

/** Text as XML character data. */
function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** What an entity path names: the part before `/$management`, lower-cased for lookup. */
function key(path: string): string {
  return path.replace(/^\/+/, '').toLowerCase();
}

/** The local AMQP stand-in for Azure Service Bus (see the module's comment). */
export class StandinBroker {
  readonly #container: Container;
  #server: Server | undefined;
  #port = 0;
  #http: HttpServer | undefined;
  #httpPort = 0;
  #seq = 0;
  readonly #queues = new Map<string, Entity>();
  readonly #topics = new Map<string, Topic>();
  readonly #connections = new Set<Connection>();
  /** Every accepted socket, handshake done or not (a restart cuts them all). */
  readonly #sockets = new Set<Socket>();
  /** Counts of what clients asked for, by operation, for tests that check the SDK's traffic. */
  readonly operations = new Map<string, number>();

  /** Creates a queue (default settings) on first use of an unknown entity, instead of refusing it (the benchmark's). */
  readonly #autoCreate: boolean;

  private constructor(autoCreate: boolean) {
    this.#autoCreate = autoCreate;
    // Settled by hand: a disposition for a lock that ran out is answered with lock-lost, as the service does.
    this.#container = rhea.create_container({
      id: 'hostwork-standin',
      autosettle: false,
      treat_modified_as_released: false,
    });
    this.#container.on('connection_open', (context: EventContext) => {
      this.#connections.add(context.connection);
    });
    this.#container.on('disconnected', (context: EventContext) => {
      this.#connections.delete(context.connection);
    });
    this.#container.on('connection_close', (context: EventContext) => {
      this.#connections.delete(context.connection);
    });
    this.#container.on('sender_open', (context: EventContext) => this.#senderOpen(context.sender as Sender));
    this.#container.on('receiver_open', (context: EventContext) =>
      this.#receiverOpen(context.receiver as Receiver),
    );
    this.#container.on('sendable', (context: EventContext) =>
      this.#consumed(context.sender as Sender)?.dispatch(),
    );
    this.#container.on('sender_draining', (context: EventContext) =>
      this.#consumed(context.sender as Sender)?.dispatch(),
    );
    this.#container.on('sender_close', (context: EventContext) =>
      this.#detachConsumer(context.sender as Sender),
    );
    this.#container.on('message', (context: EventContext) => this.#message(context));
    for (const outcome of ['accepted', 'rejected', 'modified', 'released'] as const)
      this.#container.on(outcome, (context: EventContext) =>
        this.#disposition(context.delivery as Delivery, outcome),
      );
    // Errors on a connection the test cut are expected.
    this.#container.on('error', () => {});
    this.#container.on('connection_error', () => {});
  }

  /** Starts a stand-in listening on 127.0.0.1 (`port` 0: any free port). */
  static async start(
    port = 0,
    options: { readonly autoCreateQueues?: boolean } = {},
  ): Promise<StandinBroker> {
    const broker = new StandinBroker(options.autoCreateQueues ?? false);
    await broker.#listen(port);
    await broker.#listenHttp();
    return broker;
  }

  get port(): number {
    return this.#port;
  }

  /** The origin of its HTTP management API (the transport's `managementEndpoint`): see the module's comment. */
  get managementEndpoint(): string {
    return `http://127.0.0.1:${this.#httpPort}`;
  }

  /** A connection string the SDK takes: plain AMQP (no TLS) on the stand-in's port, as for the emulator. */
  get connectionString(): string {
    return `Endpoint=sb://127.0.0.1:${this.#port}/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=c3RhbmQtaW4=;UseDevelopmentEmulator=true`;
  }

  createQueue(name: string, settings: EntitySettings = {}): void {
    const lock = settings.lockDurationMs ?? 60_000;
    const max = settings.maxDeliveryCount ?? 10;
    const dead = new Entity(this, `${name}/$DeadLetterQueue`, lock, Number.POSITIVE_INFINITY, undefined);
    this.#queues.set(key(dead.path), dead);
    const entity = new Entity(this, name, lock, max, dead);
    entity.requiresSession = settings.requiresSession ?? false;
    this.#queues.set(key(name), entity);
  }

  createTopic(name: string): void {
    this.#topics.set(key(name), new Topic(name));
  }

  createSubscription(topic: string, name: string, settings: EntitySettings = {}): void {
    const t = this.#topics.get(key(topic));
    if (!t) throw new Error(`stand-in: no topic '${topic}'`);
    const path = `${topic}/Subscriptions/${name}`;
    const lock = settings.lockDurationMs ?? 60_000;
    const dead = new Entity(this, `${path}/$DeadLetterQueue`, lock, Number.POSITIVE_INFINITY, undefined);
    const entity = new Entity(this, path, lock, settings.maxDeliveryCount ?? 10, dead);
    entity.requiresSession = settings.requiresSession ?? false;
    t.subscriptions.set(key(name), entity);
    this.#queues.set(key(dead.path), dead);
    this.#queues.set(key(path), entity);
  }

  /** Removes an entity (a queue or a topic with its subscriptions). */
  deleteEntity(name: string): void {
    for (const k of [...this.#queues.keys()])
      if (k === key(name) || k.startsWith(`${key(name)}/`)) {
        const entity = this.#queues.get(k) as Entity;
        for (const s of entity.locked.values()) clearTimeout(s.lock?.timer);
        for (const s of entity.scheduled.values()) clearTimeout(s.timer);
        this.#queues.delete(k);
      }
    this.#topics.delete(key(name));
  }

  /** How many messages an entity holds: available, locked, scheduled. */
  count(path: string): { available: number; locked: number; scheduled: number } {
    const entity = this.#queues.get(key(path));
    if (!entity) throw new Error(`stand-in: no entity '${path}'`);
    return {
      available: entity.available.length,
      locked: entity.locked.size,
      scheduled: entity.scheduled.size,
    };
  }

  /** Drops every connection at once (no close handshake, as a crash) and listens again on the same port. */
  async restart(): Promise<void> {
    await this.#stopListening();
    for (const connection of this.#connections)
      (connection as unknown as { socket?: { destroy(): void } }).socket?.destroy();
    this.#connections.clear();
    for (const entity of this.#queues.values()) entity.consumers.length = 0;
    await this.#listen(this.#port);
  }

  /**
   * Stops reading from every connection: the peer hangs, as a service that went silent without closing the TCP
   * connection (what makes the SDK's close wait). {@link thaw} reads again.
   */
  freeze(): void {
    for (const socket of this.#sockets) socket.pause();
  }

  thaw(): void {
    for (const socket of this.#sockets) socket.resume();
  }

  /** Stops listening and drops every connection; timers stop. */
  async stop(): Promise<void> {
    const http = this.#http;
    this.#http = undefined;
    if (http) {
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeAllConnections();
      await closed;
    }
    await this.#stopListening();
    for (const connection of this.#connections)
      (connection as unknown as { socket?: { destroy(): void } }).socket?.destroy();
    this.#connections.clear();
    for (const name of [...this.#queues.keys()]) this.deleteEntity(name);
  }

  // --- internals used by entities -------------------------------------------------------------------------------

  /** The message as delivered: the broker's annotations and the delivery count (deliveries before this one). */
  outgoing(stored: Stored, lockedUntil: number): Message {
    const message = { ...stored.message };
    message.message_annotations = {
      ...(stored.message.message_annotations ?? {}),
      'x-opt-sequence-number': stored.seq,
      'x-opt-enqueued-time': new Date(stored.enqueuedAt),
      'x-opt-locked-until': new Date(lockedUntil),
    };
    message.delivery_count = stored.deliveries - 1;
    return message;
  }

  /** A new stored copy of `message` (a dead letter, a subscription's copy) with application properties merged. */
  copy(message: Message, properties: Record<string, unknown>, source?: string): Stored {
    const copied: Message = {
      ...message,
      application_properties: { ...(message.application_properties ?? {}), ...properties },
    };
    if (source !== undefined)
      copied.message_annotations = {
        ...(message.message_annotations ?? {}),
        'x-opt-deadletter-source': source,
      };
    return { seq: ++this.#seq, message: copied, enqueuedAt: Date.now(), deliveries: 0 };
  }

  // --- links ------------------------------------------------------------------------------------------------------

  #count(operation: string): void {
    this.operations.set(operation, (this.operations.get(operation) ?? 0) + 1);
  }

  #listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = this.#container.listen({ port, host: '127.0.0.1' }) as Server;
      server.once('error', reject);
      server.on('connection', (socket: Socket) => {
        this.#sockets.add(socket);
        socket.once('close', () => this.#sockets.delete(socket));
      });
      server.once('listening', () => {
        const address = server.address();
        this.#port = typeof address === 'object' && address ? address.port : port;
        this.#server = server;
        resolve();
      });
    });
  }

  #listenHttp(): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = createServer((request, response) => this.#managementRequest(request, response));
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        this.#httpPort = typeof address === 'object' && address ? address.port : 0;
        this.#http = server;
        resolve();
      });
    });
  }

  /** A request to the HTTP management API: the runtime properties of a queue or subscription (module's comment). */
  #managementRequest(request: IncomingMessage, response: ServerResponse): void {
    this.#count('management:get-entity');
    const url = new URL(request.url ?? '/', this.managementEndpoint);
    const path = decodeURIComponent(url.pathname).replace(/^\/+/, '');
    const answer = (status: number, body: string) => {
      response.writeHead(status, { 'content-type': 'application/atom+xml;type=entry;charset=utf-8' });
      response.end(body);
    };
    if (request.method !== 'GET' || path === '' || path.includes('$')) {
      answer(
        405,
        '<Error><Code>405</Code><Detail>The stand-in serves GET of one entity only.</Detail></Error>',
      );
      return;
    }
    const entity = this.#queues.get(key(path));
    const id = `${this.managementEndpoint}/${path}?api-version=${url.searchParams.get('api-version') ?? ''}`;
    if (!entity) {
      answer(
        200,
        `<feed xmlns="http://www.w3.org/2005/Atom"><title type="text">Publicly Listed Services</title><id>${escapeXml(id)}</id><updated>${new Date().toISOString()}</updated></feed>`,
      );
      return;
    }
    const subscription = /^(.+)\/Subscriptions\/([^/]+)$/i.exec(path);
    const active = entity.available.length + entity.locked.size;
    const dead = entity.deadLetter ? entity.deadLetter.available.length + entity.deadLetter.locked.size : 0;
    const scheduled = entity.scheduled.size;
    const now = new Date().toISOString();
    const description = subscription ? 'SubscriptionDescription' : 'QueueDescription';
    answer(
      200,
      `<entry xmlns="http://www.w3.org/2005/Atom"><id>${escapeXml(id)}</id><title type="text">${escapeXml(subscription ? (subscription[2] as string) : path)}</title><published>${now}</published><updated>${now}</updated><content type="application/xml"><${description} xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><LockDuration>PT${entity.lockDurationMs / 1000}S</LockDuration><SizeInBytes>0</SizeInBytes><MaxDeliveryCount>${Number.isFinite(entity.maxDeliveryCount) ? entity.maxDeliveryCount : 2147483647}</MaxDeliveryCount><MessageCount>${active + dead + scheduled}</MessageCount><CreatedAt>${now}</CreatedAt><UpdatedAt>${now}</UpdatedAt><AccessedAt>${now}</AccessedAt><CountDetails xmlns:d2p1="http://schemas.microsoft.com/netservices/2011/06/servicebus"><d2p1:ActiveMessageCount>${active}</d2p1:ActiveMessageCount><d2p1:DeadLetterMessageCount>${dead}</d2p1:DeadLetterMessageCount><d2p1:ScheduledMessageCount>${scheduled}</d2p1:ScheduledMessageCount><d2p1:TransferMessageCount>0</d2p1:TransferMessageCount><d2p1:TransferDeadLetterMessageCount>0</d2p1:TransferDeadLetterMessageCount></CountDetails><Status>Active</Status></${description}></content></entry>`,
    );
  }

  /** Stops accepting and cuts every connection (no close handshake, as a crash). */
  #stopListening(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    // rhea's own abort: it also stops the connection's heartbeat timer, which a bare socket.destroy() leaves running.
    for (const connection of this.#connections) {
      const c = connection as unknown as { socket?: Socket; abort_socket(socket: Socket): void };
      if (c.socket) c.abort_socket(c.socket);
    }
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    this.#connections.clear();
    return closed;
  }

  /** The entity a client's receiving link consumes from (a server-side sender), if it is one. */
  #consumed(sender: Sender): Entity | undefined {
    return (sender as unknown as { hostworkEntity?: Entity }).hostworkEntity;
  }

  #detachConsumer(sender: Sender): void {
    const entity = this.#consumed(sender);
    if (!entity) return;
    const i = entity.consumers.indexOf(sender);
    if (i >= 0) entity.consumers.splice(i, 1);
    // A session is released with its receiver (its messages come back at once); message locks outlive the link, as
    // on the service: its messages come back when their locks run out.
    const session = entity.sessionOf.get(sender);
    if (session !== undefined) entity.releaseSession(session, false);
  }

  /** Whether `path` names a known entity, creating it as a queue first when auto-creating. */
  #known(path: string): boolean {
    if (this.#queues.has(key(path)) || this.#topics.has(key(path))) return true;
    if (!this.#autoCreate || /\/subscriptions\//i.test(path) || /\$deadletterqueue$/i.test(path))
      return false;
    this.createQueue(path);
    return true;
  }

  #notFound(link: Sender | Receiver, path: string): undefined {
    link.close({
      condition: 'amqp:not-found',
      description: `The messaging entity 'sb://127.0.0.1/${path}' could not be found (stand-in).`,
    });
  }

  /** A client's receiving link: the reply link of `$cbs` or `$management`, or a consumer of an entity. */
  #senderOpen(sender: Sender): undefined {
    echoTermini(sender);
    const address = String(sender.source?.address ?? '');
    if (address === '$cbs' || address.endsWith('/$management')) return;
    this.#known(address);
    const entity = this.#queues.get(key(address));
    if (!entity) return this.#notFound(sender, address);
    const filter = (sender.source as { filter?: Record<string, unknown> } | undefined)?.filter;
    if (filter && 'com.microsoft:session-filter' in filter) {
      if (!this.#acceptSession(sender, entity, address, filter['com.microsoft:session-filter'])) return;
    } else if (entity.requiresSession) {
      sender.close({
        condition: 'amqp:not-allowed',
        description: `The entity '${address}' requires sessions: receive with a session receiver (stand-in).`,
      });
      return;
    }
    (sender as unknown as { hostworkEntity?: Entity }).hostworkEntity = entity;
    entity.consumers.push(sender);
    entity.dispatch();
  }

  /**
   * A session receiver: locks the session asked for, or the next free one, and answers with it in the source's
   * session filter and its lock's expiry in the link's properties (in .NET ticks), as the service does. With none free
   * it answers at once with `com.microsoft:timeout` (the service waits up to the link's timeout first).
   */
  #acceptSession(sender: Sender, entity: Entity, address: string, asked: unknown): boolean {
    const wanted = (asked as { value?: unknown } | null)?.value ?? asked;
    const id = typeof wanted === 'string' ? wanted : entity.freeSession();
    const l = sender as unknown as {
      set_source(fields: unknown): void;
      local: { attach: { properties?: Record<string, unknown> } };
    };
    if (id === undefined || !entity.requiresSession || entity.sessionLocks.has(id)) {
      l.set_source({ address });
      sender.close({
        condition: id === undefined ? 'com.microsoft:timeout' : 'com.microsoft:session-cannot-be-locked',
        description:
          id === undefined
            ? 'No unlocked session is available (stand-in).'
            : `The session '${id}' cannot be locked (stand-in).`,
      });
      return false;
    }
    const until = entity.lockSession(sender, id);
    l.set_source({ address, filter: { 'com.microsoft:session-filter': id } });
    const ticks = BigInt(until) * 10_000n + 621_355_968_000_000_000n;
    const bytes = Buffer.alloc(8);
    bytes.writeBigInt64BE(ticks);
    l.local.attach.properties = { 'com.microsoft:locked-until-utc': bytes };
    return true;
  }

  /** A client's sending link: to `$cbs`, a `$management` node, a queue or a topic. */
  #receiverOpen(receiver: Receiver): void {
    echoTermini(receiver);
    // The Standard tier's limit, as the service announces it (the SDK sizes its batches from it).
    (
      receiver as unknown as { local: { attach: { max_message_size?: number } } }
    ).local.attach.max_message_size = MAX_MESSAGE_SIZE;
    const address = String(receiver.target?.address ?? '');
    if (address === '$cbs') return;
    const entity = address.endsWith('/$management') ? address.slice(0, -'/$management'.length) : address;
    if (!this.#known(entity)) this.#notFound(receiver, entity);
  }

  #message(context: EventContext): undefined {
    const receiver = context.receiver as Receiver;
    const address = String(receiver.target?.address ?? '');
    const message = context.message as Message;
    if (address === '$cbs')
      return this.#reply(context, message, 202, 'Accepted', undefined, 'put-token', undefined, true);
    if (address.endsWith('/$management'))
      return this.#management(context, address.slice(0, -'/$management'.length), message);
    const delivery = context.delivery as Delivery;
    const messages =
      (delivery as unknown as { format?: number }).format === BATCH_FORMAT
        ? // rhea hands a message of another format over undecoded.
          unbatch(rhea.message.decode(message as unknown as Buffer) as unknown as Message)
        : [message];
    for (const m of messages) this.#accept(address, m);
    this.#count('send');
  }

  /** Stores a sent message in the queue, or in each subscription of the topic. */
  #accept(path: string, message: Message, at = Date.now()): void {
    const topic = this.#topics.get(key(path));
    const targets = topic ? [...topic.subscriptions.values()] : [this.#queues.get(key(path))];
    for (const entity of targets)
      entity?.enqueue({ seq: ++this.#seq, message, enqueuedAt: at, deliveries: 0 });
  }

  /** A disposition from a consumer: settles the lock, or answers lock-lost. */
  #disposition(delivery: Delivery, outcome: 'accepted' | 'rejected' | 'modified' | 'released'): void {
    const sender = delivery.link as Sender;
    const entity = this.#consumed(sender);
    // A reply on a $cbs or $management link, accepted by the client.
    if (!entity) {
      delivery.update(true, ACCEPTED());
      return;
    }
    const token = rhea.uuid_to_string(dotNetOrder(Buffer.from(delivery.tag as Buffer)));
    const state = delivery.remote_state as
      | { error?: { condition?: string; info?: Record<string, unknown> }; undeliverable_here?: boolean }
      | undefined;
    let ok = false;
    if (outcome === 'accepted') ok = entity.unlock(token, 'completed');
    else if (outcome === 'rejected' && state?.error?.condition === 'com.microsoft:dead-letter')
      ok = entity.unlock(token, 'deadLettered', { properties: { ...(state.error.info ?? {}) } });
    else ok = entity.unlock(token, 'abandoned');
    this.#count(`disposition:${outcome}`);
    // In rcv-settle-mode second the client settles on our settled disposition and sends nothing more: the delivery is
    // done on both sides once ours is written (rhea would keep it, and stop at 2048 unsettled deliveries a session).
    const settle = delivery as unknown as { remote_settled: boolean };
    if (ok) delivery.update(true, ACCEPTED());
    else
      delivery.update(
        true,
        REJECTED({
          condition: 'com.microsoft:message-lock-lost',
          description: `The lock supplied is invalid: it expired, or the message was settled (stand-in).`,
        }),
      );
    settle.remote_settled = true;
  }

  // --- management -------------------------------------------------------------------------------------------------

  #management(context: EventContext, path: string, request: Message): undefined {
    const operation = String(request.application_properties?.operation ?? '');
    this.#count(operation);
    const body = (request.body ?? {}) as Record<string, unknown>;
    const entity = this.#queues.get(key(path));
    const fail = (code: number, description: string, condition?: string) =>
      this.#reply(context, request, code, description, undefined, operation, condition);
    switch (operation) {
      case 'com.microsoft:renew-lock': {
        if (!entity) return fail(404, `no entity '${path}'`, 'amqp:not-found');
        const tokens = (body['lock-tokens'] as Buffer[]).map((t) => rhea.uuid_to_string(t));
        const expirations: Date[] = [];
        for (const token of tokens) {
          const until = entity.renew(token);
          if (until === undefined)
            return fail(410, 'The lock supplied is invalid (stand-in).', 'com.microsoft:message-lock-lost');
          expirations.push(new Date(until));
        }
        return this.#reply(context, request, 200, 'OK', { expirations }, operation);
      }
      case 'com.microsoft:renew-session-lock': {
        const until = entity?.renewSession(String(body['session-id']));
        if (until === undefined)
          return fail(410, 'The session lock was lost (stand-in).', 'com.microsoft:session-lock-lost');
        return this.#reply(context, request, 200, 'OK', { expiration: new Date(until) }, operation);
      }
      case 'com.microsoft:update-disposition': {
        if (!entity) return fail(404, `no entity '${path}'`, 'amqp:not-found');
        const status = String(body['disposition-status']);
        for (const t of body['lock-tokens'] as Buffer[]) {
          const token = rhea.uuid_to_string(t);
          const modified = (body['properties-to-modify'] ?? {}) as Record<string, unknown>;
          const ok =
            status === 'completed'
              ? entity.unlock(token, 'completed')
              : status === 'suspended'
                ? entity.unlock(token, 'deadLettered', {
                    properties: {
                      ...modified,
                      ...(body['deadletter-reason'] !== undefined
                        ? { DeadLetterReason: body['deadletter-reason'] }
                        : {}),
                      ...(body['deadletter-description'] !== undefined
                        ? { DeadLetterErrorDescription: body['deadletter-description'] }
                        : {}),
                    },
                  })
                : entity.unlock(token, 'abandoned');
          if (!ok)
            return fail(410, 'The lock supplied is invalid (stand-in).', 'com.microsoft:message-lock-lost');
        }
        return this.#reply(context, request, 200, 'OK', {}, operation);
      }
      case 'com.microsoft:schedule-message': {
        const topic = this.#topics.get(key(path));
        if (!entity && !topic) return fail(404, `no entity '${path}'`, 'amqp:not-found');
        const sequenceNumbers: number[] = [];
        for (const entry of body.messages as Record<string, unknown>[]) {
          const message = rhea.message.decode(entry.message as Buffer) as unknown as Message;
          const due = new Date(
            message.message_annotations?.['x-opt-scheduled-enqueue-time'] as Date,
          ).getTime();
          sequenceNumbers.push(this.#schedule(path, message, due));
        }
        return this.#reply(context, request, 200, 'OK', { 'sequence-numbers': sequenceNumbers }, operation);
      }
      case 'com.microsoft:cancel-scheduled-message': {
        for (const raw of body['sequence-numbers'] as Buffer[]) {
          const seq = Number(Buffer.from(raw).readBigInt64BE());
          for (const candidate of this.#holders(path)) {
            const held = candidate.scheduled.get(seq);
            if (held) {
              clearTimeout(held.timer);
              candidate.scheduled.delete(seq);
            }
          }
        }
        return this.#reply(context, request, 200, 'OK', {}, operation);
      }
      case 'com.microsoft:peek-message': {
        if (!entity) return fail(404, `no entity '${path}'`, 'amqp:not-found');
        const from = Number(toBigInt(body['from-sequence-number']));
        const count = Number(body['message-count'] ?? 1);
        const found = entity
          .all()
          .filter((s) => s.seq >= from)
          .slice(0, count);
        if (found.length === 0) return this.#reply(context, request, 204, 'No Content', {}, operation);
        const messages = found.map((s) => ({
          message: rhea.message.encode(this.outgoingPeeked(s)),
        }));
        return this.#reply(context, request, 200, 'OK', { messages }, operation);
      }
      default:
        return fail(501, `the stand-in does not implement '${operation}'`, 'amqp:not-implemented');
    }
  }

  /** A peeked message: annotated, no lock. */
  outgoingPeeked(stored: Stored): Message {
    const message = { ...stored.message };
    message.message_annotations = {
      ...(stored.message.message_annotations ?? {}),
      'x-opt-sequence-number': stored.seq,
      'x-opt-enqueued-time': new Date(stored.enqueuedAt),
    };
    message.delivery_count = Math.max(0, stored.deliveries - 1);
    return message;
  }

  /** The entities a scheduled message sent to `path` sits in (the queue, or each subscription of the topic). */
  #holders(path: string): Entity[] {
    const topic = this.#topics.get(key(path));
    if (topic) return [...topic.subscriptions.values()];
    const entity = this.#queues.get(key(path));
    return entity ? [entity] : [];
  }

  /** Holds `message` until `due`, then enqueues it; its sequence number (the one cancel takes). */
  #schedule(path: string, message: Message, due: number): number {
    const seq = ++this.#seq;
    for (const entity of this.#holders(path)) {
      const stored: Stored = { seq: ++this.#seq, message, enqueuedAt: due, deliveries: 0 };
      const timer = setTimeout(
        () => {
          entity.scheduled.delete(seq);
          entity.enqueue(stored);
        },
        Math.max(0, due - Date.now()),
      );
      timer.unref();
      entity.scheduled.set(seq, { stored, timer });
    }
    return seq;
  }

  /** Answers a CBS or management request on the client's reply link (the link whose target is `reply_to`). */
  #reply(
    context: EventContext,
    request: Message,
    status: number,
    description: string,
    body: unknown,
    _operation: string,
    condition?: string,
    cbs = false,
  ): undefined {
    const replyTo = String(request.reply_to ?? '');
    const connection = context.connection;
    const links = (
      connection as unknown as { find_sender(f: (s: Sender) => boolean): Sender | undefined }
    ).find_sender((s: Sender) => String(s.target?.address ?? '') === replyTo || s.name === replyTo);
    if (!links) return;
    links.send({
      correlation_id: request.message_id,
      // As the service answers: `status-code` on $cbs, `statusCode` on $management.
      application_properties: cbs
        ? { 'status-code': status, 'status-description': description }
        : {
            statusCode: status,
            statusDescription: description,
            ...(condition ? { errorCondition: condition } : {}),
          },
      body: body ?? {},
    });
  }
}

/** Attaches with the client's own source and target (the SDK reads them back, as the service returns them). */
function echoTermini(link: Sender | Receiver): void {
  const l = link as unknown as {
    set_source(fields: unknown): void;
    set_target(fields: unknown): void;
    source?: { address?: string; filter?: unknown };
    target?: { address?: string };
  };
  const { source, target } = l;
  l.set_source({
    ...(source?.address !== undefined ? { address: source.address } : {}),
    ...(source?.filter !== undefined ? { filter: source.filter } : {}),
  });
  l.set_target(target?.address !== undefined ? { address: target.address } : {});
}

/** The messages of a batched transfer (each data section an encoded message). */
function unbatch(batch: Message): Message[] {
  const body = batch.body as
    | { content?: unknown; multiple?: boolean; typecode?: number }
    | Buffer
    | undefined;
  const sections: Buffer[] = Buffer.isBuffer(body)
    ? [body]
    : Array.isArray(body)
      ? (body as Buffer[])
      : body?.multiple
        ? (body.content as Buffer[])
        : [body?.content as Buffer];
  return sections.map((section) => rhea.message.decode(Buffer.from(section)) as unknown as Message);
}

/** An AMQP long as received (a number, or 8 bytes big-endian). */
function toBigInt(value: unknown): bigint {
  if (typeof value === 'number') return BigInt(value);
  if (typeof value === 'bigint') return value;
  if (Buffer.isBuffer(value)) return value.readBigInt64BE();
  return 0n;
}
