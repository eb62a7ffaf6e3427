import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { setTimeout as delay, setImmediate as nextTurn } from 'node:timers/promises';
import { ErrorCodes, HostworkError } from '../../src/errors.ts';
import { HostServiceCollection } from '../../src/hosting/index.ts';
import { createLoggerFactory } from '../../src/logging/index.ts';
import {
  addTaskQueue,
  BackgroundTaskQueue,
  type BackgroundTaskQueueOptions,
  type TaskQueueOptions,
  TaskQueueService,
  type WorkItem,
} from '../../src/services/index.ts';
import { aborted, captureLogs, gate, Levels, ScopedProbe, testBuilder, waitFor, within } from './helpers.ts';

function isCode(code: string): (e: unknown) => boolean {
  return (e) => e instanceof HostworkError && e.code === code;
}

/** A work item named `name` (the name shows in logs) that records that it ran. */
function recorder(name: string, ran: string[]): WorkItem {
  return { [name]: () => void ran.push(name) }[name]!;
}

function standaloneQueue(options: BackgroundTaskQueueOptions) {
  const { destination, lines } = captureLogs();
  const logger = createLoggerFactory({ destination, level: 'debug' }).create('test');
  return { queue: new BackgroundTaskQueue(options, logger), logs: lines };
}

/** A host with the task queue; items can be enqueued before start, so they are all waiting when consumers begin. */
function queueHost(options: TaskQueueOptions, shutdownTimeout = 5_000) {
  const { builder, logs } = testBuilder(shutdownTimeout);
  builder.services.addScoped(ScopedProbe);
  addTaskQueue(builder.services, options);
  const host = builder.build();
  return {
    host,
    logs,
    queue: host.services.get(BackgroundTaskQueue),
    consumer: host.services.get(TaskQueueService),
  };
}

describe('BackgroundTaskQueue', () => {
  test("fullMode 'wait' (the default): enqueue waits for room, then the item is queued in order", async () => {
    const { queue } = standaloneQueue({ capacity: 2 });
    assert.equal(queue.fullMode, 'wait');
    const ran: string[] = [];
    await queue.enqueue(recorder('a', ran));
    await queue.enqueue(recorder('b', ran));
    let admitted = false;
    const third = queue.enqueue(recorder('c', ran)).then(() => {
      admitted = true;
    });
    await delay(20);
    assert.equal(admitted, false, 'blocked while full');
    assert.equal(queue.size, 2);

    const first = await queue.dequeue();
    await third;
    assert.equal(admitted, true, 'admitted once an item was taken');
    assert.equal(queue.size, 2);
    for (const item of [first, await queue.dequeue(), await queue.dequeue()]) {
      await item?.({} as never);
    }
    assert.deepEqual(ran, ['a', 'b', 'c']);
    assert.equal(queue.dropped, 0);
  });

  test("fullMode 'wait': a waiting producer can give up through its signal", async () => {
    const { queue } = standaloneQueue({ capacity: 1 });
    await queue.enqueue(() => {});
    const controller = new AbortController();
    const waiting = queue.enqueue(() => {}, { signal: controller.signal });
    controller.abort(new Error('gave up'));
    await assert.rejects(waiting, /gave up/);
    await queue.dequeue();
    assert.equal(queue.size, 0, 'the abandoned item was not admitted');
  });

  test("fullMode 'reject': enqueue rejects with HW_QUEUE_FULL naming the capacity and the fix", async () => {
    const { queue } = standaloneQueue({ capacity: 2, fullMode: 'reject' });
    await queue.enqueue(() => {});
    await queue.enqueue(() => {});
    await assert.rejects(
      queue.enqueue(() => {}),
      (e: unknown) =>
        isCode(ErrorCodes.QUEUE_FULL)(e) &&
        /capacity 2/.test((e as Error).message) &&
        /Fix:/.test((e as Error).message),
    );
    assert.equal(queue.size, 2);
  });

  test('close(): producers waiting for room and later enqueues reject with HW_QUEUE_CLOSED; consumers get undefined', async () => {
    const { queue } = standaloneQueue({ capacity: 1 });
    const idle = standaloneQueue({}).queue;
    const waitingConsumer = idle.dequeue();
    assert.equal(idle.close(), 0);
    assert.equal(await waitingConsumer, undefined);

    await queue.enqueue(() => {});
    const waitingProducer = queue.enqueue(() => {});
    assert.equal(queue.close(), 1, 'the queued item is dropped');
    await assert.rejects(waitingProducer, isCode(ErrorCodes.QUEUE_CLOSED));
    await assert.rejects(
      queue.enqueue(() => {}),
      (e: unknown) => isCode(ErrorCodes.QUEUE_CLOSED)(e) && /use durable jobs/i.test((e as Error).message),
    );
    assert.equal(queue.dropped, 1);
    assert.equal(await queue.dequeue(), undefined);
  });

  test('validates its options', () => {
    const services = new HostServiceCollection();
    const invalid = (options: unknown, code: string, message: RegExp) =>
      assert.throws(
        () => addTaskQueue(services, options as TaskQueueOptions),
        (e: unknown) => isCode(code)(e) && message.test((e as Error).message),
      );
    invalid({ capacity: 0 }, ErrorCodes.INVALID_OPTION, /'capacity' must be an integer >= 1, got 0/);
    invalid({ capacity: 2.5 }, ErrorCodes.INVALID_OPTION, /'capacity'/);
    invalid(
      { fullMode: 'drop' },
      ErrorCodes.INVALID_OPTION,
      /'fullMode' must be one of 'wait', 'dropOldest'/,
    );
    invalid({ concurrency: 0 }, ErrorCodes.INVALID_OPTION, /'concurrency' must be an integer >= 1/);
    invalid({ capacty: 10 }, ErrorCodes.UNKNOWN_OPTION, /Did you mean 'capacity'/);
    assert.throws(
      () => standaloneQueue({ fullMode: 'dropWrite' as never }),
      isCode(ErrorCodes.INVALID_OPTION),
    );
  });
});

