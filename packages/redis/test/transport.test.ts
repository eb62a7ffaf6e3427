/**
 * The Redis Streams transport against the shared Redis: the fields of an entry, each way of settling and what it leaves
 * in the stream, the scheduled set and the dead-letter stream, leases (the claim of a dead consumer's entries, counted
 * as a lost attempt, extend, a lease lost to another consumer), the move of due retries by several consumers at once, trimming, stop and close.
 */
import assert from 'node:assert/strict';
import { afterEach, it } from 'node:test';
import { redisTransport } from '@hostwork/redis';
import { ATTEMPT_HEADER, DEAD_LETTER_HEADERS, type Delivery, type DeliveryError, ErrorCodes } from 'hostwork';
import { type Harness, harness, message, text } from './support/harness.ts';
import {
  command,
  consumers,
  describeWithRedis,
  pendingCount,
  REDIS_URL,
  readStream,
  scheduledCount,
  waitFor,
} from './support/server.ts';

const made: Harness[] = [];
function fresh(...args: Parameters<typeof harness>): Harness {
  const h = harness(...args);
  made.push(h);
  return h;
}
afterEach(async () => {
  for (const h of made.splice(0)) await h.cleanup();
});

const failure = (attempt: number, message = `failed attempt ${attempt}`): DeliveryError => ({
  attempt,
  message,
  name: 'Error',
  at: Date.now(),
});

/** Waits a little to see that something does NOT happen (a delivery that must not come). */
const pause = (ms = 300) => new Promise((resolve) => setTimeout(resolve, ms));

const xlen = async (key: string) => Number(await command<number>(REDIS_URL, ['XLEN', key]));

