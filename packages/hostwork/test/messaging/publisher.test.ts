import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { ErrorCodes } from '../../src/errors.ts';
import { createHostBuilder } from '../../src/hosting/index.ts';
import { addMessaging } from '../../src/messaging/add-messaging.ts';
import { defineConsumer } from '../../src/messaging/consumer-definition.ts';
import { inMemoryTransport } from '../../src/messaging/in-memory-transport.ts';
import { defineMessage } from '../../src/messaging/message-definition.ts';
import type { OutgoingMessage, Transport } from '../../src/messaging/transport.ts';
import { TYPE_HEADER } from '../../src/messaging/transport.ts';
import { expectRejection, expectThrow } from '../support/errors.ts';
import { T, withMessagingHost } from './helpers.ts';

// The publisher (validation before anything is published, ids, headers, routing) and the registration errors of
// defineMessage, defineConsumer and addMessaging.

const Signup = defineMessage({
  name: 'signup',
  schema: z.object({ email: z.email(), plan: z.enum(['free', 'pro']) }),
  destination: { name: 'signups' },
});

/** An in-memory transport that also records what it is asked to publish. */
function recording(): { transport: Transport; published: OutgoingMessage[][] } {
  const memory = inMemoryTransport();
  const published: OutgoingMessage[][] = [];
  const transport: Transport = {
    kind: 'recording',
    connect: () => memory.connect(),
    subscribe: (s, o) => memory.subscribe(s, o),
    publish: async (d, m) => {
      published.push([...m]);
      await memory.publish(d, m);
    },
    close: () => memory.close(),
    [Symbol.asyncDispose]: () => memory.close(),
  };
  return { transport, published };
}

