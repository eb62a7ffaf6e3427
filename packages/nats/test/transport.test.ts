/**
 * The NATS JetStream transport against the real server: publish and receive, each way of settling, retries held back
 * until due, dead letters, prefetch, stop and close, streams and consumers declared or checked, several consumers on
 * one stream, and the warnings before `max_ack_pending` stalls a consumer.
 */
import assert from 'node:assert/strict';
import { afterEach, it } from 'node:test';
import { natsTransport, RETRY_FOR_HEADER } from '@hostwork/nats';
import { AckPolicy } from '@nats-io/jetstream';
import {
  ATTEMPT_HEADER,
  DEAD_LETTER_HEADERS,
  type Delivery,
  type DeliveryError,
  readAttemptErrors,
} from 'hostwork';
import { type Harness, harness, message, text } from './support/harness.ts';
import {
  adminManager,
  deleteStreams,
  describeWithServer,
  freshSubject,
  NATS_URL,
  publishRaw,
  readStream,
  streamCount,
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
const settle = (ms = 300) => new Promise((resolve) => setTimeout(resolve, ms));

const history = (value: string | undefined) =>
  (JSON.parse(value ?? '[]') as DeliveryError[]).map((e) => [e.attempt, e.message]);

await describeWithServer('the NATS transport', () => {
  it('publishes and receives with id, headers and body; ack removes it for good', async () => {
    const h = fresh({ source: { ackWaitMs: 7_000 } });
    await h.subscribe(10);
    await h.send('one', 'two');
    await h.received(2);
    assert.deepEqual(
      h.deliveries.map((d) => [d.id, text(d), d.headers.n, d.attempt, d.lockMs]),
      [
        ['one-id', 'one', 'one', 1, 7_000],
        ['two-id', 'two', 'two', 1, 7_000],
      ],
    );
    assert.ok(
      !Object.keys(h.deliveries[0]!.headers).some((k) => /^nats-/i.test(k)),
      "JetStream's own headers are not Hostwork's",
    );
    await Promise.all(h.deliveries.map((d) => d.ack()));
    await h.transport.close();
    // A work-queue stream (the default) drops a message once it is acknowledged.
    assert.equal(await streamCount(h.subject), 0);
  });

  it('retries after the delay (not before) with the attempt header and the error history', async () => {
    const h = fresh();
    await h.subscribe(10);
    await h.send('r');
    await h.received(1);
    const started = Date.now();
    await h.deliveries[0]!.retry(600, failure(1, 'boom'));
    await h.received(2);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 600, `came back after ${elapsed} ms, before the 600 ms asked`);
    const again = h.deliveries[1]!;
    assert.equal(again.id, 'r-id');
    assert.equal(text(again), 'r');
    assert.equal(again.attempt, 2);
    assert.equal(again.headers[ATTEMPT_HEADER], '1');
    assert.equal(again.headers.n, 'r');
    assert.deepEqual(history(again.headers[DEAD_LETTER_HEADERS.history]), [[1, 'boom']]);
    await again.ack();
    await h.transport.close();
    assert.equal(await streamCount(h.subject), 0, 'the original was acknowledged when its copy was stored');
  });

  it('retries with two different delays without the longer blocking the shorter', async () => {
    const h = fresh();
    await h.subscribe(10);
    await h.send('long', 'short');
    await h.received(2);
    const started = Date.now();
    await h.deliveries[0]!.retry(3_000, failure(1));
    await h.deliveries[1]!.retry(200, failure(1));
    await h.received(3);
    assert.equal(text(h.deliveries[2]!), 'short');
    await h.received(4);
    assert.equal(text(h.deliveries[3]!), 'long');
    assert.ok(Date.now() - started >= 3_000);
    await Promise.all(h.deliveries.slice(2).map((d) => d.ack()));
  });

  it('retries with no delay straight back', async () => {
    const h = fresh();
    await h.subscribe(10);
    await h.send('now');
    await h.received(1);
    await h.deliveries[0]!.retry(0, failure(1));
    await h.received(2);
    assert.equal(h.deliveries[1]!.attempt, 2);
    await h.deliveries[1]!.ack();
  });

  it('dead-letters to <stream>_dead with the reason, the last error and every attempt’s error; the original is gone', async () => {
    const h = fresh();
    await h.subscribe(10);
    await h.send('bad');
    await h.received(1);
    await h.deliveries[0]!.retry(100, failure(1, 'first'));
    await h.received(2);
    // As the engine does: the whole history, the earlier attempts read from the header the retry wrote.
    await h.deliveries[1]!.deadLetter('attempts-exhausted', [
      ...readAttemptErrors(h.deliveries[1]!.headers),
      failure(2, 'second\nover two lines'),
    ]);
    await h.transport.close();
    assert.equal(await streamCount(h.subject), 0, 'terminated, gone from the work-queue stream');
    const dead = await readStream(`${h.subject}_dead`);
    assert.equal(dead.length, 1);
    const [letter] = dead;
    assert.equal(Buffer.from(letter!.body).toString(), 'bad');
    assert.equal(letter!.id, 'bad-id');
    assert.equal(letter!.subject, `hostwork.dead.${h.subject}.${h.subject}`);
    assert.equal(letter!.headers[DEAD_LETTER_HEADERS.reason], 'attempts-exhausted');
    assert.equal(
      letter!.headers[DEAD_LETTER_HEADERS.error],
      'second over two lines',
      'no line break in a header',
    );
    assert.equal(letter!.headers.n, 'bad');
    assert.equal(letter!.headers['hostwork-dead-subject'], h.subject);
    assert.equal(letter!.headers['hostwork-dead-consumer'], `${h.subject}/${h.subject}`);
    assert.equal(letter!.headers[RETRY_FOR_HEADER], undefined, 'no routing header on a dead letter');
    assert.equal(letter!.headers['hostwork-not-before'], undefined);
    assert.deepEqual(history(letter!.headers[DEAD_LETTER_HEADERS.history]), [
      [1, 'first'],
      [2, 'second\nover two lines'],
    ]);
  });

  it('dead-letters to a stream and subject of the source’s choosing', async () => {
    const deadStream = `${freshSubject('hw-test-dead')}`;
    const h = fresh({ source: { deadLetterStream: deadStream, deadLetterSubject: `${deadStream}.in` } });
    try {
      await h.subscribe(1);
      await h.send('not json');
      await h.received(1);
      await h.deliveries[0]!.deadLetter('poison', [failure(1, 'Unexpected token')]);
      const [letter] = await readStream(deadStream);
      assert.equal(letter!.subject, `${deadStream}.in`);
      assert.equal(letter!.headers[DEAD_LETTER_HEADERS.reason], 'poison');
      assert.equal(await streamCount(`${h.subject}_dead`), undefined, 'no <stream>_dead declared');
    } finally {
      await deleteStreams(deadStream);
    }
  });

  it('release puts the message back at once, the attempt not counted', async () => {
    const h = fresh();
    await h.subscribe(1);
    await h.send('back');
    await h.received(1);
    await h.deliveries[0]!.release();
    await h.received(2);
    assert.equal(h.deliveries[1]!.id, 'back-id');
    assert.equal(h.deliveries[1]!.attempt, 1);
    assert.equal(h.deliveries[1]!.headers[ATTEMPT_HEADER], undefined);
    await h.deliveries[1]!.ack();
  });

  it('counts redeliveries of one stream message: AckWait run out, nak; a retry copy starts at 0', async () => {
    const h = fresh({ source: { ackWaitMs: 1_000 } });
    // Room for the redeliveries besides the first delivery, which stays held and unsettled.
    await h.subscribe(4);
    await h.send('lost');
    await h.received(1);
    // Left unsettled, as by a consumer that died: JetStream delivers it again once AckWait runs out.
    await h.received(2);
    await h.deliveries[1]!.release();
    await h.received(3);
    assert.deepEqual(
      h.deliveries.map((d) => [d.id, d.attempt, d.redeliveries]),
      [
        ['lost-id', 1, 0],
        ['lost-id', 1, 1],
        ['lost-id', 1, 2],
      ],
    );
    await h.deliveries[2]!.retry(0, failure(1));
    await h.received(4);
    assert.deepEqual([h.deliveries[3]!.attempt, h.deliveries[3]!.redeliveries], [2, 0]);
    await h.deliveries[3]!.ack();
  });

  it('never settles a delivery twice: a second call rejects naming the first', async () => {
    const h = fresh();
    await h.subscribe(5);
    await h.send('once', 'race');
    await h.received(2);
    await h.deliveries[0]!.ack();
    await assert.rejects(
      h.deliveries[0]!.release(),
      (error: Error & { code?: string }) =>
        error.code === 'HW_DELIVERY_SETTLED' &&
        /once-id/.test(error.message) &&
        /ack\(\)/.test(error.message),
    );
    // Two calls at once: the second is refused while the first runs.
    const [first, second] = await Promise.allSettled([
      h.deliveries[1]!.retry(100, failure(1)),
      h.deliveries[1]!.deadLetter('attempts-exhausted', [failure(1)]),
    ]);
    assert.equal(first.status, 'fulfilled');
    assert.equal(second.status, 'rejected');
    await h.received(3);
    await h.deliveries[2]!.ack();
    await h.transport.close();
    assert.equal(await streamCount(`${h.subject}_dead`), 0);
    assert.equal(await streamCount(h.subject), 0);
  });

  it('hands over at most prefetch deliveries not yet settled', async () => {
    const h = fresh();
    await h.subscribe(3);
    await h.send(...Array.from({ length: 10 }, (_, i) => `p${i}`));
    await h.received(3);
    await settle();
    assert.equal(h.deliveries.length, 3);
    await h.deliveries[0]!.ack();
    await h.received(4);
    await settle();
    assert.equal(h.deliveries.length, 4);
    for (let i = 1; i < 10; i++) {
      // i settled so far: never more than i + 3 handed over.
      await h.received(Math.min(i + 3, 10));
      assert.ok(h.deliveries.length <= i + 3);
      await h.deliveries[i]!.ack();
    }
    assert.deepEqual(
      h.deliveries.map((d) => text(d)),
      Array.from({ length: 10 }, (_, i) => `p${i}`),
    );
  });

  it('stop() hands over nothing more; deliveries already handed over can still be settled', async () => {
    const h = fresh();
    const subscription = await h.subscribe(10);
    await h.send('before');
    await h.received(1);
    await subscription.stop();
    await h.send('after1', 'after2');
    await settle();
    assert.equal(h.deliveries.length, 1);
    await h.deliveries[0]!.ack();
    await h.transport.close();
    assert.deepEqual(
      (await readStream(h.subject)).map((m) => Buffer.from(m.body).toString()),
      ['after1', 'after2'],
    );
  });

  it('close() waits for settle calls made before it: none lost, the unsettled delivered again', async () => {
    const h = fresh({ source: { ackWaitMs: 1_000 } });
    await h.subscribe(20);
    await h.send(...Array.from({ length: 20 }, (_, i) => `c${i}`));
    await h.received(20);
    // Not awaited: close() must wait for them.
    for (const d of h.deliveries.slice(0, 5)) void d.ack();
    for (const d of h.deliveries.slice(5, 10)) void d.retry(0, failure(1));
    for (const d of h.deliveries.slice(10, 15)) void d.deadLetter('attempts-exhausted', [failure(1)]);
    await h.transport.close();
    assert.equal((await readStream(`${h.subject}_dead`)).length, 5);
    // What is left: the 5 retry copies and the 5 never settled (back once their AckWait ran out).
    const next = fresh({ subject: h.subject, source: { ackWaitMs: 1_000 } });
    await next.subscribe(20);
    // Acknowledged as they come (a delivery held past the 1 s AckWait would come again: at least once).
    const seen = new Set<string>();
    await waitFor(
      'the ten messages left',
      () => {
        for (const d of next.deliveries.splice(0)) {
          seen.add(`${text(d)}#${d.attempt}`);
          void d.ack();
        }
        return seen.size >= 10;
      },
      15_000,
    );
    await settle();
    for (const d of next.deliveries.splice(0)) seen.add(`${text(d)}#${d.attempt}`);
    assert.deepEqual(
      [...seen].sort(),
      [
        ...Array.from({ length: 5 }, (_, i) => `c${i + 5}#2`),
        ...Array.from({ length: 5 }, (_, i) => `c${i + 15}#1`),
      ].sort(),
    );
  });

  it('holds back a message published with delayMs until it is due', async () => {
    const h = fresh();
    await h.subscribe(10);
    const started = Date.now();
    await h.transport.publish(h.source, [message('later', { delayMs: 500 }), message('now')]);
    await h.received(1);
    assert.equal(text(h.deliveries[0]!), 'now');
    await h.received(2);
    assert.ok(Date.now() - started >= 500);
    assert.equal(text(h.deliveries[1]!), 'later');
    assert.equal(h.deliveries[1]!.attempt, 1, 'held back, not an attempt');
    await Promise.all(h.deliveries.map((d) => d.ack()));
  });

  it('reads messages of publishers that are not Hostwork: the id from Nats-Msg-Id, else the stream sequence', async () => {
    const h = fresh();
    await h.subscribe(10);
    await publishRaw(h.subject, 'with-id', { n: '1' }, 'their-id');
    await publishRaw(h.subject, 'without-id');
    await h.received(2);
    assert.deepEqual(
      h.deliveries.map((d) => [d.id, d.attempt, d.headers.n]),
      [
        ['their-id', 1, '1'],
        [`${h.subject}-2`, 1, undefined],
      ],
    );
    // A retry copy keeps the id it was delivered with.
    await h.deliveries[1]!.retry(0, failure(1));
    await h.received(3);
    assert.equal(h.deliveries[2]!.id, `${h.subject}-2`);
    await Promise.all([h.deliveries[0]!.ack(), h.deliveries[2]!.ack()]);
  });

  it('publishes before any consumer exists: the stream is declared, the message kept', async () => {
    const h = fresh();
    await h.send('early');
    assert.equal(await streamCount(h.subject), 1);
    await h.subscribe(1);
    await h.received(1);
    assert.equal(text(h.deliveries[0]!), 'early');
    await h.deliveries[0]!.ack();
  });

  it('gives a retry copy only to the consumer that retried it, when several consumers read one stream', async () => {
    const subject = freshSubject();
    const a = fresh({ subject, source: { durable: 'a' }, transport: { retention: 'limits' } });
    const b = fresh({ subject, source: { durable: 'b' }, transport: { retention: 'limits' } });
    await a.subscribe(10);
    await b.subscribe(10);
    await a.send('fan');
    await a.received(1);
    await b.received(1);
    await b.deliveries[0]!.ack();
    await a.deliveries[0]!.retry(0, failure(1));
    await a.received(2);
    assert.equal(a.deliveries[1]!.attempt, 2);
    await a.deliveries[1]!.ack();
    await settle(500);
    assert.equal(b.deliveries.length, 1, "consumer b never saw a's retry copy");
    const info = await (await adminManager()).consumers.info(subject, 'b');
    assert.equal(info.num_ack_pending, 0, 'b acknowledged the copy that was not for it');
  });

  it('warns as unacknowledged deliveries near max_ack_pending, and when they reach it (the stall)', async () => {
    const h = fresh({ source: { maxAckPending: 5 }, transport: { ackPendingCheckMs: 100 } });
    await h.subscribe(1);
    await h.send('w1', 'w2', 'w3', 'w4');
    // Each retry waits a minute: its copy stays unacknowledged (held back with nak(delay)) all that time.
    for (let n = 1; n <= 4; n++) {
      await h.received(n);
      await h.deliveries[n - 1]!.retry(60_000, failure(1));
    }
    await waitFor('the warning before the stall', () =>
      h.warnings.some((w) => w.kind === 'ack-pending-high'),
    );
    const high = h.warnings.find((w) => w.kind === 'ack-pending-high')!;
    assert.deepEqual([high.details.numAckPending, high.details.maxAckPending], [4, 5]);
    assert.ok(!h.warnings.some((w) => w.kind === 'ack-pending-full'));
    await h.send('w5');
    await h.received(5);
    await waitFor('the stall warning', () => h.warnings.some((w) => w.kind === 'ack-pending-full'));
    assert.match(h.warnings.find((w) => w.kind === 'ack-pending-full')!.message, /stalled.*maxAckPending/);
    assert.ok(
      !h.warnings.some((w) => w.kind === 'pull-ended'),
      "a stalled consumer's pull requests wait, they do not fail",
    );
    // Stalled indeed: a sixth message is not delivered while five are unacknowledged.
    await h.send('w6');
    await settle(500);
    assert.equal(h.deliveries.length, 5);
    await h.deliveries[4]!.ack();
    await h.received(6);
    await h.deliveries[5]!.ack();
  });

  it('warns when the consumer’s max_ack_pending is below the prefetch', async () => {
    const h = fresh({ source: { maxAckPending: 2 } });
    await h.subscribe(5);
    assert.ok(h.warnings.some((w) => w.kind === 'max-ack-pending-below-prefetch'));
  });

  it('subscribes to an existing stream and consumer without declaring them, with their own AckWait', async () => {
    const subject = freshSubject();
    const jsm = await adminManager();
    await jsm.streams.add({ name: `${subject}-s`, subjects: [`${subject}.>`] });
    await jsm.consumers.add(`${subject}-s`, {
      durable_name: 'mine',
      ack_policy: AckPolicy.Explicit,
      filter_subject: `${subject}.x`,
      ack_wait: 4_000_000_000,
    });
    const h = fresh({
      subject: `${subject}.x`,
      source: { stream: `${subject}-s`, durable: 'mine', declare: false },
    });
    try {
      await h.subscribe(1);
      await h.send('exists');
      await h.received(1);
      assert.equal(h.deliveries[0]!.lockMs, 4_000, "the consumer's AckWait");
      await h.deliveries[0]!.ack();
    } finally {
      await deleteStreams(`${subject}-s`);
    }
  });

  it('refuses a missing stream or consumer without declare, naming it', async () => {
    const h = fresh({ source: { declare: false } });
    await assert.rejects(
      h.subscribe(1),
      (error: Error & { code?: string }) =>
        error.code === 'HW_MESSAGE_SOURCE_MISSING' &&
        error.message.includes(`stream '${h.subject}'`) &&
        /declare: true/.test(error.message),
    );
    await (await adminManager()).streams.add({ name: h.subject, subjects: [h.subject] });
    await assert.rejects(
      h.subscribe(1),
      (error: Error & { code?: string }) =>
        error.code === 'HW_MESSAGE_SOURCE_MISSING' && error.message.includes(`consumer '${h.subject}'`),
    );
  });

  it('refuses a stream that does not capture the subject, and a consumer filtered on another subject', async () => {
    const subject = freshSubject();
    const jsm = await adminManager();
    await jsm.streams.add({ name: subject, subjects: [`${subject}.a`, `${subject}.b`] });
    try {
      const elsewhere = fresh({ subject: `${subject}.c`, source: { stream: subject } });
      await assert.rejects(
        elsewhere.subscribe(1),
        (error: Error) =>
          /does not capture subject/.test(error.message) && error.message.includes(`${subject}.c`),
      );
      await jsm.consumers.add(subject, {
        durable_name: 'taken',
        ack_policy: AckPolicy.Explicit,
        filter_subject: `${subject}.a`,
      });
      const other = fresh({ subject: `${subject}.b`, source: { stream: subject, durable: 'taken' } });
      await assert.rejects(other.subscribe(1), /is filtered on '.*\.a', not on '.*\.b'/);
    } finally {
      await deleteStreams(subject);
    }
  });

  it('refuses a publish no stream captures without declare, naming the subject', async () => {
    const transport = natsTransport({ servers: NATS_URL, declare: false });
    const subject = freshSubject('hw-test-missing');
    try {
      await assert.rejects(
        transport.publish({ name: subject }, [message('lost')]),
        (error: Error & { code?: string }) =>
          error.code === 'HW_TRANSPORT_FAILED' &&
          error.message.includes(`no stream captures subject '${subject}'`),
      );
    } finally {
      await transport.close();
    }
  });

  it('updates the AckWait of a consumer Hostwork declares', async () => {
    const h = fresh({ source: { ackWaitMs: 2_000 } });
    await (await h.subscribe(1)).stop();
    const again = fresh({ subject: h.subject, source: { ackWaitMs: 9_000 } });
    await again.subscribe(1);
    await again.send('x');
    await again.received(1);
    assert.equal(again.deliveries[0]!.lockMs, 9_000);
    const info = await (await adminManager()).consumers.info(h.subject, h.subject);
    assert.equal(info.config.ack_wait, 9_000_000_000);
    await again.deliveries[0]!.ack();
  });

  it('keeps a delivery locked past its AckWait while extended (working)', async () => {
    const h = fresh({ source: { ackWaitMs: 1_000 } });
    await h.subscribe(2);
    await h.send('long');
    await h.received(1);
    const d: Delivery = h.deliveries[0]!;
    for (let i = 0; i < 8; i++) {
      await settle(300);
      await d.extend!(d.lockMs!);
    }
    assert.equal(h.deliveries.length, 1, 'not delivered again during 2.4 s of a 1 s AckWait');
    await d.ack();
    await settle(1_500);
    assert.equal(h.deliveries.length, 1);
  });

  it('keeps a message waiting behind a slow handler locked: not delivered again while it waits', async () => {
    const h = fresh({ source: { ackWaitMs: 1_000 } });
    await h.subscribe(1);
    await h.send('slow', 'next');
    await h.received(1);
    const slow: Delivery = h.deliveries[0]!;
    // 'next' is requested while 'slow' runs, and waits (not handed over: the prefetch is 1) for 2.4 s of a 1 s AckWait.
    for (let i = 0; i < 8; i++) {
      await settle(300);
      await slow.extend!(slow.lockMs!);
    }
    assert.equal(h.deliveries.length, 1, 'nothing handed over beyond the prefetch');
    await slow.ack();
    await h.received(2);
    assert.equal(text(h.deliveries[1]!), 'next');
    await h.deliveries[1]!.ack();
    await settle(1_500);
    assert.deepEqual(h.deliveries.map(text), ['slow', 'next'], 'the waiting message was not delivered again');
  });

  it('declares a consumer deleted under a running subscription again, and consumes on', async () => {
    const h = fresh();
    await h.subscribe(5);
    await h.send('before');
    await h.received(1);
    await h.deliveries[0]!.ack();
    // ack() resolves once written, not confirmed: the server has it once the work-queue stream dropped the message.
    await waitFor('the ack to reach the server', async () => (await streamCount(h.subject)) === 0);
    // nats-server 2.9 may fail a consumer's deletion while writing its state ("directory not empty"): try again.
    const jsm = await adminManager();
    await waitFor('the consumer deleted', () =>
      jsm.consumers.delete(h.subject, h.subject).then(
        () => true,
        (error: Error) => /not found/i.test(error.message),
      ),
    );
    await waitFor('the warning', () => h.warnings.some((w) => w.kind === 'consumer-deleted'), 20_000);
    await h.send('after');
    await h.received(2, 20_000);
    assert.equal(text(h.deliveries[1]!), 'after');
    await h.deliveries[1]!.ack();
  });

  it('reports as lag what its durable consumer has not delivered yet (num_pending)', async () => {
    const h = fresh();
    assert.equal(await h.transport.lag(h.source), undefined, 'no consumer yet');
    const first = await h.subscribe(5);
    await first.stop();
    assert.deepEqual(await h.transport.lag(h.source), { messages: 0 });
    await h.send('l1', 'l2', 'l3', 'l4');
    await waitFor('four pending', async () => (await h.transport.lag(h.source))?.messages === 4);
    await settle();
    assert.deepEqual(await h.transport.lag(h.source), { messages: 4 }, 'the stopped subscription took none');
    await h.send('l5', 'l6');
    await waitFor('six pending', async () => (await h.transport.lag(h.source))?.messages === 6);
    await h.subscribe(2);
    await h.received(2);
    await settle();
    // Two handed over, and at most two more pulled ahead into the subscription's buffer (within its prefetch): the
    // rest is still the server's.
    const lag = (await h.transport.lag(h.source))!.messages;
    assert.ok(lag >= 2 && lag <= 4, `between 2 and 4 not yet delivered, got ${lag}`);
    let acked = 0;
    while (acked < 6) {
      await waitFor('a delivery to acknowledge', () => h.deliveries.length > 0);
      for (const d of h.deliveries.splice(0)) {
        await d.ack();
        acked++;
      }
    }
    assert.deepEqual(await h.transport.lag(h.source), { messages: 0 });
  });

  it('deleteTopology removes the consumer, the dead-letter stream and, if asked, the stream', async () => {
    const h = fresh();
    await (await h.subscribe(1)).stop();
    assert.equal(await streamCount(`${h.subject}_dead`), 0);
    await h.transport.deleteTopology(h.source, { stream: true });
    assert.equal(await streamCount(`${h.subject}_dead`), undefined);
    assert.equal(await streamCount(h.subject), undefined);
  });
});