await describeWithRedis('the Redis Streams transport', () => {
  it('publishes id, body, key and headers as fields of an entry, and delivers them back; ack leaves nothing pending', async () => {
    const h = fresh({ transport: { leaseMs: 5_000 } });
    await h.subscribe(10);
    await h.transport.publish(h.source, [message('one', { key: 'k1' }), message('two')]);
    await h.received(2);
    assert.deepEqual(
      h.deliveries.map((d) => [d.id, text(d), d.headers, d.attempt, d.key, d.lockMs]),
      [
        ['one-id', 'one', { n: 'one' }, 1, 'k1', 5_000],
        ['two-id', 'two', { n: 'two' }, 1, undefined, 5_000],
      ],
    );
    const entries = await readStream(h.stream);
    assert.deepEqual(entries[0]!.fields, { id: 'one-id', body: 'one', key: 'k1', n: 'one' });
    assert.equal(await pendingCount(h.stream), 2);
    await Promise.all(h.deliveries.map((d) => d.ack()));
    assert.equal(await pendingCount(h.stream), 0);
    // Acknowledged entries stay in the stream (a log) unless deleteAcked or trimming removes them.
    assert.equal(await xlen(h.stream), 2);
  });

  it('keeps a binary body byte for byte', async () => {
    const h = fresh();
    await h.subscribe(1);
    const body = new Uint8Array([0, 255, 1, 128, 10, 13, 0xc3, 0x28]);
    await h.transport.publish(h.source, [{ id: 'bin', body, headers: {} }]);
    await h.received(1);
    assert.deepEqual([...h.deliveries[0]!.body], [...body]);
    // Through a retry copy (the copy is made by a script) too.
    await h.deliveries[0]!.retry(0, failure(1));
    await h.received(2);
    assert.deepEqual([...h.deliveries[1]!.body], [...body]);
  });

  it('reads an entry another producer added by hand: its stream id stands in for the message id', async () => {
    const h = fresh();
    await h.subscribe(1);
    const entryId = (
      await command<Buffer>(REDIS_URL, ['XADD', h.stream, '*', 'body', '{"n":1}', 'hostwork-type', 'item'])
    ).toString();
    await h.received(1);
    const d = h.deliveries[0]!;
    assert.equal(d.id, entryId);
    assert.equal(text(d), '{"n":1}');
    assert.deepEqual(d.headers, { 'hostwork-type': 'item' });
    // A retry copy carries the id, so later attempts keep it.
    await d.retry(0, failure(1));
    await h.received(2);
    assert.equal(h.deliveries[1]!.id, entryId);
  });

  it('refuses a header named like a field the transport uses, before sending anything', async () => {
    const h = fresh();
    await assert.rejects(
      h.transport.publish(h.source, [message('ok'), message('bad', { headers: { body: 'x' } })]),
      (error: Error & { code?: string }) =>
        error.code === ErrorCodes.INVALID_OPTION && /header named 'body'/.test(error.message),
    );
    assert.equal(await xlen(h.stream), 0);
  });

  it('retries through the scheduled set: a copy with the attempt and history, the original acknowledged, back after the delay', async () => {
    const h = fresh();
    await h.subscribe(10);
    await h.send('r');
    await h.received(1);
    const started = Date.now();
    await h.deliveries[0]!.retry(600, failure(1, 'boom'));
    assert.equal(await pendingCount(h.stream), 0, 'the original is acknowledged');
    assert.equal(await scheduledCount(`${h.stream}:scheduled`), 1, 'the copy waits in the scheduled set');
    await h.received(2);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 590, `came back after ${elapsed} ms, before the 600 ms asked`);
    const again = h.deliveries[1]!;
    assert.equal(again.id, 'r-id');
    assert.equal(text(again), 'r');
    assert.equal(again.attempt, 2);
    assert.equal(again.headers[ATTEMPT_HEADER], '1');
    assert.equal(again.headers.n, 'r');
    assert.deepEqual(
      JSON.parse(again.headers[DEAD_LETTER_HEADERS.history]!).map((e: DeliveryError) => [
        e.attempt,
        e.message,
      ]),
      [[1, 'boom']],
    );
    assert.equal(await scheduledCount(`${h.stream}:scheduled`), 0);
  });

  it('a retry without delay goes straight back to the stream', async () => {
    const h = fresh();
    await h.subscribe(10);
    await h.send('z');
    await h.received(1);
    await h.deliveries[0]!.retry(0, failure(1));
    await h.received(2);
    assert.equal(h.deliveries[1]!.attempt, 2);
    assert.equal(await scheduledCount(`${h.stream}:scheduled`), 0);
  });

  it('delays a publish with delayMs through the scheduled set', async () => {
    const h = fresh();
    await h.subscribe(10);
    const started = Date.now();
    await h.transport.publish(h.source, [message('later', { delayMs: 500 }), message('now')]);
    await h.received(1);
    assert.equal(text(h.deliveries[0]!), 'now');
    await h.received(2);
    assert.equal(text(h.deliveries[1]!), 'later');
    assert.ok(Date.now() - started >= 490, 'the delayed message came before its delay');
    assert.equal(h.deliveries[1]!.attempt, 1);
  });

  it('moves each due retry exactly once when several consumers run the move at the same time', async () => {
    const h = fresh({ transport: { schedulePollMs: 20 } });
    const seen: string[] = [];
    const subscriptions = [];
    for (let i = 0; i < 4; i++) {
      const t = i === 0 ? h.transport : h.another({ schedulePollMs: 20 });
      subscriptions.push(
        await t.subscribe(h.source, {
          prefetch: 50,
          onDelivery: (d) => {
            seen.push(d.id);
            void d.ack();
          },
        }),
      );
    }
    const ids = Array.from({ length: 120 }, (_, i) => `m${i}`);
    await h.transport.publish(
      h.source,
      ids.map((id) => ({ id, body: new Uint8Array([1]), headers: {}, delayMs: 300 })),
    );
    await waitFor('every delayed message', () => new Set(seen).size === ids.length);
    await pause(500);
    assert.equal(seen.length, ids.length, 'no message was moved (and delivered) twice');
    assert.equal(await xlen(h.stream), ids.length);
  });

  it('dead-letters to <stream>:dead with the reason, last error and history; the original acknowledged', async () => {
    const h = fresh();
    await h.subscribe(10);
    await h.send('d');
    await h.received(1);
    await h.deliveries[0]!.deadLetter('attempts-exhausted', [failure(1, 'first'), failure(2, 'second')]);
    assert.equal(await pendingCount(h.stream), 0);
    const [dead] = await readStream(`${h.stream}:dead`);
    assert.equal(dead!.id, 'd-id');
    assert.equal(Buffer.from(dead!.body).toString(), 'd');
    assert.equal(dead!.headers.n, 'd');
    assert.equal(dead!.headers[DEAD_LETTER_HEADERS.reason], 'attempts-exhausted');
    assert.equal(dead!.headers[DEAD_LETTER_HEADERS.error], 'second');
    assert.equal(dead!.headers[ATTEMPT_HEADER], '2');
    assert.deepEqual(
      JSON.parse(dead!.headers[DEAD_LETTER_HEADERS.history]!).map((e: DeliveryError) => e.message),
      ['first', 'second'],
    );
  });

  it('dead-letters to the stream a source names', async () => {
    const h = fresh({ source: { deadLetterStream: `${Math.random().toString(36).slice(2)}-graveyard` } });
    await h.subscribe(10);
    await h.send('g');
    await h.received(1);
    await h.deliveries[0]!.deadLetter('poison', [failure(1)]);
    const dead = await readStream(String(h.source.options!.deadLetterStream));
    assert.deepEqual(
      dead.map((d) => [d.id, d.headers[DEAD_LETTER_HEADERS.reason]]),
      [['g-id', 'poison']],
    );
    assert.equal(await xlen(`${h.stream}:dead`), 0);
  });

  it('release hands the message back at once, the attempt not counted, to any consumer', async () => {
    const h = fresh();
    const subscription = await h.subscribe(1);
    await h.send('x');
    await h.received(1);
    await subscription.stop();
    await h.deliveries[0]!.release();
    assert.equal(await pendingCount(h.stream), 0, 'the original is acknowledged');
    const other = h.another();
    const got: Delivery[] = [];
    await other.subscribe(h.source, { prefetch: 1, onDelivery: (d) => got.push(d) });
    await waitFor('the released message', () => got.length === 1);
    assert.equal(got[0]!.id, 'x-id');
    assert.equal(got[0]!.attempt, 1);
    assert.deepEqual(got[0]!.headers, { n: 'x' });
    await got[0]!.ack();
  });

  it('refuses a second settle of a delivery', async () => {
    const h = fresh();
    await h.subscribe(1);
    await h.send('once');
    await h.received(1);
    await h.deliveries[0]!.ack();
    await assert.rejects(
      h.deliveries[0]!.retry(0, failure(1)),
      (error: Error & { code?: string }) => error.code === ErrorCodes.DELIVERY_SETTLED,
    );
  });

  it("claims a dead consumer's entries once their lease ran out, counting the attempt that died with it", async () => {
    const h = fresh({ transport: { leaseMs: 4_000, claimIntervalMs: 100 } });
    await h.send('orphan');
    // A consumer that read it and died without settling.
    await command(REDIS_URL, ['XGROUP', 'CREATE', h.stream, 'hostwork', '0']);
    await command(REDIS_URL, [
      'XREADGROUP',
      'GROUP',
      'hostwork',
      'dead-one',
      'COUNT',
      '10',
      'STREAMS',
      h.stream,
      '>',
    ]);
    await h.subscribe(5);
    await pause(500);
    assert.equal(h.deliveries.length, 0, 'claimed before its lease ran out');
    await h.received(1);
    const again = h.deliveries[0]!;
    assert.equal(again.id, 'orphan-id');
    assert.equal(text(again), 'orphan');
    assert.equal(again.headers.n, 'orphan', 'the headers are carried');
    // Attempt 1 died with its consumer: this is attempt 2, the lost one in the history.
    assert.equal(again.attempt, 2);
    assert.equal(again.headers[ATTEMPT_HEADER], '1');
    const history = JSON.parse(again.headers[DEAD_LETTER_HEADERS.history]!) as DeliveryError[];
    assert.deepEqual(
      history.map((e) => [e.attempt, e.name]),
      [[1, 'ConsumerLost']],
    );
    assert.match(
      history[0]!.message,
      /consumer died while handling it: consumer 'dead-one' held it past its lease of 4000 ms/,
    );
    const warned = h.warnings.filter((w) => w.kind === 'attempt-lost');
    assert.equal(warned.length, 1);
    assert.match(warned[0]!.message, /1 message\(s\) .* held by consumer 'dead-one'/);
    // A copy with the attempt counted, the original acknowledged in the same script: only the copy is pending.
    assert.equal(await xlen(h.stream), 2);
    assert.equal(await pendingCount(h.stream), 1);
    await again.ack();
    assert.equal(await pendingCount(h.stream), 0);
    await pause(300);
    assert.equal(h.deliveries.length, 1, 'delivered once');
  });

  it('extend keeps an entry with its consumer past its lease, another consumer claiming meanwhile', async () => {
    const h = fresh({ transport: { leaseMs: 3_000, claimIntervalMs: 100 } });
    await h.subscribe(5);
    await h.send('kept');
    await h.received(1);
    const kept = h.deliveries[0]!;
    const other = h.another();
    const taken: Delivery[] = [];
    await other.subscribe(h.source, { prefetch: 5, onDelivery: (d) => taken.push(d) });
    // Over two leases long, extended every 300 ms (the engine extends every third of the lease).
    const until = Date.now() + 7_000;
    while (Date.now() < until) {
      await kept.extend!(3_000);
      await pause(300);
    }
    assert.deepEqual(taken, [], 'the extended entry was not taken over');
    await kept.ack();
    assert.equal(await pendingCount(h.stream), 0);
  });

  it('a lease that ran out goes to another consumer; the first holder then leaves it alone', async () => {
    const h = fresh({ transport: { leaseMs: 300, claimIntervalMs: 50 } });
    const subscription = await h.subscribe(5);
    await h.send('lost');
    await h.received(1);
    const lost = h.deliveries[0]!;
    // Its subscription stopped (its own claims would renew what it holds); the delivery stays settle-able.
    await subscription.stop();
    const other = h.another();
    const taken: Delivery[] = [];
    await other.subscribe(h.source, { prefetch: 5, onDelivery: (d) => taken.push(d) });
    await waitFor('the entry taken over', () => taken.length === 1);
    assert.equal(taken[0]!.id, 'lost-id');
    assert.equal(taken[0]!.attempt, 2, 'the attempt whose lease ran out is counted');
    // The first holder's settles and extensions now leave it to the consumer that claimed it: no copy, a warning.
    await lost.extend!(300);
    await lost.retry(0, failure(1));
    assert.deepEqual(
      h.warnings.filter((w) => w.kind === 'lease-lost').length,
      2,
      'extend and retry each found the entry with another consumer',
    );
    await pause(300);
    assert.equal(taken.length, 1, 'no retry copy was added by the consumer that lost the lease');
    // The original and the claimer's copy with the attempt counted; nothing from the first holder.
    assert.equal(await xlen(h.stream), 2);
    await taken[0]!.ack();
    assert.equal(await pendingCount(h.stream), 0);
  });

  it('deleteAcked removes settled entries from the stream', async () => {
    const h = fresh({ source: { deleteAcked: true } });
    await h.subscribe(10);
    await h.send('a', 'b', 'c');
    await h.received(3);
    const [a, b, c] = h.deliveries as [Delivery, Delivery, Delivery];
    await a.ack();
    await b.deadLetter('poison', [failure(1)]);
    await c.retry(0, failure(1));
    await h.received(4);
    await h.deliveries[3]!.ack();
    assert.equal(await xlen(h.stream), 0);
    assert.equal(await xlen(`${h.stream}:dead`), 1);
  });

  for (const deleteAcked of [false, true]) {
    it(`acks made together (one XACK for the turn) each resolve and leave nothing pending${deleteAcked ? ', and deleted' : ''}`, async () => {
      const h = fresh({ source: { deleteAcked } });
      await h.subscribe(30);
      await h.send(...Array.from({ length: 30 }, (_, i) => `b${i}`));
      await h.received(30);
      // All in one synchronous loop, as the engine settles a batch of synchronous handlers.
      await Promise.all(h.deliveries.map((d) => d.ack()));
      assert.equal(await pendingCount(h.stream), 0);
      assert.equal(await xlen(h.stream), deleteAcked ? 0 : 30);
    });
  }

  for (const deleteAcked of [false, true]) {
    it(`acks made as deliveries are handed over, and acks made while the read blocks, resolve without waiting for the block${deleteAcked ? ' (deleteAcked)' : ''}`, async () => {
      // A long block: an ack waiting behind the read (on its connection) would not resolve within the test.
      const h = fresh({ source: { deleteAcked }, transport: { blockMs: 60_000 } });
      const acked: Promise<void>[] = [];
      const held: Delivery[] = [];
      await h.transport.subscribe(h.source, {
        prefetch: 10,
        onDelivery: (d) => {
          // Settled at once, as the engine settles synchronous handlers: these go out ahead of the next read.
          if (text(d).startsWith('now')) acked.push(d.ack());
          else held.push(d);
        },
      });
      await h.send(...Array.from({ length: 45 }, (_, i) => `now${i}`));
      await waitFor('45 deliveries acknowledged', () => acked.length === 45);
      const within = <T>(what: string, promise: Promise<T>) =>
        Promise.race([
          promise,
          new Promise<never>((_, reject) =>
            setTimeout(() => reject(new Error(`${what} waited for the blocking read`)), 10_000),
          ),
        ]);
      // The last batch's acks went ahead of a read now blocking for a minute: done all the same.
      await within('the acks made in onDelivery', Promise.all(acked));
      assert.equal(await pendingCount(h.stream), 0);
      await h.send('later');
      await waitFor('the held delivery', () => held.length === 1);
      await pause(100);
      // Made while the next read blocks: sent on the command connection at once.
      await within('an ack made while the read blocks', held[0]!.ack());
      assert.equal(await pendingCount(h.stream), 0);
      assert.equal(await xlen(h.stream), deleteAcked ? 0 : 46);
    });
  }

  it('trims the stream as it adds to it (MAXLEN ~)', async () => {
    const h = fresh({ source: { maxLength: 10 } });
    const batch = Array.from({ length: 500 }, (_, i) => message(`t${i}`));
    await h.transport.publish(h.source, batch);
    const length = await xlen(h.stream);
    assert.ok(length >= 10 && length < 500, `the stream holds ${length} entries`);
  });

  it('prefetch bounds what is handed over: no more until one is settled', async () => {
    const h = fresh();
    await h.subscribe(2);
    await h.send('1', '2', '3', '4');
    await h.received(2);
    await pause();
    assert.equal(h.deliveries.length, 2);
    await h.deliveries[0]!.ack();
    await h.received(3);
    await pause();
    assert.equal(h.deliveries.length, 3);
  });

  it('a group created at $ skips what was in the stream before', async () => {
    const h = fresh({ source: { groupStart: '$' } });
    await h.send('before');
    await h.subscribe(5);
    await h.send('after');
    await h.received(1);
    await pause();
    assert.deepEqual(h.deliveries.map(text), ['after']);
  });

  it('declare() creates a group at $ before the first publish, so what is published next is kept for it', async () => {
    const h = fresh({ source: { groupStart: '$' } });
    assert.equal(await h.transport.declare(h.source), true);
    assert.equal(await h.transport.declare(h.source), false, 'created once');
    await h.send('early');
    await h.subscribe(5);
    await h.received(1);
    assert.deepEqual(h.deliveries.map(text), ['early']);
  });

  it('stop() interrupts a blocking read and hands nothing over after it', async () => {
    const h = fresh({ transport: { blockMs: 120_000 } });
    const subscription = await h.subscribe(5);
    await pause(200);
    // Resolves well within the test's time although the read blocks for 2 minutes: CLIENT UNBLOCK ended it.
    await subscription.stop();
    await h.send('after-stop');
    await pause();
    assert.equal(h.deliveries.length, 0);
  });

  it('close() removes its consumer from the group when nothing is pending with it, and keeps one that has', async () => {
    const idle = fresh();
    await idle.subscribe(1);
    await idle.send('i');
    await idle.received(1);
    await idle.deliveries[0]!.ack();
    assert.equal((await consumers(idle.stream)).size, 1);
    await idle.transport.close();
    assert.equal((await consumers(idle.stream)).size, 0);

    const busy = fresh();
    await busy.subscribe(1);
    await busy.send('b');
    await busy.received(1);
    await busy.transport.close();
    // Its entry is still pending with it, to be claimed by another consumer after the lease: the consumer stays.
    assert.deepEqual([...(await consumers(busy.stream)).values()], [1]);
  });

  it('reconnects after its connections are killed, reports it, and reads again', async () => {
    const h = fresh({ transport: { reconnectDelayMs: 50 } });
    const events: string[] = [];
    await h.subscribe(5, {
      disconnected: () => events.push('disconnected'),
      reconnected: () => events.push('reconnected'),
    });
    await h.send('before');
    await h.received(1);
    await h.deliveries[0]!.ack();
    // CLIENT KILL of this transport's connections only (named after it), as a network failure would.
    const list = (await command<Buffer>(REDIS_URL, ['CLIENT', 'LIST'])).toString();
    const ids = list
      .split('\n')
      .filter((line) => line.includes(`name=${h.connectionName}`))
      .map((line) => /\bid=(\d+)/.exec(line)![1]!);
    assert.equal(ids.length, 2, 'the command connection and the reader');
    for (const id of ids) await command(REDIS_URL, ['CLIENT', 'KILL', 'ID', id]);
    await waitFor('the loss reported', () => events.includes('disconnected'));
    await waitFor('reading again', () => events.includes('reconnected'));
    assert.ok(h.warnings.some((w) => w.kind === 'connection-lost'));
    assert.ok(h.warnings.some((w) => w.kind === 'reconnected'));
    await h.send('after');
    await h.received(2);
    assert.equal(text(h.deliveries[1]!), 'after');
  });

  it('connect() fails at once, naming the server, when nothing answers', async () => {
    const t = redisTransport({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 2_000 });
    try {
      await assert.rejects(
        t.connect(),
        (error: Error & { code?: string }) =>
          error.code === ErrorCodes.TRANSPORT_FAILED && error.message.includes('redis://127.0.0.1:1'),
      );
    } finally {
      await t.close();
    }
  });
});