describe('MessagePublisher', () => {
  it(
    'publishes JSON of the schema output with the type header, a generated UUID id, key, delay and headers',
    T,
    async () => {
      const { transport, published } = recording();
      await withMessagingHost({ transports: { rec: transport } }, async ({ publisher }) => {
        const id = await publisher.send(
          Signup,
          { email: 'a@example.com', plan: 'pro' },
          { key: 'k', headers: { trace: 'x' } },
        );
        assert.match(id, /^[0-9a-f-]{36}$/);
        const [m] = published[0]!;
        assert.equal(m!.id, id);
        assert.deepEqual(JSON.parse(new TextDecoder().decode(m!.body)), {
          email: 'a@example.com',
          plan: 'pro',
        });
        assert.deepEqual(m!.headers, { trace: 'x', [TYPE_HEADER]: 'signup' });
        assert.equal(m!.key, 'k');
        assert.equal(m!.delayMs, undefined);
        await publisher.send(Signup, { email: 'b@example.com', plan: 'free' }, { id: 'mine', delayMs: 50 });
        assert.equal(published[1]![0]!.id, 'mine');
        assert.equal(published[1]![0]!.delayMs, 50);
      });
    },
  );

  it(
    "gives a transport the host's loggers when it is built, so its warnings are the host's log lines",
    T,
    async () => {
      const { transport } = recording();
      const warned: string[] = [];
      const withLogger: Transport = {
        ...transport,
        attachLogger: (loggers) => {
          loggers
            .create('Hostwork.Recording')
            .warn({ warning: 'connection-lost' }, 'the connection was lost');
          warned.push('attached');
        },
      };
      await withMessagingHost({ transports: { rec: withLogger } }, async ({ publisher, logs }) => {
        await publisher.send(Signup, { email: 'a@example.com', plan: 'pro' });
        assert.deepEqual(warned, ['attached'], 'attached once, when the transport was built');
        const line = logs.find('the connection was lost');
        assert.equal(line?.category, 'Hostwork.Recording');
        assert.equal(line?.warning, 'connection-lost');
      });
    },
  );

  it('refuses an invalid payload naming the fields, and publishes nothing', T, async () => {
    const { transport, published } = recording();
    await withMessagingHost({ transports: { rec: transport } }, async ({ publisher }) => {
      await expectRejection(
        // @ts-expect-error: the plan is not one of the schema's values
        publisher.send(Signup, { email: 'not-an-email', plan: 'gold' }),
        ErrorCodes.MESSAGE_INVALID_PAYLOAD,
        "Message 'signup'",
        'email',
        'plan',
        'nothing was published',
      );
      await expectRejection(
        publisher.sendMany(Signup, [
          { payload: { email: 'ok@example.com', plan: 'free' } },
          { payload: { email: 'bad', plan: 'free' } },
        ]),
        ErrorCodes.MESSAGE_INVALID_PAYLOAD,
        '(item 1)',
        'email',
      );
      assert.equal(published.length, 0);
    });
  });

  it('publishes a batch in one call and returns the ids in order', T, async () => {
    const { transport, published } = recording();
    await withMessagingHost({ transports: { rec: transport } }, async ({ publisher }) => {
      const ids = await publisher.sendMany(Signup, [
        { payload: { email: 'a@example.com', plan: 'free' }, id: 'one' },
        { payload: { email: 'b@example.com', plan: 'pro' }, id: 'two' },
      ]);
      assert.deepEqual(ids, ['one', 'two']);
      assert.equal(published.length, 1);
      assert.deepEqual(
        published[0]!.map((m) => m.id),
        ['one', 'two'],
      );
    });
  });

  it(
    'refuses Hostwork headers, a missing destination, and an ambiguous or unknown transport',
    T,
    async () => {
      const NoDestination = defineMessage({ name: 'nowhere', schema: z.object({}) });
      await withMessagingHost(
        { transports: { a: inMemoryTransport(), b: inMemoryTransport() } },
        async ({ publisher }) => {
          await expectRejection(
            publisher.send(
              Signup,
              { email: 'a@example.com', plan: 'free' },
              { transport: 'a', headers: { 'hostwork-attempt': '3' } },
            ),
            ErrorCodes.INVALID_OPTION,
            "'hostwork-attempt'",
            'reserved',
          );
          await expectRejection(
            publisher.send(NoDestination, {}, { transport: 'a' }),
            ErrorCodes.INVALID_OPTION,
            "Message 'nowhere' has no destination",
          );
          await expectRejection(
            publisher.send(Signup, { email: 'a@example.com', plan: 'free' }),
            ErrorCodes.TRANSPORT_NOT_REGISTERED,
            'several transports are registered (a, b)',
          );
          await expectRejection(
            publisher.send(Signup, { email: 'a@example.com', plan: 'free' }, { transport: 'c' }),
            ErrorCodes.TRANSPORT_NOT_REGISTERED,
            "transport 'c'",
            'registered: a, b',
          );
          await expectRejection(
            // @ts-expect-error: an unknown option
            publisher.send(Signup, { email: 'a@example.com', plan: 'free' }, { transport: 'a', dealy: 5 }),
            ErrorCodes.UNKNOWN_OPTION,
            "'dealy'",
          );
        },
      );
    },
  );
});

