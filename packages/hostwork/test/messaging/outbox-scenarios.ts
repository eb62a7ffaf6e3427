/**
 * The transactional outbox end to end, the same on every store that keeps one: a message sent with `tx` exists only
 * if the application's transaction commits, the relay publishes it after the commit, retries a failing publish, and
 * keeps each key's order with duplicates carrying the same id when a relay dies mid-batch. A store's test file calls
 * `describeOutbox(name, backend)`; the broker is the in-memory transport.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { z } from 'zod';
import { ErrorCodes } from '../../src/errors.ts';
import { addJobs } from '../../src/jobs/add-jobs.ts';
import type { JobStore } from '../../src/jobs/job-store.ts';
import type { OutboxSettings } from '../../src/messaging/add-messaging.ts';
import { defineConsumer, type MessageContext } from '../../src/messaging/consumer-definition.ts';
import { InMemoryBroker, inMemoryTransport } from '../../src/messaging/in-memory-transport.ts';
import { isInboxStore } from '../../src/messaging/inbox-store.ts';
import { defineMessage } from '../../src/messaging/message-definition.ts';
import type { OutboxStore } from '../../src/messaging/outbox-store.ts';
import type { OutgoingMessage, Transport } from '../../src/messaging/transport.ts';
import { expectRejection } from '../support/errors.ts';
import { type MessagingHost, messagingHost, T, waitFor } from './helpers.ts';

/** An application transaction on the store's database. */
export interface AppTransaction {
  readonly tx: unknown;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

/** How the scenarios get stores of one kind. */
export interface OutboxBackend {
  /** A fresh store on new data (not migrated). */
  create(): Promise<JobStore & OutboxStore>;
  /** Another store instance on the same data, as another process would open it. */
  peer(of: JobStore & OutboxStore): Promise<JobStore & OutboxStore>;
  /** Opens a transaction of the application's own on the store's database (the store is migrated first). */
  begin(store: JobStore & OutboxStore): Promise<AppTransaction>;
  /** Removes what `create` made (after every host using it stopped). */
  destroy(store: JobStore & OutboxStore): Promise<void>;
  /**
   * Two application transactions of one process can be open at once, the second waiting for the first's row locks
   * without blocking the event loop (PostgreSQL). SQLite's one writer, waited for synchronously, cannot.
   */
  readonly concurrentTransactions?: boolean;
}

const OrderPlaced = defineMessage({
  name: 'order-placed',
  schema: z.object({ orderId: z.string() }),
  destination: { name: 'orders' },
});

/** One publish call, as a transport saw it. */
interface Published {
  readonly destination: string;
  readonly messages: readonly OutgoingMessage[];
}

/** An in-memory transport that records what it publishes and can be made to fail or hang. */
function recording(broker: InMemoryBroker, log: Published[]) {
  const memory = inMemoryTransport({ broker });
  let behaviour: (call: number) => 'ok' | 'fail' | 'hang' = () => 'ok';
  let calls = 0;
  const hung: Array<(error: Error) => void> = [];
  const transport: Transport = {
    kind: 'recording',
    connect: () => memory.connect(),
    subscribe: (s, o) => memory.subscribe(s, o),
    publish: async (destination, messages) => {
      const what = behaviour(++calls);
      if (what === 'fail') throw new Error(`broker refused publish call ${calls}`);
      if (what === 'hang') {
        // Published but never confirmed to the relay: a relay dying after the broker has the messages.
        log.push({ destination: destination.name, messages: [...messages] });
        await memory.publish(destination, messages);
        await new Promise<void>((_, reject) => hung.push(reject));
      }
      log.push({ destination: destination.name, messages: [...messages] });
      await memory.publish(destination, messages);
    },
    close: () => memory.close(),
    [Symbol.asyncDispose]: () => memory.close(),
  };
  return {
    transport,
    behave(next: (call: number) => 'ok' | 'fail' | 'hang') {
      behaviour = next;
    },
    /** Ends the hung publish calls with an error (the dead relay "coming back"). */
    wakeHung() {
      for (const reject of hung.splice(0)) reject(new Error('connection reset'));
    },
  };
}

const ids = (log: readonly Published[]): string[] => log.flatMap((p) => p.messages.map((m) => m.id));
const FAST: OutboxSettings = { pollIntervalMs: 50, backoff: { type: 'fixed', delay: 100 } };

/** Registers the inbox scenarios for one kind of store. */
export function describeInbox(storeName: string, backend: OutboxBackend): void {
  describe(`consumer inbox (${storeName})`, () => {
    const made: Array<{ store: JobStore & OutboxStore; host?: MessagingHost }> = [];
    afterEach(async () => {
      for (const { store, host } of made.splice(0).reverse()) {
        await host?.host.stop();
        await backend.destroy(store);
      }
    });

    async function consumerHost(
      handle: (m: { orderId: string }, ctx: MessageContext) => Promise<void>,
      concurrency = 1,
    ) {
      const store = await backend.create();
      made.push({ store });
      await store.migrate();
      const transport = inMemoryTransport({ broker: new InMemoryBroker() });
      const consumer = defineConsumer({
        name: 'ship',
        transport: 'memory',
        source: { name: 'orders' },
        message: OrderPlaced,
        inbox: { windowMs: 60_000 },
        backoff: { type: 'fixed', delay: 10 },
        concurrency,
        handle,
      });
      const h = messagingHost({
        transports: { memory: transport },
        consumers: [consumer],
        outbox: { relay: false },
        configure: (builder) => addJobs(builder, { jobs: [], store, worker: false }),
      });
      made.at(-1)!.host = h;
      await h.host.start();
      return { ...h, store, transport };
    }

    it(
      'a redelivered message (same id) runs its handler once; both deliveries are acknowledged',
      T,
      async () => {
        const handled: string[] = [];
        const { publisher, transport } = await consumerHost(async (m) => {
          handled.push(m.orderId);
        });
        await publisher.send(OrderPlaced, { orderId: 'first' }, { id: 'msg-1' });
        await waitFor(() => handled.length === 1 || undefined, 'the first delivery handled');
        await publisher.send(OrderPlaced, { orderId: 'again' }, { id: 'msg-1' });
        await publisher.send(OrderPlaced, { orderId: 'other' }, { id: 'msg-2' });
        await waitFor(() => handled.length === 2 || undefined, 'msg-2 handled');
        await waitFor(() => {
          const d = transport.broker.depth('orders');
          return d.ready + d.unacked === 0 || undefined;
        }, 'every delivery acknowledged');
        assert.deepEqual(handled, ['first', 'other'], 'msg-1 ran once');
      },
    );

    it(
      'with completeWithin(tx) the record commits with the handler’s effects; a rollback undoes both',
      T,
      async () => {
        let runs = 0;
        const committed: string[] = [];
        let refused = 0;
        const h = await consumerHost(async (m, ctx) => {
          runs++;
          const app = await backend.begin(h.store);
          const recorded = await ctx.completeWithin(app.tx);
          if (!recorded) {
            refused++;
            await app.rollback();
            return;
          }
          if (ctx.attempt === 1 && m.orderId === 'fails-once') {
            await app.rollback(); // the effects and the record go together
            throw new Error('the handler failed after recording');
          }
          committed.push(m.orderId);
          await app.commit();
        });
        await h.publisher.send(OrderPlaced, { orderId: 'fails-once' }, { id: 'msg-1' });
        await waitFor(() => committed.length === 1 || undefined, 'the retry committed');
        assert.equal(runs, 2, 'the rolled-back record did not stop the retry');
        await h.publisher.send(OrderPlaced, { orderId: 'fails-once' }, { id: 'msg-1' });
        await h.publisher.send(OrderPlaced, { orderId: 'next' }, { id: 'msg-2' });
        await waitFor(() => committed.length === 2 || undefined, 'msg-2 committed');
        assert.deepEqual(committed, ['fails-once', 'next']);
        assert.equal(runs, 3, 'the redelivered msg-1 never reached the handler');
        assert.equal(refused, 0);
        assert.ok(isInboxStore(h.store));
        assert.equal(await h.store.inboxHas('ship', 'msg-1', Date.now()), true);
      },
    );

    if (backend.concurrentTransactions) {
      it(
        'two deliveries of one message handled at once: one commits, the other’s completeWithin waits and resolves false',
        T,
        async () => {
          const started: string[] = [];
          const committed: string[] = [];
          let refused = 0;
          const h = await consumerHost(async (m, ctx) => {
            started.push(m.orderId);
            const app = await backend.begin(h.store);
            if (m.orderId === 'first') {
              assert.equal(await ctx.completeWithin(app.tx), true);
              // Hold the transaction open until the duplicate is inside its own completeWithin, waiting for this one.
              await waitFor(() => started.length === 2 || undefined, 'the duplicate to start');
              await new Promise((resolve) => setTimeout(resolve, 200));
              committed.push(m.orderId);
              await app.commit();
              return;
            }
            if (!(await ctx.completeWithin(app.tx))) {
              refused++;
              await app.rollback();
              return;
            }
            committed.push(m.orderId);
            await app.commit();
          }, 2);
          await h.publisher.send(OrderPlaced, { orderId: 'first' }, { id: 'msg-1' });
          await waitFor(() => started.length === 1 || undefined, 'the first delivery started');
          await h.publisher.send(OrderPlaced, { orderId: 'duplicate' }, { id: 'msg-1' });
          await waitFor(() => refused === 1 || undefined, 'the duplicate refused');
          await waitFor(() => {
            const d = h.transport.broker.depth('orders');
            return d.ready + d.unacked === 0 || undefined;
          }, 'both deliveries acknowledged');
          assert.deepEqual(committed, ['first'], 'one delivery committed its effects');
          assert.deepEqual(h.transport.broker.deadLetters('orders'), []);
        },
      );
    }

    it(
      'a consumer with an inbox in a host without a job store fails at start, naming the fix',
      T,
      async () => {
        const h = messagingHost({
          transports: { memory: inMemoryTransport() },
          consumers: [
            defineConsumer({
              name: 'ship',
              transport: 'memory',
              source: { name: 'orders' },
              message: OrderPlaced,
              inbox: true,
              handle: async () => {},
            }),
          ],
        });
        await expectRejection(h.host.start(), ErrorCodes.HOST_START_FAILED);
        const lines = h.logs.lines.map((l) => JSON.stringify(l)).join('\n');
        assert.match(lines, /HW_INBOX_UNAVAILABLE|has an inbox/);
      },
    );
  });
}

/** Registers the outbox scenarios for one kind of store. */
export function describeOutbox(storeName: string, backend: OutboxBackend): void {
  describe(`transactional outbox (${storeName})`, () => {
    const made: Array<{ store: JobStore & OutboxStore; hosts: MessagingHost[] }> = [];
    afterEach(async () => {
      for (const { store, hosts } of made.splice(0).reverse()) {
        for (const h of hosts) await h.host.stop();
        await backend.destroy(store);
      }
    });

    /** A started host with the jobs store `store` (worker off) and messaging on `transport`. */
    async function host(
      store: JobStore & OutboxStore,
      transport: Transport,
      outbox: OutboxSettings = FAST,
    ): Promise<MessagingHost> {
      const h = messagingHost({
        transports: { memory: transport },
        outbox,
        configure: (builder) => addJobs(builder, { jobs: [], store, worker: false }),
      });
      await h.host.start();
      made.at(-1)!.hosts.push(h);
      return h;
    }

    async function fresh(): Promise<JobStore & OutboxStore> {
      const store = await backend.create();
      made.push({ store, hosts: [] });
      await store.migrate();
      return store;
    }

    it(
      'a message sent with tx is published only after the commit, once; a rollback publishes nothing',
      T,
      async () => {
        const store = await fresh();
        const broker = new InMemoryBroker();
        const log: Published[] = [];
        const { transport } = recording(broker, log);
        const { publisher } = await host(store, transport);

        const rolledBack = await backend.begin(store);
        const lost = await publisher.send(OrderPlaced, { orderId: 'o-0' }, { tx: rolledBack.tx });
        await rolledBack.rollback();

        const app = await backend.begin(store);
        const id = await publisher.send(OrderPlaced, { orderId: 'o-1' }, { tx: app.tx, key: 'c-1' });
        // Not before the commit, whatever the relay does meanwhile (it polls every 50 ms).
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.equal(log.length, 0, 'nothing published before the commit');
        await app.commit();
        await waitFor(() => log.length > 0 || undefined, 'the committed message to be published');
        await waitFor(async () => (await store.countOutbox()).unsent === 0 || undefined, 'marked sent');
        assert.deepEqual(
          ids(log),
          [id],
          'published once, with the id send returned; the rolled-back one never',
        );
        assert.notEqual(lost, id);
        const [m] = log[0]!.messages;
        assert.equal(log[0]!.destination, 'orders');
        assert.equal(m!.key, 'c-1');
        assert.equal(m!.headers['hostwork-type'], 'order-placed');
        assert.deepEqual(JSON.parse(new TextDecoder().decode(m!.body)), { orderId: 'o-1' });
        assert.equal(broker.depth('orders').ready, 1, 'the broker holds it');
      },
    );

    it('sendMany with tx appends every message in one go; invalid payloads write nothing', T, async () => {
      const store = await fresh();
      const broker = new InMemoryBroker();
      const log: Published[] = [];
      const { transport } = recording(broker, log);
      const { publisher } = await host(store, transport);
      const app = await backend.begin(store);
      await expectRejection(
        publisher.sendMany(
          OrderPlaced,
          [{ payload: { orderId: 'a' } }, { payload: { orderId: 7 as never } }],
          {
            tx: app.tx,
          },
        ),
        ErrorCodes.MESSAGE_INVALID_PAYLOAD,
      );
      const sent = await publisher.sendMany(
        OrderPlaced,
        [{ payload: { orderId: 'a' } }, { payload: { orderId: 'b' } }],
        { tx: app.tx },
      );
      await app.commit();
      await waitFor(() => ids(log).length === 2 || undefined, 'both published');
      assert.deepEqual(ids(log), sent);
    });

    it(
      'the relay retries a failing publish with backoff, then publishes it with the same id',
      T,
      async () => {
        const store = await fresh();
        const broker = new InMemoryBroker();
        const log: Published[] = [];
        const rec = recording(broker, log);
        rec.behave((call) => (call <= 2 ? 'fail' : 'ok'));
        const { publisher, logs } = await host(store, rec.transport);
        const app = await backend.begin(store);
        const id = await publisher.send(OrderPlaced, { orderId: 'o-1' }, { tx: app.tx });
        await app.commit();
        await waitFor(() => log.length > 0 || undefined, 'published after two failures');
        await waitFor(async () => (await store.countOutbox()).unsent === 0 || undefined, 'marked sent');
        assert.deepEqual(ids(log), [id]);
        assert.ok(
          logs.lines.some((l) => /could not publish 1 message\(s\).*attempt 2/.test(String(l.msg))),
          'the second failure is logged with its attempt',
        );
      },
    );

    it(
      'a relay dying mid-batch: another takes over after its lease; per key in order, duplicates with the same id',
      T,
      async () => {
        const store = await fresh();
        const broker = new InMemoryBroker();
        const log: Published[] = [];
        const dying = recording(broker, log);
        // Publish calls 1-2 go through, the 3rd reaches the broker and then never returns: the relay "dies" there.
        dying.behave((call) => (call < 3 ? 'ok' : 'hang'));
        const a = await host(store, dying.transport, { ...FAST, leaseMs: 500, batchSize: 50 });
        // Alternating destinations make every message its own publish call; keys k1 and k2 interleave.
        const app = await backend.begin(store);
        const appended: Array<{ id: string; key: string }> = [];
        for (let i = 0; i < 8; i++) {
          const key = i % 3 === 0 ? 'k2' : 'k1';
          const id = await a.publisher.send(
            OrderPlaced,
            { orderId: `o-${i}` },
            { tx: app.tx, key, destination: { name: i % 2 === 0 ? 'even' : 'odd' } },
          );
          appended.push({ id, key });
        }
        await app.commit();
        await waitFor(() => ids(log).length >= 3 || undefined, 'the dying relay to publish three');

        const peer = await backend.peer(store);
        const log2: Published[] = [];
        const taker = recording(broker, log2);
        made.at(-1)!.hosts.push(await host(peer, taker.transport, { ...FAST, leaseMs: 500 }));
        await waitFor(
          async () => (await store.countOutbox()).unsent === 0 || undefined,
          'all marked sent',
          15_000,
        );
        // The dead relay's hung publish fails at last: its lease ran out, so it publishes nothing more, and its
        // retry changes nothing (the rows are sent, and no longer its own).
        const before = ids(log).length;
        dying.wakeHung();
        await a.host.stop();
        assert.equal(ids(log).length, before, 'the relay whose lease ran out published nothing more');
        assert.deepEqual(await peer.countOutbox(), { unsent: 0, sent: 8 });

        const all = [...log, ...log2].flatMap((p) => p.messages);
        for (const key of ['k1', 'k2']) {
          const expected = appended.filter((m) => m.key === key).map((m) => m.id);
          const firsts = [...new Set(all.filter((m) => m.key === key).map((m) => m.id))];
          assert.deepEqual(firsts, expected, `${key}: first publications in append order`);
          // The taker republishes from the dead relay's first unconfirmed message on, in order.
          const taken = ids(log2).filter((id) => expected.includes(id));
          assert.deepEqual(
            taken,
            expected.slice(expected.length - taken.length),
            `${key}: the taker's in order`,
          );
        }
        assert.deepEqual(new Set(all.map((m) => m.id)), new Set(appended.map((m) => m.id)), 'nothing lost');
        const duplicates = all.length - appended.length;
        assert.ok(duplicates >= 1 && duplicates <= 8, `duplicates bounded by the batch: ${duplicates}`);
      },
    );

    it('two relays publishing at once keep each key’s order, with no duplicates', T, async () => {
      const store = await fresh();
      const broker = new InMemoryBroker();
      const log: Published[] = [];
      const first = recording(broker, log);
      const a = await host(store, first.transport, { ...FAST, batchSize: 3 });
      const peer = await backend.peer(store);
      const second = recording(broker, log); // one log: the order in which the broker got them
      made.at(-1)!.hosts.push(await host(peer, second.transport, { ...FAST, batchSize: 3 }));
      const appended: Array<{ id: string; key: string }> = [];
      for (let round = 0; round < 4; round++) {
        const app = await backend.begin(store);
        for (let i = 0; i < 15; i++) {
          const key = `k${i % 4}`;
          const id = await a.publisher.send(OrderPlaced, { orderId: `o-${round}-${i}` }, { tx: app.tx, key });
          appended.push({ id, key });
        }
        await app.commit();
      }
      await waitFor(async () => (await peer.countOutbox()).unsent === 0 || undefined, 'all sent', 15_000);
      const all = log.flatMap((p) => p.messages);
      assert.equal(all.length, appended.length, 'each published once');
      for (const key of ['k0', 'k1', 'k2', 'k3']) {
        assert.deepEqual(
          all.filter((m) => m.key === key).map((m) => m.id),
          appended.filter((m) => m.key === key).map((m) => m.id),
          `${key} in append order`,
        );
      }
    });

    it('send with tx names the fix when the host has no job store', T, async () => {
      const h = messagingHost({ transports: { memory: inMemoryTransport() } });
      await h.host.start();
      try {
        await expectRejection(
          h.publisher.send(OrderPlaced, { orderId: 'x' }, { tx: {} }),
          ErrorCodes.OUTBOX_UNAVAILABLE,
          'no job store',
          'addJobs',
        );
      } finally {
        await h.host.stop();
      }
    });
  });
}
