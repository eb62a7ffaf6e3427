/**
 * The transport's options and a source's, without a server: misspelt keys and bad values fail when the transport is
 * created (or when subscribing and publishing, for a Destination's options), naming the option and the fix.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultMaxAckPending, natsTransport } from '@hostwork/nats';

const closed = { servers: '127.0.0.1:1' };
const subscribe = (options: Record<string, unknown> | undefined, name = 'orders.created', prefetch = 1) =>
  natsTransport(closed).subscribe({ name, ...(options ? { options } : {}) }, { prefetch, onDelivery() {} });

describe('natsTransport options', () => {
  it('rejects an unknown key, naming the closest known one', () => {
    assert.throws(
      () => natsTransport({ decalre: true } as never),
      (error: Error & { code?: string }) =>
        error.code === 'HW_UNKNOWN_OPTION' && /declare/.test(error.message),
    );
  });

  it('rejects bad values, naming the option', () => {
    assert.throws(() => natsTransport({ servers: [] }), /'servers' must be a server/);
    assert.throws(
      () => natsTransport({ retention: 'forever' as never }),
      /'retention' must be 'workqueue', 'limits', 'interest'/,
    );
    assert.throws(() => natsTransport({ ackWaitMs: 0 }), /'ackWaitMs' must be a whole number of ms >= 1/);
    assert.throws(
      () => natsTransport({ reconnectDelayMs: 1_000, maxReconnectDelayMs: 500 }),
      /'maxReconnectDelayMs' \(500\) must be at least 'reconnectDelayMs' \(1000\)/,
    );
    assert.throws(
      () => natsTransport({ connectionOptions: { maxReconnectAttempts: 3 } as never }),
      /'connectionOptions.maxReconnectAttempts' is set by the transport; use 'reconnectDelayMs'/,
    );
    assert.throws(
      () => natsTransport({ connectionOptions: { servers: 'x' } as never }),
      /'connectionOptions.servers' is set by the transport; use 'servers'/,
    );
  });

  it('checks a source’s options when subscribing, before connecting', async () => {
    await assert.rejects(
      subscribe({ durabel: 'x' }),
      (error: Error & { code?: string }) =>
        error.code === 'HW_UNKNOWN_OPTION' && /durable/.test(error.message),
    );
    await assert.rejects(
      subscribe(undefined, 'orders.*'),
      /a source's name must be a NATS subject .*no wildcards/,
    );
    await assert.rejects(subscribe(undefined, 'orders..created'), /must be a NATS subject/);
    await assert.rejects(subscribe({ stream: 'has.dot' }), /'stream' must be a JetStream name/);
    await assert.rejects(subscribe({ durable: 'has space' }), /'durable' must be a JetStream name/);
    await assert.rejects(subscribe({ subjects: ['billing.>'] }), /must capture the subject 'orders.created'/);
    await assert.rejects(
      subscribe({ subjects: ['>'] }),
      /dead-letter subject 'hostwork.dead.orders_created.orders_created' is captured by the source stream's subjects/,
    );
    await assert.rejects(
      subscribe({ deadLetterStream: 'orders_created' }),
      /must not be the source's stream/,
    );
    await assert.rejects(subscribe({ maxAckPending: 0 }), /maxAckPending' must be a whole number >= 1/);
    await assert.rejects(
      subscribe(undefined, 'orders.created', 0),
      (error: Error & { code?: string }) =>
        error.code === 'HW_INVALID_OPTION' && /prefetch of 'orders.created'/.test(error.message),
    );
  });

  it('checks a destination’s options when publishing', async () => {
    const transport = natsTransport(closed);
    await assert.rejects(
      transport.publish({ name: 'orders.created', options: { streem: 'ORDERS' } }, []),
      (error: Error & { code?: string }) =>
        error.code === 'HW_UNKNOWN_OPTION' && /destination 'orders.created'/.test(error.message),
    );
    await transport.close();
  });

  it('sizes max_ack_pending from the prefetch: at least 1000, else 20 per slot', () => {
    assert.equal(defaultMaxAckPending(1), 1_000);
    assert.equal(defaultMaxAckPending(50), 1_000);
    assert.equal(defaultMaxAckPending(100), 2_000);
  });

  it('fails to connect with an error naming the server', async () => {
    const transport = natsTransport(closed);
    await assert.rejects(
      transport.connect(),
      (error: Error & { code?: string }) =>
        error.code === 'HW_TRANSPORT_FAILED' && /cannot connect to NATS at 127.0.0.1:1/.test(error.message),
    );
    await transport.close();
    await assert.rejects(transport.publish({ name: 'x' }, []), /the transport is closed/);
  });
});
