/**
 * The transport conformance suite: one set of cases every `Transport` adapter must pass unchanged, run with the real
 * broker (as the store conformance suite is run against every JobStore). An adapter's test file calls:
 *
 * ```ts
 * import { transportConformance } from '../../hostwork/test/transport-conformance/transport-conformance.ts';
 * transportConformance('rabbitmq', async () => {
 *   const queue = `conformance-${randomUUID()}`;
 *   return {
 *     transport: () => rabbitmqTransport({ url }),          // a new connection each call
 *     source: { name: queue },                              // fresh and empty for this case
 *     deadLetters: () => readDeadLetterQueue(queue),        // what the broker dead-lettered from it
 *     lockMs: undefined,                                    // set where deliveries carry an expiring lock
 *     supportsDelay: true,                                  // false: retries are checked to come back, not when
 *     restartBroker: () => restartRabbit(),                 // optional: runs the broker-restart case
 *     processTransport: { module, export: 'rabbitmqTransport', options: { url } }, // optional: the SIGKILL case
 *     cleanup: () => deleteQueues(queue),                   // optional
 *   };
 * }, { locks: false, restart: true, kill: true });
 * ```
 *
 * The factory is called once per case. `transport()` is called once per consumer host and once for publishing; the
 * suite closes every transport it gets (a consumer host closes its own when it stops). Cases that need a capability
 * the target does not declare in `capabilities` are not registered. The cases, with the engine over
 * the adapter: ack only after success; retry after the backoff with the attempt header counted; dead letter after the
 * last attempt with the reason, last error and history headers; poison dead-lettered at once; a lock kept while a
 * handler outlives it; concurrency and prefetch bounds; the consumer's lag where the transport reports one; graceful shutdown with running and prefetched messages
 * (nothing lost, nothing settled twice); a broker restart mid-stream (nothing lost); SIGKILL of a consumer process
 * with handlers running (nothing lost; only what was running or not yet acknowledged runs again).
 *
 * The SIGKILL case runs consumer-process.ts in a child process (the same Node, `--conditions=hostwork-source`), which
 * builds its transport from the target's `processTransport`: the module URL and export name of a function returning
 * the transport from JSON options, e.g. `{ module: import.meta.resolve('@hostwork/rabbitmq'), export:
 * 'rabbitmqTransport', options: { url } }`. It is registered only with the `kill` capability.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HealthCheckService } from '../../src/health/health-check-service.ts';
import { MessageConsumers } from '../../src/messaging/message-consumers.ts';
import { ATTEMPT_HEADER, DEAD_LETTER_HEADERS, type Transport } from '../../src/messaging/transport.ts';
import type { ConsumerProcessSpec } from './consumer-process.ts';
import {
  assertSettledOnce,
  CASE,
  type ConsumerHost,
  counting,
  type DeadLetteredMessage,
  publishItems,
  startConsumer,
  type TransportConformanceFactory,
  type TransportConformanceTarget,
  until,
} from './harness.ts';

export type {
  DeadLetteredMessage,
  ProcessTransport,
  TransportConformanceFactory,
  TransportConformanceTarget,
} from './harness.ts';

/** Runs `test` with a fresh target and a publishing transport, cleaning both up whatever happens. */
async function withTarget(
  factory: TransportConformanceFactory,
  test: (target: TransportConformanceTarget, publisher: Transport) => Promise<void>,
): Promise<void> {
  const target = await factory();
  const publisher = target.transport();
  try {
    await test(target, publisher);
  } finally {
    await publisher.close();
    await target.cleanup?.();
  }
}

/**
 * Starts a consumer with `maxRedeliveries` and waits until message `id` is dead-lettered as `redeliveries-exhausted`
 * without its handler having run; returns the dead letter.
 */
async function deadLetteredUnrun(
  target: TransportConformanceTarget,
  id: string | undefined,
  maxRedeliveries: number,
): Promise<DeadLetteredMessage> {
  const ran: number[] = [];
  const consumer = await startConsumer(target.transport(), target.source, {
    maxRedeliveries,
    handle(m) {
      ran.push(m.n);
    },
  });
  try {
    const dead = await until(async () => {
      const letters = await target.deadLetters();
      return letters.find((d) => d.id === id);
    }, 'the dead letter');
    assert.equal(dead.headers[DEAD_LETTER_HEADERS.reason], 'redeliveries-exhausted');
    assert.deepEqual(ran, [], 'not run again');
    return dead;
  } finally {
    await consumer.host.stop();
  }
}