describe('TaskQueueService', () => {
  beforeEach(() => ScopedProbe.reset());

  for (const [fullMode, expected, droppedItem] of [
    ['dropOldest', ['b', 'c'], 'a'],
    ['dropNewest', ['a', 'c'], 'b'],
  ] as const) {
    test(`fullMode '${fullMode}' drops '${droppedItem}' of a, b, c with capacity 2, and logs it`, async () => {
      const { host, logs, queue, consumer } = queueHost({ capacity: 2, fullMode });
      const ran: string[] = [];
      for (const name of ['a', 'b', 'c']) await queue.enqueue(recorder(name, ran));
      assert.equal(queue.dropped, 1);
      await host.start();
      await waitFor(() => consumer.completed === 2, 'two items');
      await host.stop();

      assert.deepEqual(ran, expected);
      const warning = logs.find(
        (l) => l.level === Levels.warn && l.category === 'Hostwork.BackgroundTaskQueue',
      );
      assert.equal(warning?.item, droppedItem);
      assert.equal(warning?.dropped, 1);
    });
  }

  test("fullMode 'wait' in a host: a producer is held back until the consumer makes room", async () => {
    const { host, queue, consumer } = queueHost({ capacity: 1, fullMode: 'wait' });
    const release = gate();
    const ran: string[] = [];
    await host.start();
    await queue.enqueue(async () => {
      await release.promise;
      ran.push('first');
    });
    await waitFor(() => consumer.running === 1, 'the first item to run');
    await queue.enqueue(recorder('second', ran)); // fills the queue
    let admitted = false;
    const third = queue.enqueue(recorder('third', ran)).then(() => {
      admitted = true;
    });
    await delay(30);
    assert.equal(admitted, false);
    release.open();
    await within(third, 'the third item to be admitted');
    await waitFor(() => consumer.completed === 3, 'all items');
    await host.stop();
    assert.deepEqual(ran, ['first', 'second', 'third']);
  });

  test('runs at most `concurrency` items at once (default 1)', async () => {
    for (const concurrency of [undefined, 3]) {
      const { host, queue, consumer } = queueHost(concurrency === undefined ? {} : { concurrency });
      let active = 0;
      let maxActive = 0;
      for (let i = 0; i < 9; i++) {
        await queue.enqueue(async () => {
          active++;
          maxActive = Math.max(maxActive, active);
          await delay(30);
          active--;
        });
      }
      await host.start();
      await waitFor(() => consumer.completed === 9, 'nine items');
      await host.stop();
      assert.equal(maxActive, concurrency ?? 1, `concurrency ${concurrency}`);
      assert.equal(consumer.concurrency, concurrency ?? 1);
    }
  });

  test('runs each item in its own DI scope, disposed when the item ends', async () => {
    const { host, queue, consumer } = queueHost({ concurrency: 2 });
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) {
      await queue.enqueue(async ({ services }) => {
        const probe = services.get(ScopedProbe);
        assert.equal(services.get(ScopedProbe), probe);
        ids.push(probe.id);
        await nextTurn();
      });
    }
    await host.start();
    await waitFor(() => consumer.completed === 4, 'four items');
    assert.equal(ScopedProbe.disposed, 4, 'every scope disposed, before the host stops');
    await host.stop();
    assert.equal(new Set(ids).size, 4);
  });

  test('logs a failing item with its stack and goes on with the next one', async () => {
    const { host, logs, queue, consumer } = queueHost({});
    const ran: string[] = [];
    await queue.enqueue(function explode() {
      throw new Error('item exploded');
    });
    await queue.enqueue(recorder('after', ran));
    await host.start();
    await waitFor(() => consumer.completed === 1, 'the next item');
    await host.stop();

    assert.deepEqual(ran, ['after']);
    assert.equal(consumer.failed, 1);
    const error = logs.find((l) => l.level === Levels.error && l.category === 'Hostwork.TaskQueueService');
    assert.equal(error?.item, 'explode');
    assert.match(error?.err?.stack ?? '', /item exploded[\s\S]*task-queue\.test\.ts/);
    assert.equal(host.exitCode, 0);
  });

  test('on stop: the queue closes, running items finish, queued ones are dropped and counted in the log', async () => {
    const { host, logs, queue, consumer } = queueHost({});
    const ran: string[] = [];
    let signalAbortedAtEnd: boolean | undefined;
    await queue.enqueue(async ({ signal }) => {
      await delay(200); // still running when stop begins
      signalAbortedAtEnd = signal.aborted;
      ran.push('running');
    });
    await queue.enqueue(recorder('queued 1', ran));
    await queue.enqueue(recorder('queued 2', ran));
    await host.start();
    await waitFor(() => consumer.running === 1, 'the first item to run');
    await host.stop();

    assert.deepEqual(ran, ['running'], 'the running item finished; the queued ones never ran');
    assert.equal(signalAbortedAtEnd, false, 'a graceful stop does not abort running items');
    assert.equal(queue.dropped, 2);
    const closed = logs.find((l) => /Task queue closed/.test(l.msg));
    assert.equal(closed?.dropped, 2);
    assert.equal(closed?.level, Levels.warn);
    await assert.rejects(queue.enqueue(recorder('late', ran)), isCode(ErrorCodes.QUEUE_CLOSED));
    assert.deepEqual(host.servicesLeftBehind, []);
    assert.equal(host.exitCode, 0);
  });

  test("aborts a running item's signal when the shutdown budget runs out", async () => {
    const shutdownTimeout = 1_000;
    const { host, logs, queue, consumer } = queueHost({}, shutdownTimeout);
    let itemSignal: AbortSignal | undefined;
    let sawAbort = false;
    await queue.enqueue(async ({ signal }) => {
      itemSignal = signal;
      await aborted(signal);
      sawAbort = true;
      throw signal.reason;
    });
    await host.start();
    await waitFor(() => consumer.running === 1, 'the item to run');
    const stopping = host.stop();
    await delay(100);
    assert.equal(itemSignal?.aborted, false, 'not aborted while the budget lasts');
    await stopping;
    await waitFor(() => consumer.running === 0, 'the aborted item to end');

    assert.equal(sawAbort, true);
    assert.equal(consumer.failed, 1);
    assert.ok(logs.some((l) => l.level === Levels.warn && /aborted by the shutdown timeout/.test(l.msg)));
    // The item honoured the abort within the host's grace, so the service is not left behind.
    assert.deepEqual(host.servicesLeftBehind, []);
  });
});