describe('registration', () => {
  const Ping = defineMessage({ name: 'ping', schema: z.object({}) });
  const valid = { name: 'c', transport: 'memory', source: { name: 'q' }, message: Ping, handle() {} };

  it('refuses bad definitions, naming the option and the fix', () => {
    expectThrow(() => defineMessage({ name: '', schema: z.object({}) }), ErrorCodes.INVALID_OPTION, 'name');
    // @ts-expect-error: not a schema
    expectThrow(() => defineMessage({ name: 'x', schema: {} }), ErrorCodes.INVALID_OPTION, 'Standard Schema');
    expectThrow(
      // @ts-expect-error: a typo
      () => defineMessage({ name: 'x', schema: z.object({}), destinaton: {} }),
      ErrorCodes.UNKNOWN_OPTION,
      "'destinaton'",
      "'destination'",
    );
    expectThrow(
      () => defineConsumer({ ...valid, concurrency: 0 }),
      ErrorCodes.INVALID_OPTION,
      'concurrency',
      '>= 1',
    );
    expectThrow(() => defineConsumer({ ...valid, maxAttempts: 0 }), ErrorCodes.INVALID_OPTION, 'maxAttempts');
    expectThrow(
      () => defineConsumer({ ...valid, maxRedeliveries: 0.5 }),
      ErrorCodes.INVALID_OPTION,
      'maxRedeliveries',
      '>= 1',
    );
    assert.equal(defineConsumer(valid).maxRedeliveries, 20, 'max(10, 2 × the default 10 attempts)');
    assert.equal(defineConsumer({ ...valid, maxAttempts: 3 }).maxRedeliveries, 10);
    expectThrow(() => defineConsumer({ ...valid, timeout: -1 }), ErrorCodes.INVALID_OPTION, 'timeout');
    expectThrow(
      // @ts-expect-error: an unknown backoff type
      () => defineConsumer({ ...valid, backoff: { type: 'linear' } }),
      ErrorCodes.INVALID_OPTION,
      'backoff',
    );
    expectThrow(
      () => defineConsumer({ ...valid, messages: [Ping] }),
      ErrorCodes.INVALID_OPTION,
      'exactly one of message',
    );
    expectThrow(
      () => defineConsumer({ ...valid, source: { name: '' } }),
      ErrorCodes.INVALID_OPTION,
      'source',
    );
    expectThrow(
      // @ts-expect-error: a typo
      () => defineConsumer({ ...valid, concurency: 2 }),
      ErrorCodes.UNKNOWN_OPTION,
      "'concurency'",
      "'concurrency'",
    );
  });

  it('refuses a consumer naming an unregistered transport, duplicate consumers, bad transports and keys', () => {
    const builder = () => createHostBuilder({ env: {}, args: [] });
    const memory = inMemoryTransport();
    expectThrow(
      () => addMessaging(builder(), { transports: { rabbit: memory }, consumers: [defineConsumer(valid)] }),
      ErrorCodes.TRANSPORT_NOT_REGISTERED,
      "Consumer 'c' names transport 'memory'",
      'registered: rabbit',
    );
    expectThrow(
      () =>
        addMessaging(builder(), {
          transports: { memory },
          consumers: [defineConsumer(valid), defineConsumer(valid)],
        }),
      ErrorCodes.INVALID_OPTION,
      "two consumers are named 'c'",
    );
    expectThrow(
      // @ts-expect-error: not a transport
      () => addMessaging(builder(), { transports: { memory: { kind: 'x' } } }),
      ErrorCodes.INVALID_OPTION,
      'transports.memory must be a Transport',
      'connect, subscribe, publish, close',
    );
    expectThrow(
      () => addMessaging(builder(), { transports: {} }),
      ErrorCodes.INVALID_OPTION,
      'at least one transport',
    );
    expectThrow(
      // @ts-expect-error: a typo
      () => addMessaging(builder(), { transports: { memory }, consumer: [] }),
      ErrorCodes.UNKNOWN_OPTION,
      "'consumer'",
      "'consumers'",
    );
    const twice = builder();
    addMessaging(twice, { transports: { memory } });
    expectThrow(
      () => addMessaging(twice, { transports: { memory } }),
      ErrorCodes.INVALID_OPTION,
      'called twice',
    );
  });

  it(
    'builds a transport given as a function of the configuration once, and closes it once at stop',
    T,
    async () => {
      let built = 0;
      let closed = 0;
      const factory = () => {
        built++;
        const memory = inMemoryTransport();
        return Object.assign(memory, {
          close: async () => {
            closed++;
          },
        });
      };
      await withMessagingHost(
        {
          transports: { memory: factory },
          consumers: [defineConsumer(valid), defineConsumer({ ...valid, name: 'c2' })],
        },
        async ({ publisher }) => {
          await publisher.send(Ping, {}, { destination: { name: 'q' } });
          assert.equal(built, 1);
          assert.equal(closed, 0);
        },
      );
      assert.equal(closed, 1);
    },
  );
});