/**
 * What a target can do, declared up front: a case needing a capability the target lacks is not registered at all
 * (rather than reported as skipped), and a target that declares one must provide it in every factory result.
 */
export interface TransportCapabilities {
  /** Deliveries carry an expiring lock (`lockMs` set in the factory's result). */
  readonly locks: boolean;
  /** The broker can be restarted by the test (`restartBroker` set in the factory's result). */
  readonly restart: boolean;
  /**
   * The transport can be built in another process (`processTransport` set in the factory's result): runs the case
   * that SIGKILLs a consumer process. False for a transport whose broker lives in the test process (in-memory).
   */
  readonly kill: boolean;
  /**
   * The broker counts deliveries per message and the adapter reports them as `Delivery.redeliveries` (NATS, SQS,
   * RabbitMQ quorum queues, Service Bus), or the adapter counts them (RabbitMQ classic queues): runs the case of a message
   * redelivered past `maxRedeliveries`.
   */
  readonly redeliveryCount?: boolean;
}

/** `it` when `registered`, else nothing: a case the target cannot run is left out, not reported as skipped. */
function itIf(registered: boolean): typeof it {
  return registered ? it : ((() => {}) as unknown as typeof it);
}

/** Registers the transport conformance suite for one adapter. */
export function transportConformance(
  name: string,
  factory: TransportConformanceFactory,
  capabilities: TransportCapabilities,
): void {
  describe(`${name} transport conformance`, () => {
    it(
      'acknowledges only after the handler succeeds; a failed attempt is not acknowledged',
      CASE,
      async () => {
        await withTarget(factory, async (target, publisher) => {
          const c = counting(target.transport());
          const consumer = await startConsumer(c.transport, target.source, {
            backoff: { type: 'fixed', delay: 0 },
            async handle(_m, ctx) {
              c.log.push(`start:${ctx.id}#${ctx.attempt}`);
              await new Promise((r) => setTimeout(r, 100));
              c.log.push(`end:${ctx.id}#${ctx.attempt}`);
              if (ctx.attempt === 1) throw new Error('first attempt fails');
            },
          });
          try {
            const [id] = await publishItems(publisher, target.source, [1]);
            await until(
              () => c.log.includes(`ack:${id}#2`),
              () => `the ack of the second attempt (log: ${c.log.join(' ')})`,
            );
            const relevant = c.log.filter((e) => !e.startsWith('deliver:'));
            assert.deepEqual(relevant, [
              `start:${id}#1`,
              `end:${id}#1`,
              `retry:${id}#1`,
              `start:${id}#2`,
              `end:${id}#2`,
              `ack:${id}#2`,
            ]);
            assertSettledOnce(c);
          } finally {
            await consumer.host.stop();
          }
        });
      },
    );

    it('retries after the backoff with Hostwork attempt header counting up', CASE, async () => {
      await withTarget(factory, async (target, publisher) => {
        const arrivals: Array<{ attempt: number; header: string | undefined; at: number }> = [];
        const delay = 500;
        const consumer = await startConsumer(target.transport(), target.source, {
          maxAttempts: 3,
          backoff: { type: 'fixed', delay },
          handle(_m, ctx) {
            arrivals.push({ attempt: ctx.attempt, header: ctx.headers[ATTEMPT_HEADER], at: Date.now() });
            if (ctx.attempt < 3) throw new Error(`fail ${ctx.attempt}`);
          },
        });
        try {
          await publishItems(publisher, target.source, [1]);
          await until(
            () => arrivals.length === 3,
            () => `three attempts (got ${arrivals.length})`,
          );
          assert.deepEqual(
            arrivals.map((a) => [a.attempt, a.header]),
            [
              [1, undefined],
              [2, '1'],
              [3, '2'],
            ],
          );
          if (target.supportsDelay !== false) {
            for (let i = 1; i < arrivals.length; i++) {
              const gap = arrivals[i]!.at - arrivals[i - 1]!.at;
              // Timers may fire a few ms early; the broker may deliver later, never much earlier.
              assert.ok(
                gap >= delay - 20,
                `attempt ${i + 1} came ${gap} ms after the previous one; the backoff is ${delay} ms`,
              );
            }
          }
          assert.deepEqual(await target.deadLetters(), []);
        } finally {
          await consumer.host.stop();
        }
      });
    });

    it(
      'dead-letters after the last attempt with the reason, the last error and every attempt in the headers',
      CASE,
      async () => {
        await withTarget(factory, async (target, publisher) => {
          const c = counting(target.transport());
          const consumer = await startConsumer(c.transport, target.source, {
            maxAttempts: 2,
            backoff: { type: 'fixed', delay: 0 },
            handle(_m, ctx) {
              throw new Error(`fail ${ctx.attempt}`);
            },
          });
          try {
            const [id] = await publishItems(publisher, target.source, [7]);
            const [dead] = await until(async () => {
              const list = await target.deadLetters();
              return list.length > 0 ? list : undefined;
            }, 'the dead letter');
            assert.equal(dead!.id, id);
            assert.deepEqual(JSON.parse(new TextDecoder().decode(dead!.body)), { n: 7 }, 'the body is kept');
            assert.equal(dead!.headers[DEAD_LETTER_HEADERS.reason], 'attempts-exhausted');
            assert.equal(dead!.headers[DEAD_LETTER_HEADERS.error], 'fail 2');
            const history = JSON.parse(dead!.headers[DEAD_LETTER_HEADERS.history] ?? '[]') as Array<{
              attempt: number;
              message: string;
            }>;
            assert.deepEqual(
              history.map((e) => [e.attempt, e.message]),
              [
                [1, 'fail 1'],
                [2, 'fail 2'],
              ],
            );
            assert.deepEqual(
              c.deliveries.map((d) => d.settles.join()),
              ['retry', 'deadLetter'],
            );
          } finally {
            await consumer.host.stop();
          }
        });
      },
    );

    it(
      'dead-letters poison at once, never retried: not JSON, failing the schema, an unknown type',
      CASE,
      async () => {
        await withTarget(factory, async (target, publisher) => {
          const c = counting(target.transport());
          let calls = 0;
          const consumer = await startConsumer(c.transport, target.source, {
            maxAttempts: 5,
            handle() {
              calls++;
            },
          });
          try {
            const encoder = new TextEncoder();
            await publisher.connect();
            await publisher.publish(target.source, [
              {
                id: 'not-json',
                body: encoder.encode('{oops'),
                headers: { 'hostwork-type': 'conformance-item' },
              },
              {
                id: 'bad-schema',
                body: encoder.encode('{"n":"seven"}'),
                headers: { 'hostwork-type': 'conformance-item' },
              },
              {
                id: 'unknown-type',
                body: encoder.encode('{"n":1}'),
                headers: { 'hostwork-type': 'something-else' },
              },
            ]);
            const dead = await until(async () => {
              const list = await target.deadLetters();
              return list.length === 3 ? list : undefined;
            }, 'three dead letters');
            for (const d of dead) assert.equal(d.headers[DEAD_LETTER_HEADERS.reason], 'poison', d.id);
            assert.deepEqual(dead.map((d) => d.id).sort(), ['bad-schema', 'not-json', 'unknown-type']);
            assert.equal(calls, 0);
            assert.deepEqual(
              c.deliveries.map((d) => d.settles.join()),
              ['deadLetter', 'deadLetter', 'deadLetter'],
            );
          } finally {
            await consumer.host.stop();
          }
        });
      },
    );

    itIf(capabilities.locks)(
      'keeps the lock of a handler that outlives it: delivered once',
      CASE,
      async () => {
        await withTarget(factory, async (target, publisher) => {
          const lockMs = target.lockMs;
          assert.ok(lockMs !== undefined, 'the target declares locks but its deliveries carry no lockMs');
          const c = counting(target.transport());
          const runs: number[] = [];
          const consumer = await startConsumer(c.transport, target.source, {
            concurrency: 2,
            async handle(_m, ctx) {
              runs.push(ctx.attempt);
              await new Promise((r) => setTimeout(r, lockMs * 2.5));
            },
          });
          try {
            const [id] = await publishItems(publisher, target.source, [1]);
            await until(() => c.log.includes(`ack:${id}#1`), 'the ack');
            // Past another lock period: a lost lock would have brought it back by now.
            await new Promise((r) => setTimeout(r, lockMs * 1.5));
            assert.deepEqual(runs, [1], 'the handler ran once');
            assert.equal(c.deliveries.length, 1, 'delivered once');
            assert.ok(
              c.deliveries[0]!.extends.length >= 2,
              `the lock was extended (${c.deliveries[0]!.extends.length} times)`,
            );
            assertSettledOnce(c);
          } finally {
            await consumer.host.stop();
          }
        });
      },
    );

    it(
      'reports what waits for a running consumer as its lag (consumer-lag check), or says the transport does not',
      CASE,
      async () => {
        await withTarget(factory, async (target, publisher) => {
          const transport = target.transport();
          let open!: () => void;
          const gate = new Promise<void>((resolve) => {
            open = resolve;
          });
          let started = 0;
          let handled = 0;
          const consumer = await startConsumer(transport, target.source, {
            concurrency: 1,
            async handle() {
              started++;
              await gate;
              handled++;
            },
          });
          try {
            const health = consumer.host.services.get(HealthCheckService);
            const entry = async () =>
              (await health.check({ tags: ['backlog'] })).entries['consumer-lag:conformance']!;
            if (transport.lag === undefined) {
              await publishItems(publisher, target.source, [1]);
              const e = await entry();
              assert.equal(e.status, 'healthy');
              assert.match(e.description ?? '', /does not report a lag/);
              open();
              await until(() => handled === 1, 'the message handled');
              return;
            }
            await publishItems(publisher, target.source, [1, 2, 3, 4, 5, 6]);
            await until(() => started === 1, 'the first handler');
            // Five wait behind the one running. Brokers count differently (docs/health.md): one or two may have been
            // pulled ahead within the prefetch (NATS), the running one may count until committed (Kafka).
            const waiting = await until(async () => {
              const e = await entry();
              const lag = e.data?.lag;
              return typeof lag === 'number' && lag >= 3 ? e : undefined;
            }, 'a lag of at least 3 reported');
            assert.equal(waiting.status, 'healthy', 'below the default maxLag of 1000');
            assert.ok(
              (waiting.data!.lag as number) <= 6,
              `at most the six published, got ${waiting.data!.lag}`,
            );
            const read = await consumer.host.services.get(MessageConsumers).lag('conformance');
            assert.equal(read.running, true);
            assert.ok(read.lag !== undefined && read.lag.messages >= 3 && read.lag.messages <= 6);
            open();
            await until(() => handled === 6, 'every message handled');
            await until(async () => (await entry()).data?.lag === 0, 'no lag once every message is handled');
          } finally {
            open();
            await consumer.host.stop();
          }
        });
      },
    );

    it(
      'runs at most `concurrency` handlers and holds at most that many deliveries unsettled',
      CASE,
      async () => {
        await withTarget(factory, async (target, publisher) => {
          const c = counting(target.transport());
          let running = 0;
          let most = 0;
          const handled = new Set<string>();
          const consumer = await startConsumer(c.transport, target.source, {
            concurrency: 3,
            async handle(_m, ctx) {
              running++;
              most = Math.max(most, running);
              await new Promise((r) => setTimeout(r, 50));
              running--;
              handled.add(ctx.id);
            },
          });
          try {
            const ids = await publishItems(
              publisher,
              target.source,
              Array.from({ length: 15 }, (_, i) => i),
            );
            await until(
              () => handled.size === 15,
              () => `fifteen handled (got ${handled.size})`,
            );
            assert.equal(most, 3, 'never more than 3 handlers at once, and 3 reached');
            assert.ok(
              c.maxUnsettled <= 3,
              `at most 3 deliveries unsettled at once (prefetch), saw ${c.maxUnsettled}`,
            );
            assert.deepEqual([...handled].sort(), [...ids].sort());
            assertSettledOnce(c);
          } finally {
            await consumer.host.stop();
          }
        });
      },
    );

    it(
      'shuts down gracefully: running handlers finish or are released, nothing lost, nothing settled twice',
      CASE,
      async () => {
        await withTarget(factory, async (target, publisher) => {
          const c = counting(target.transport());
          const started: string[] = [];
          const ids = await publishItems(publisher, target.source, [1, 2, 3, 4, 5, 6]);
          const first = await startConsumer(
            c.transport,
            target.source,
            {
              concurrency: 2,
              async handle(m, ctx) {
                started.push(ctx.id);
                // Odd items finish within the grace; even ones ignore their signal and outlive it.
                if (m.n % 2 === 1) await new Promise((r) => setTimeout(r, 100));
                else await new Promise(() => {});
              },
            },
            2_000,
          );
          await until(() => started.length >= 2, 'two handlers running');
          await first.host.stop();
          assertSettledOnce(c);
          for (const d of c.deliveries)
            assert.equal(d.settles.length, 1, `delivery ${d.id}#${d.attempt} was settled`);
          const acked = new Set(c.deliveries.filter((d) => d.settles[0] === 'ack').map((d) => d.id));
          assert.ok(
            c.deliveries.some((d) => d.settles[0] === 'release'),
            'a handler outliving the grace was released',
          );
          // A second consumer gets everything not acknowledged: nothing was lost.
          const handled = new Set<string>();
          const second = await startConsumer(target.transport(), target.source, {
            concurrency: 4,
            handle(_m, ctx) {
              handled.add(ctx.id);
            },
          });
          try {
            const rest = ids.filter((id) => !acked.has(id));
            await until(
              () => rest.every((id) => handled.has(id)),
              () => `the ${rest.length} unacknowledged messages (got ${[...handled].join(', ')})`,
            );
            for (const id of acked) assert.ok(!handled.has(id), `${id} was acknowledged and came again`);
          } finally {
            await second.host.stop();
          }
        });
      },
    );

    itIf(capabilities.redeliveryCount === true)(
      'dead-letters a message delivered more than maxRedeliveries times without a settle, without running it',
      CASE,
      async () => {
        await withTarget(factory, async (target, publisher) => {
          const [id] = await publishItems(publisher, target.source, [1]);
          // A consumer that never settles it the way the engine would: each delivery is handed back unsettled (the
          // broker counts a release as it counts an expired lock or a dead consumer's delivery).
          const raw = target.transport();
          const counts: Array<number | undefined> = [];
          await raw.connect();
          const subscription = await raw.subscribe(target.source, {
            prefetch: 1,
            onDelivery(d) {
              counts.push(d.redeliveries);
              // Three releases; a later delivery stays unsettled and goes back when the connection closes.
              if (counts.length <= 3) void d.release();
            },
          });
          await until(() => counts.length >= 3, 'three deliveries of the message');
          await subscription.stop();
          await raw.close();
          assert.deepEqual(counts.slice(0, 3), [0, 1, 2], 'the broker counts each delivery');
          // Three deliveries or more so far (a hand-back after the stop may add some): the next is over 1.
          const dead = await deadLetteredUnrun(target, id, 1);
          const times = /^Delivered (\d+) times without being settled/.exec(
            dead.headers[DEAD_LETTER_HEADERS.error] ?? '',
          );
          assert.ok(times, `the error says why: ${dead.headers[DEAD_LETTER_HEADERS.error]}`);
          assert.ok(Number(times[1]) >= 4, `delivered ${times[1]} times: the three releases counted`);
        });
      },
    );

    itIf(capabilities.redeliveryCount === true)(
      'dead-letters a message whose consumers all die holding it, once redelivered past maxRedeliveries',
      CASE,
      async () => {
        await withTarget(factory, async (target, publisher) => {
          const [id] = await publishItems(publisher, target.source, [1]);
          // Three consumers in turn take it and go away without settling it (the connection closed under the
          // delivery, as when the process dies): the broker redelivers it once the connection or the lock is gone.
          const counts: Array<number | undefined> = [];
          for (let round = 1; round <= 3; round++) {
            const dying = target.transport();
            await dying.connect();
            let got = false;
            const subscription = await dying.subscribe(target.source, {
              prefetch: 1,
              onDelivery(d) {
                if (got) return;
                got = true;
                counts.push(d.redeliveries);
              },
            });
            await until(() => got, `delivery ${round} of the message`);
            await subscription.stop();
            await dying.close();
          }
          assert.deepEqual(counts, [0, 1, 2], 'each unsettled delivery is counted');
          const dead = await deadLetteredUnrun(target, id, 2);
          assert.match(
            dead.headers[DEAD_LETTER_HEADERS.error] ?? '',
            /^Delivered 4 times without being settled \(more than maxRedeliveries 2 redeliveries\): the consumer process likely died/,
          );
        });
      },
    );

    itIf(capabilities.kill && capabilities.redeliveryCount === true)(
      'dead-letters a message that SIGKILLs every consumer process handling it, once redelivered past maxRedeliveries',
      { timeout: 120_000 },
      async () => {
        await withTarget(factory, async (target, publisher) => {
          const described = target.processTransport;
          assert.ok(described, 'the target declares the kill capability but gives no processTransport');
          const [id] = await publishItems(publisher, target.source, [1]);
          const dir = await mkdtemp(join(tmpdir(), 'hostwork-poison-'));
          const file = join(dir, 'consumer.log');
          await writeFile(file, '');
          const spec: ConsumerProcessSpec = {
            processTransport: described,
            source: target.source,
            file,
            handleMs: 0,
            concurrency: 1,
            crash: true,
            maxRedeliveries: 2,
          };
          const starts = async () =>
            (await readFile(file, 'utf8')).split('\n').filter((l) => l.startsWith('start ')).length;
          let deaths = 0;
          let dead: Awaited<ReturnType<typeof target.deadLetters>>[number] | undefined;
          try {
            // One consumer process after another, until one dead-letters the message instead of dying with it.
            while (dead === undefined) {
              assert.ok(deaths <= 3, `still not dead-lettered after ${deaths} consumer processes died`);
              const child = spawn(
                process.execPath,
                [
                  '--conditions=hostwork-source',
                  fileURLToPath(new URL('./consumer-process.ts', import.meta.url)),
                  JSON.stringify(spec),
                ],
                { stdio: ['ignore', 'ignore', 'pipe'] },
              );
              let stderr = '';
              child.stderr.on('data', (chunk) => {
                stderr += String(chunk);
              });
              const exited = once(child, 'exit');
              try {
                dead = await until(
                  async () => {
                    if (child.exitCode !== null || child.signalCode !== null) return 'exited' as const;
                    const letters = await target.deadLetters();
                    return letters.find((d) => d.id === id);
                  },
                  () =>
                    `consumer process ${deaths + 1} to die or dead-letter the message (stderr: ${stderr})`,
                  60_000,
                ).then((r) => (r === 'exited' ? undefined : r));
              } finally {
                if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
                const [, signal] = await exited;
                assert.equal(signal, 'SIGKILL', `the consumer process ended by ${signal}: ${stderr}`);
              }
              if (dead === undefined) deaths++;
            }
            assert.equal(deaths, 3, 'the first delivery and 2 redeliveries ran (and killed their process)');
            assert.equal(await starts(), 3, 'the 4th delivery was not run');
            assert.equal(dead.headers[DEAD_LETTER_HEADERS.reason], 'redeliveries-exhausted');
            assert.match(
              dead.headers[DEAD_LETTER_HEADERS.error] ?? '',
              /^Delivered 4 times without being settled \(more than maxRedeliveries 2 redeliveries\)/,
            );
          } finally {
            await rm(dir, { recursive: true, force: true });
          }
        });
      },
    );

    itIf(capabilities.restart)('loses nothing when the broker restarts mid-stream', CASE, async () => {
      await withTarget(factory, async (target, publisher) => {
        const restart = target.restartBroker;
        assert.ok(restart, 'the target declares broker restarts but gives no restartBroker');
        const c = counting(target.transport());
        const handled = new Set<string>();
        let restarted: Promise<void> | undefined;
        const consumer = await startConsumer(c.transport, target.source, {
          concurrency: 2,
          async handle(_m, ctx) {
            if (handled.size >= 3) restarted ??= restart.call(target);
            await new Promise((r) => setTimeout(r, 20));
            handled.add(ctx.id);
          },
        });
        try {
          const ids = await publishItems(
            publisher,
            target.source,
            Array.from({ length: 10 }, (_, i) => i),
          );
          await until(() => restarted !== undefined, 'the restart');
          await restarted;
          // The publisher's connection may have been cut too: publish the rest after the restart on a new one.
          const late = target.transport();
          try {
            ids.push(...(await publishItems(late, target.source, [10, 11], 'late')));
          } finally {
            await late.close();
          }
          await until(
            () => ids.every((id) => handled.has(id)),
            () => `all ${ids.length} handled (missing ${ids.filter((id) => !handled.has(id)).join(', ')})`,
          );
          assertSettledOnce(c);
        } finally {
          await consumer.host.stop();
        }
      });
    });

    itIf(capabilities.kill)(
      'loses nothing when the consumer process is SIGKILLed with handlers running; acknowledged messages do not run again',
      CASE,
      async (t) => {
        await withTarget(factory, async (target, publisher) => {
          const described = target.processTransport;
          assert.ok(described, 'the target declares the kill capability but gives no processTransport');
          const ids = await publishItems(
            publisher,
            target.source,
            Array.from({ length: 40 }, (_, i) => i),
          );
          const dir = await mkdtemp(join(tmpdir(), 'hostwork-kill-'));
          const file = join(dir, 'consumer.log');
          await writeFile(file, '');
          const spec: ConsumerProcessSpec = {
            processTransport: described,
            source: target.source,
            file,
            handleMs: 250, // long enough that handlers seen running still run at the kill, under load too
            concurrency: 4,
          };
          const child = spawn(
            process.execPath,
            [
              '--conditions=hostwork-source',
              fileURLToPath(new URL('./consumer-process.ts', import.meta.url)),
              JSON.stringify(spec),
            ],
            { stdio: ['ignore', 'ignore', 'pipe'] },
          );
          let stderr = '';
          child.stderr.on('data', (chunk) => {
            stderr += String(chunk);
          });
          const exited = once(child, 'exit');
          let second: ConsumerHost | undefined;
          try {
            const read = async () => parseConsumerLog(await readFile(file, 'utf8'));
            await until(
              async () => {
                if (child.exitCode !== null) assert.fail(`the consumer process exited early: ${stderr}`);
                // Kill while handlers run: between two prefetched batches none may be (the next ones on their way).
                const log = await read();
                return log.acked.size >= 8 && [...log.started].some((id) => !log.acked.has(id));
              },
              () => `the consumer process to acknowledge 8 messages with more running (stderr: ${stderr})`,
            );
            child.kill('SIGKILL');
            const [, signal] = await exited;
            assert.equal(
              signal,
              'SIGKILL',
              `the consumer process ended by ${signal}, not SIGKILL: ${stderr}`,
            );
            const first = await read();
            const unacked = ids.filter((id) => !first.acked.has(id));
            assert.ok(
              unacked.length > 0,
              'the kill came before the consumer process had acknowledged everything',
            );
            const inFlight = [...first.started].filter((id) => !first.acked.has(id));
            assert.ok(inFlight.length > 0, 'handlers were running (or not yet acknowledged) at the kill');

            const c = counting(target.transport());
            const handled: string[] = [];
            second = await startConsumer(c.transport, target.source, {
              concurrency: 4,
              handle(_m, ctx) {
                handled.push(ctx.id);
              },
            });
            // Everything whose handler had not finished comes back (in-flight ones on SQS once their visibility runs
            // out). A message that finished but whose "acked" line was not written may or may not: its ack may have
            // reached the broker in the instant before the kill. Either way it is not lost (checked below).
            const unfinished = unacked.filter((id) => !first.ended.has(id));
            await until(
              () => unfinished.every((id) => handled.includes(id)),
              () =>
                `the ${unfinished.length} messages not finished before the kill (missing ${unfinished.filter((id) => !handled.includes(id)).join(', ')})`,
            );
            await until(
              () => c.unsettled === 0 && c.deliveries.length === handled.length,
              'the second consumer to settle what it ran',
            );
            for (const id of ids) {
              assert.ok(first.ended.has(id) || handled.includes(id), `${id} was never handled to completion`);
            }
            const again = handled.filter((id) => first.acked.has(id));
            assert.deepEqual(again, [], 'messages the first process acknowledged ran again');
            const duplicates = handled.filter((id) => first.started.has(id));
            t.diagnostic(
              `acknowledged before the kill: ${first.acked.size}/${ids.length}; started but not acknowledged: ${inFlight.length}; run again: ${duplicates.length}`,
            );
            // Only what was running or finished-but-unacknowledged at the kill may run twice.
            for (const id of duplicates) assert.ok(inFlight.includes(id), `${id} ran again`);
            assert.equal(new Set(handled).size, handled.length, 'the second consumer ran each message once');
            assertSettledOnce(c);
          } finally {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
            await exited;
            await second?.host.stop();
            await rm(dir, { recursive: true, force: true });
          }
        });
      },
    );
  });
}

/** What the consumer process wrote: the ids it started, finished and saw acknowledged. */
function parseConsumerLog(text: string): {
  started: Set<string>;
  ended: Set<string>;
  acked: Set<string>;
} {
  const log = { started: new Set<string>(), ended: new Set<string>(), acked: new Set<string>() };
  for (const entry of text.split('\n')) {
    const [kind, id] = entry.split(' ');
    if (id === undefined) continue;
    if (kind === 'start') log.started.add(id);
    else if (kind === 'end') log.ended.add(id);
    else if (kind === 'acked') log.acked.add(id);
  }
  return log;
}
