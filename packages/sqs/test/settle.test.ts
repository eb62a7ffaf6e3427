/**
 * The SQS transport against the fauxqs emulator (127.0.0.1, started for this file): publish and receive with
 * attributes and ids, batched acks, release, delayed retry with Hostwork's attempt header, dead letters (created
 * `<queue>-dead`, a redrive policy's queue, none), visibility extension, bodies and headers SQS cannot carry as
 * they are.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import {
  ATTEMPT_HEADER,
  DEAD_LETTER_HEADERS,
  type Delivery,
  type DeliveryError,
  MAX_HEADER_ERROR_CHARS,
} from 'hostwork';
import { collect, message, text } from './support/collect.ts';
import {
  countingClient,
  describeWithEmulator,
  type Emulator,
  emulatorTransport,
  eventually,
  freshQueue,
  startEmulator,
} from './support/emulator.ts';
import { counts, receiveRaw } from './support/queues.ts';

let emulator: Emulator;

const error = (attempt: number, msg: string): DeliveryError => ({
  attempt,
  message: msg,
  name: 'Error',
  at: Date.now(),
});

await describeWithEmulator('sqs transport: publish and settle (fauxqs emulator)', () => {
  before(async () => {
    emulator = await startEmulator();
  });
  after(() => emulator.stop());

  it('publishes and receives with the id, headers as attributes, attempt 1 and the queue’s visibility as lockMs', async () => {
    const transport = emulatorTransport(emulator);
    const queue = freshQueue();
    try {
      await transport.publish({ name: queue }, [
        message('m-1', '{"n":1}', { headers: { 'hostwork-type': 'order', tenant: 'acme' } }),
        message('m-2', '{"n":2}'),
      ]);
      const got = await collect(transport, queue);
      await eventually('2 deliveries', () => got.deliveries.length === 2);
      const [first, second] = [...got.deliveries].sort((a, b) => a.id.localeCompare(b.id)) as [
        Delivery,
        Delivery,
      ];
      assert.equal(first.id, 'm-1');
      assert.equal(text(first.body), '{"n":1}');
      assert.deepEqual(first.headers, { 'hostwork-type': 'order', tenant: 'acme' });
      assert.equal(first.attempt, 1);
      assert.ok(
        first.lockMs! > 25_000 && first.lockMs! <= 30_000,
        `lockMs ${first.lockMs} from the default 30 s`,
      );
      assert.equal(typeof first.extend, 'function');
      assert.equal(second.id, 'm-2');
      await got.subscription.stop();
      await Promise.all(got.deliveries.map((d) => d.ack()));
    } finally {
      await transport.close();
    }
  });

  it('takes the SQS MessageId as the id of a message sent without Hostwork', async () => {
    const transport = emulatorTransport(emulator);
    const queue = freshQueue();
    try {
      const got = await collect(transport, queue);
      const { QueueUrl } = await transport.client.send(new CreateQueueCommand({ QueueName: queue }));
      const sent = await transport.client.send(new SendMessageCommand({ QueueUrl, MessageBody: 'plain' }));
      await eventually('the delivery', () => got.deliveries.length === 1);
      assert.equal(got.deliveries[0]!.id, sent.MessageId);
      assert.deepEqual(got.deliveries[0]!.headers, {});
      await got.deliveries[0]!.ack();
      await got.subscription.stop();
    } finally {
      await transport.close();
    }
  });

  it('acks by DeleteMessageBatch, 10 entries a call, each ack resolving for its own entry; the queue is then empty', async () => {
    const { client, counts: calls } = countingClient(emulator);
    const transport = emulatorTransport(emulator, {
      client,
      region: undefined,
      endpoint: undefined,
      credentials: undefined,
    });
    const queue = freshQueue();
    try {
      await transport.publish(
        { name: queue },
        Array.from({ length: 12 }, (_, i) => message(`a-${i}`, `body ${i}`)),
      );
      const got = await collect(transport, queue, 12);
      await eventually('12 deliveries', () => got.deliveries.length === 12);
      await got.subscription.stop();
      await Promise.all(got.deliveries.map((d) => d.ack()));
      assert.equal(calls.get('DeleteMessageBatchCommand'), 2, 'two batch calls for 12 acks');
      assert.equal(calls.get('DeleteMessageCommand') ?? 0, 0);
      assert.deepEqual(await counts(client, queue), { visible: 0, inFlight: 0, delayed: 0 });
    } finally {
      await transport.close();
      client.destroy();
    }
  });

  it('releases by ChangeMessageVisibilityBatch: 3 releases, one call, all visible again at once', async () => {
    const { client, counts: calls } = countingClient(emulator);
    const transport = emulatorTransport(emulator, {
      client,
      region: undefined,
      endpoint: undefined,
      credentials: undefined,
    });
    const queue = freshQueue();
    try {
      await transport.publish(
        { name: queue },
        Array.from({ length: 3 }, (_, i) => message(`v-${i}`, `body ${i}`)),
      );
      const got = await collect(transport, queue, 3);
      await eventually('3 deliveries', () => got.deliveries.length === 3);
      await got.subscription.stop();
      await Promise.all(got.deliveries.map((d) => d.release()));
      assert.equal(calls.get('ChangeMessageVisibilityBatchCommand'), 1);
      assert.equal(calls.get('ChangeMessageVisibilityCommand') ?? 0, 0);
      assert.deepEqual(await counts(client, queue), { visible: 3, inFlight: 0, delayed: 0 });
    } finally {
      await transport.close();
      client.destroy();
    }
  });

  it('sends the copies of dead letters in one SendMessageBatch and deletes the originals in one DeleteMessageBatch', async () => {
    const { client, counts: calls } = countingClient(emulator);
    const transport = emulatorTransport(emulator, {
      client,
      region: undefined,
      endpoint: undefined,
      credentials: undefined,
    });
    const queue = freshQueue();
    try {
      await transport.publish(
        { name: queue },
        Array.from({ length: 3 }, (_, i) => message(`dl-${i}`, `body ${i}`)),
      );
      const got = await collect(transport, queue, 3);
      await eventually('3 deliveries', () => got.deliveries.length === 3);
      await got.subscription.stop();
      const before = calls.get('SendMessageBatchCommand') ?? 0;
      await Promise.all(got.deliveries.map((d) => d.deadLetter('poison', [error(1, 'bad')])));
      assert.equal((calls.get('SendMessageBatchCommand') ?? 0) - before, 1);
      assert.equal(calls.get('SendMessageCommand') ?? 0, 0);
      assert.equal(calls.get('DeleteMessageBatchCommand'), 1);
      assert.deepEqual(await counts(client, `${queue}-dead`), { visible: 3, inFlight: 0, delayed: 0 });
      assert.deepEqual(await counts(client, queue), { visible: 0, inFlight: 0, delayed: 0 });
    } finally {
      await transport.close();
      client.destroy();
    }
  });

  it('refuses a second settle of one delivery', async () => {
    const transport = emulatorTransport(emulator);
    const queue = freshQueue();
    try {
      await transport.publish({ name: queue }, [message('once', 'x')]);
      const got = await collect(transport, queue);
      await eventually('the delivery', () => got.deliveries.length === 1);
      await got.deliveries[0]!.ack();
      await assert.rejects(got.deliveries[0]!.release(), { code: 'HW_DELIVERY_SETTLED' });
      await got.subscription.stop();
    } finally {
      await transport.close();
    }
  });

  it('release makes the message visible again at once, its attempt not counted', async () => {
    const transport = emulatorTransport(emulator);
    const queue = freshQueue();
    try {
      await transport.publish({ name: queue }, [message('r-1', 'again')]);
      const got = await collect(transport, queue);
      await eventually('the delivery', () => got.deliveries.length === 1);
      await got.deliveries[0]!.release();
      // Far sooner than the 30 s visibility timeout.
      await eventually('the redelivery', () => got.deliveries.length === 2, 5_000);
      assert.equal(got.deliveries[1]!.id, 'r-1');
      assert.equal(got.deliveries[1]!.attempt, 1);
      // Not an attempt, but a redelivery SQS counts (ApproximateReceiveCount 2).
      assert.deepEqual(
        got.deliveries.map((d) => d.redeliveries),
        [0, 1],
      );
      await got.deliveries[1]!.ack();
      await got.subscription.stop();
    } finally {
      await transport.close();
    }
  });

  it('retry sends it back after the delay, not before, with the attempt header and the error history; the original is gone', async () => {
    const transport = emulatorTransport(emulator);
    const queue = freshQueue();
    try {
      await transport.publish({ name: queue }, [message('t-1', 'retry me', { headers: { tenant: 'acme' } })]);
      const got = await collect(transport, queue);
      await eventually('the delivery', () => got.deliveries.length === 1);
      const retriedAt = Date.now();
      await got.deliveries[0]!.retry(2_000, error(1, 'boom'));
      await eventually('the retried delivery', () => got.deliveries.length === 2, 10_000);
      const waited = Date.now() - retriedAt;
      assert.ok(waited >= 1_900, `redelivered after ${waited} ms, before the 2,000 ms delay`);
      const again = got.deliveries[1]!;
      assert.equal(again.id, 't-1');
      assert.equal(again.attempt, 2);
      assert.equal(again.redeliveries, 0, 'a retry is a copy: received for the first time');
      assert.equal(again.headers[ATTEMPT_HEADER], '1');
      assert.equal(again.headers.tenant, 'acme');
      const history = JSON.parse(again.headers[DEAD_LETTER_HEADERS.history]!) as DeliveryError[];
      assert.deepEqual(
        history.map((e) => [e.attempt, e.message]),
        [[1, 'boom']],
      );
      await again.retry(0, error(2, 'bang'));
      await eventually('the third delivery', () => got.deliveries.length === 3);
      assert.equal(got.deliveries[2]!.attempt, 3);
      assert.equal(
        (JSON.parse(got.deliveries[2]!.headers[DEAD_LETTER_HEADERS.history]!) as DeliveryError[]).length,
        2,
      );
      await got.deliveries[2]!.ack();
      await got.subscription.stop();
      await eventually('the queue empty', async () => {
        const c = await counts(transport.client, queue);
        return c.visible + c.inFlight + c.delayed === 0;
      });
    } finally {
      await transport.close();
    }
  });

  it('deadLetter copies it to <queue>-dead with reason, last error and history, and deletes the original', async () => {
    const transport = emulatorTransport(emulator);
    const queue = freshQueue();
    try {
      await transport.publish({ name: queue }, [message('d-1', 'poisoned', { headers: { tenant: 'acme' } })]);
      const got = await collect(transport, queue);
      await eventually('the delivery', () => got.deliveries.length === 1);
      await got.deliveries[0]!.deadLetter('attempts-exhausted', [error(1, 'first'), error(2, 'second')]);
      await got.subscription.stop();
      const [dead, ...rest] = await receiveRaw(transport.client, `${queue}-dead`);
      assert.equal(rest.length, 0);
      assert.equal(dead!.Body, 'poisoned');
      const attr = (name: string) => dead!.MessageAttributes?.[name]?.StringValue;
      assert.equal(attr('hostwork-id'), 'd-1');
      assert.equal(attr('tenant'), 'acme');
      assert.equal(attr(DEAD_LETTER_HEADERS.reason), 'attempts-exhausted');
      assert.equal(attr(DEAD_LETTER_HEADERS.error), 'second', 'the last error, as every adapter writes it');
      assert.equal((JSON.parse(attr(DEAD_LETTER_HEADERS.history)!) as DeliveryError[]).length, 2);
      assert.equal(attr(ATTEMPT_HEADER), '1');
      await eventually('the source empty', async () => {
        const c = await counts(transport.client, queue);
        return c.visible + c.inFlight + c.delayed === 0;
      });
    } finally {
      await transport.close();
    }
  });

  it('dead-letters to the queue its RedrivePolicy names; without one, subscribe fails naming deadLetterQueue', async () => {
    const transport = emulatorTransport(emulator, { createQueues: false });
    const setup = emulatorTransport(emulator);
    const queue = freshQueue();
    const dlq = freshQueue('dlq');
    try {
      const { QueueUrl: dlqUrl } = await setup.client.send(new CreateQueueCommand({ QueueName: dlq }));
      const { Attributes } = await setup.client.send(
        new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }),
      );
      await setup.client.send(
        new CreateQueueCommand({
          QueueName: queue,
          Attributes: {
            RedrivePolicy: JSON.stringify({
              deadLetterTargetArn: Attributes!.QueueArn,
              maxReceiveCount: '5',
            }),
          },
        }),
      );
      await transport.publish({ name: queue }, [message('p-1', 'bad')]);
      const got = await collect(transport, queue);
      await eventually('the delivery', () => got.deliveries.length === 1);
      await got.deliveries[0]!.deadLetter('poison', [error(1, 'not JSON')]);
      await got.subscription.stop();
      const [dead] = await receiveRaw(setup.client, dlq);
      assert.equal(dead?.MessageAttributes?.[DEAD_LETTER_HEADERS.reason]?.StringValue, 'poison');

      const bare = freshQueue();
      await setup.client.send(new CreateQueueCommand({ QueueName: bare }));
      await assert.rejects(
        transport.subscribe({ name: bare }, { prefetch: 1, onDelivery: () => {} }),
        (e: Error) => {
          assert.match(e.message, /deadLetterQueue/);
          assert.match(e.message, new RegExp(bare));
          return true;
        },
      );
      await assert.rejects(
        transport.subscribe({ name: freshQueue('missing') }, { prefetch: 1, onDelivery: () => {} }),
        /createQueues/,
      );
    } finally {
      await transport.close();
      await setup.close();
    }
  });

  it('a retry delay beyond 15 min is sent with SQS’s longest delay and a not-before time; the original is gone', async () => {
    const transport = emulatorTransport(emulator);
    const queue = freshQueue();
    try {
      await transport.publish({ name: queue }, [message('long', 'later')]);
      const got = await collect(transport, queue);
      await eventually('the delivery', () => got.deliveries.length === 1);
      await got.deliveries[0]!.retry(20 * 60_000, error(1, 'slow down'));
      await got.subscription.stop();
      await eventually('only the delayed copy left', async () => {
        const c = await counts(transport.client, queue);
        return c.visible === 0 && c.inFlight === 0 && c.delayed === 1;
      });
    } finally {
      await transport.close();
    }
  });

  it('shortens the history of a dead letter, oldest first, to fit maxMessageBytes, keeping the last error', async () => {
    const transport = emulatorTransport(emulator, { maxMessageBytes: 16_384 });
    const queue = freshQueue();
    try {
      await transport.publish({ name: queue }, [message('long-history', 'x')]);
      const got = await collect(transport, queue);
      await eventually('the delivery', () => got.deliveries.length === 1);
      const errors = Array.from({ length: 40 }, (_, i) =>
        error(i + 1, `failure ${i + 1} ${'y'.repeat(3_000)}`),
      );
      await got.deliveries[0]!.deadLetter('attempts-exhausted', errors);
      await got.subscription.stop();
      const [dead] = await receiveRaw(transport.client, `${queue}-dead`);
      const history = JSON.parse(
        dead!.MessageAttributes![DEAD_LETTER_HEADERS.history]!.StringValue!,
      ) as DeliveryError[];
      assert.ok(history.length > 0 && history.length < 40, `${history.length} of 40 attempts kept`);
      assert.equal(history.at(-1)!.attempt, 40);
      assert.ok(
        history.every((e) => e.message.length <= MAX_HEADER_ERROR_CHARS + 1),
        `error messages cut at ${MAX_HEADER_ERROR_CHARS} characters`,
      );
      assert.equal(
        dead!.MessageAttributes![DEAD_LETTER_HEADERS.error]!.StringValue!.length,
        MAX_HEADER_ERROR_CHARS + 1,
        'the last error, cut',
      );
    } finally {
      await transport.close();
    }
  });

  it('extend keeps a message invisible past its visibility timeout; without it, it comes back', async () => {
    const transport = emulatorTransport(emulator, { visibilityTimeoutMs: 2_000 });
    const queue = freshQueue();
    try {
      await transport.publish({ name: queue }, [message('x-1', 'kept'), message('x-2', 'lapses')]);
      const got = await collect(transport, queue);
      await eventually('2 deliveries', () => got.deliveries.length === 2);
      const kept = got.deliveries.find((d) => d.id === 'x-1')!;
      assert.ok(kept.lockMs! <= 2_000);
      await kept.extend!(8_000);
      // x-2 was not extended: it comes back after its 2 s; by then x-1's original 2 s are long over too.
      await eventually(
        'x-2 redelivered',
        () => got.deliveries.filter((d) => d.id === 'x-2').length === 2,
        8_000,
      );
      const lapsedAt = Date.now();
      await eventually('a further second', () => Date.now() > lapsedAt + 1_000);
      assert.equal(got.deliveries.filter((d) => d.id === 'x-1').length, 1, 'x-1 redelivered while extended');
      // The lapsed one is counted as SQS counts it: received twice, never settled.
      assert.deepEqual(
        got.deliveries.filter((d) => d.id === 'x-2').map((d) => [d.attempt, d.redeliveries]),
        [
          [1, 0],
          [1, 1],
        ],
      );
      await got.subscription.stop();
      await Promise.all([kept.ack(), got.deliveries.at(-1)!.ack()]);
    } finally {
      await transport.close();
    }
  });

  it('carries bodies that are not text, empty bodies, and more headers than SQS’s 10 attributes', async () => {
    const transport = emulatorTransport(emulator);
    const queue = freshQueue();
    const headers: Record<string, string> = {
      'hostwork-type': 't',
      empty: '',
      'not valid': 'v',
      control: 'a\u0001b',
    };
    for (let i = 0; i < 10; i++) headers[`h${i}`] = `value ${i}`;
    try {
      await transport.publish({ name: queue }, [
        { id: 'bin', body: new Uint8Array([0, 255, 1, 0xc3]), headers },
        { id: 'empty', body: new Uint8Array(0), headers: {} },
        { id: 'ctl', body: new Uint8Array([65]), headers: { control: 'a\u0001b' } },
      ]);
      const got = await collect(transport, queue);
      await eventually('3 deliveries', () => got.deliveries.length === 3);
      assert.deepEqual(got.deliveries.find((d) => d.id === 'ctl')!.headers, { control: 'a\u0001b' });
      const bin = got.deliveries.find((d) => d.id === 'bin')!;
      assert.deepEqual([...bin.body], [0, 255, 1, 0xc3]);
      assert.deepEqual(bin.headers, headers);
      assert.ok(
        Object.keys(
          (bin as unknown as { message: { MessageAttributes?: object } }).message.MessageAttributes ?? {},
        ).length <= 10,
      );
      assert.equal(got.deliveries.find((d) => d.id === 'empty')!.body.byteLength, 0);
      await got.subscription.stop();
      await Promise.all(got.deliveries.map((d) => d.ack()));
    } finally {
      await transport.close();
    }
  });

  it('refuses, naming the message, one larger than maxMessageBytes', async () => {
    const transport = emulatorTransport(emulator, { maxMessageBytes: 2_048 });
    try {
      await assert.rejects(
        transport.publish({ name: freshQueue() }, [message('huge', 'x'.repeat(4_000))]),
        (e: Error) => {
          assert.match(e.message, /huge/);
          assert.match(e.message, /maxMessageBytes/);
          return true;
        },
      );
    } finally {
      await transport.close();
    }
  });

  it('holds back a message whose not-before time (a delay beyond 15 min) has not come, and delivers it when due', async () => {
    const transport = emulatorTransport(emulator);
    const queue = freshQueue();
    try {
      const got = await collect(transport, queue);
      const { QueueUrl } = await transport.client.send(new CreateQueueCommand({ QueueName: queue }));
      const due = Date.now() + 3_000;
      await transport.client.send(
        new SendMessageCommand({
          QueueUrl,
          MessageBody: 'later',
          MessageAttributes: { 'hostwork-not-before': { DataType: 'String', StringValue: String(due) } },
        }),
      );
      await eventually('the delivery', () => got.deliveries.length === 1, 10_000);
      assert.ok(Date.now() >= due - 1_000, 'delivered before its not-before time');
      await got.deliveries[0]!.ack();
      await got.subscription.stop();
    } finally {
      await transport.close();
    }
  });
});
