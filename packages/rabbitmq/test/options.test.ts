/**
 * The transport's options and the delay rounding, without a broker: misspelt keys and bad values fail when the
 * transport is created, naming the option; delays round up to the documented steps.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { delayBucketMs, delayQueueName, MAX_DELAY_MS, rabbitmqTransport } from '@hostwork/rabbitmq';

const url = 'amqp://guest:guest@127.0.0.1:5672';

describe('rabbitmqTransport options', () => {
  it('rejects an unknown key, naming the closest known one', () => {
    assert.throws(
      () => rabbitmqTransport({ url, decalre: true } as never),
      (error: Error & { code?: string }) =>
        error.code === 'HW_UNKNOWN_OPTION' && /declare/.test(error.message),
    );
  });

  it('rejects a url that is not amqp(s), without printing its password', () => {
    assert.throws(
      () => rabbitmqTransport({ url: 'http://user:secret@host' }),
      (error: Error & { code?: string }) =>
        error.code === 'HW_INVALID_OPTION' &&
        /'url'/.test(error.message) &&
        !error.message.includes('secret'),
    );
  });

  it('rejects a queue type other than classic or quorum, and reconnect delays out of order', () => {
    assert.throws(
      () => rabbitmqTransport({ url, queueType: 'stream' as never }),
      /'queueType' must be 'classic' or 'quorum'/,
    );
    assert.throws(
      () => rabbitmqTransport({ url, reconnectDelayMs: 1_000, maxReconnectDelayMs: 500 }),
      /'maxReconnectDelayMs' \(500\) must be at least 'reconnectDelayMs' \(1000\)/,
    );
  });

  it('checks a source’s options when subscribing, before connecting', async () => {
    const transport = rabbitmqTransport({ url: 'amqp://guest:guest@127.0.0.1:1' });
    await assert.rejects(
      transport.subscribe({ name: 'q', options: { queuetype: 'quorum' } }, { prefetch: 1, onDelivery() {} }),
      (error: Error & { code?: string }) =>
        error.code === 'HW_UNKNOWN_OPTION' && /queueType/.test(error.message),
    );
    await assert.rejects(
      transport.subscribe({ name: 'q' }, { prefetch: 0, onDelivery() {} }),
      (error: Error & { code?: string }) =>
        error.code === 'HW_INVALID_OPTION' && /prefetch of queue 'q'/.test(error.message),
    );
    await transport.close();
  });

  it('fails to connect with an error naming the broker, without its password', async () => {
    const transport = rabbitmqTransport({ url: 'amqp://guest:secret@127.0.0.1:1' });
    await assert.rejects(
      transport.connect(),
      (error: Error & { code?: string }) =>
        error.code === 'HW_TRANSPORT_FAILED' &&
        /127\.0\.0\.1:1/.test(error.message) &&
        !error.message.includes('secret'),
    );
    await transport.close();
    await assert.rejects(
      transport.connect(),
      (error: Error & { code?: string }) => error.code === 'HW_HOST_STATE',
    );
  });
});

describe('delay rounding', () => {
  it('rounds a delay up to the next of 20 steps per decade, never down', () => {
    assert.equal(delayBucketMs(0), 0);
    assert.equal(delayBucketMs(0.5), 0);
    assert.equal(delayBucketMs(1), 10);
    assert.equal(delayBucketMs(11), 12);
    assert.equal(delayBucketMs(100), 100);
    assert.equal(delayBucketMs(101), 112);
    assert.equal(delayBucketMs(1_000), 1_000);
    assert.equal(delayBucketMs(5_001), 5_600);
    assert.equal(delayBucketMs(60_000), 63_000);
    for (let delay = 1; delay < 10_000_000; delay = Math.ceil(delay * 1.07)) {
      const bucket = delayBucketMs(delay);
      assert.ok(bucket >= delay && bucket <= Math.max(delay * 1.15, 10), `${delay} -> ${bucket}`);
      assert.ok(Number.isInteger(bucket));
    }
    assert.equal(delayBucketMs(MAX_DELAY_MS), MAX_DELAY_MS);
    assert.throws(() => delayBucketMs(MAX_DELAY_MS + 1), RangeError);
  });

  it('names delay queues after their source and TTL', () => {
    assert.equal(delayQueueName('orders', 5_600), 'orders.delay.5600');
  });
});