it('refuses unknown and invalid options, naming the key and the fix', async () => {
  const unknown = (f: () => unknown, key: string) =>
    assert.throws(
      f,
      (e: Error & { code?: string }) => e.code === ErrorCodes.UNKNOWN_OPTION && e.message.includes(key),
    );
  const invalid = (f: () => unknown, pattern: RegExp) =>
    assert.throws(
      f,
      (e: Error & { code?: string }) => e.code === ErrorCodes.INVALID_OPTION && pattern.test(e.message),
    );
  unknown(() => redisTransport({ url: 'redis://x', leaseMS: 1 } as never), 'leaseMS');
  invalid(() => redisTransport({ url: 'http://x' }), /redis:\/\/ or rediss:\/\//);
  invalid(
    () => redisTransport({ url: 'redis://u:secret@x', leaseMs: 5 }),
    /'leaseMs' must be a whole number >= 100/,
  );
  invalid(() => redisTransport({ url: 'redis://x', maxLength: 5, maxAgeMs: 5 }), /not both/);
  invalid(() => redisTransport({ url: 'redis://x', groupStart: '>' as never }), /'groupStart'/);
  invalid(
    () => redisTransport({ url: 'redis://x', reconnectDelayMs: 10, maxReconnectDelayMs: 5 }),
    /maxReconnectDelayMs/,
  );
  const t = redisTransport({ url: 'redis://127.0.0.1:1' });
  const subscribe = (options: Record<string, unknown>) =>
    t.subscribe({ name: 's', options }, { prefetch: 1, onDelivery: () => {} });
  await Promise.all([
    assert.rejects(
      subscribe({ dedLetterStream: 'x' }),
      (e: Error & { code?: string }) =>
        e.code === ErrorCodes.UNKNOWN_OPTION && /dedLetterStream.*deadLetterStream/.test(e.message),
    ),
    assert.rejects(subscribe({ deadLetterStream: 's' }), /must be another key than the stream itself/),
    assert.rejects(
      t.subscribe({ name: 's' }, { prefetch: 0, onDelivery: () => {} }),
      (e: Error & { code?: string }) => e.code === ErrorCodes.INVALID_OPTION,
    ),
  ]).finally(() => t.close());
});
