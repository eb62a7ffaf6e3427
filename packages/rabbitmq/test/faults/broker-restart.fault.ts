/**
 * A broker restart under a consumer (`rabbitmqctl stop_app`, then `start_app`): the transport reports the loss, keeps
 * trying with backoff while the broker is down, reconnects and consumes again once it is back, and nothing is lost:
 * the unsettled messages are delivered again, the retry copy waiting in its delay queue comes back, the acked ones
 * do not.
 *
 * It restarts the broker every other client shares, so it is a fault test: `npm run test:faults` runs these files one
 * at a time, after every other test (as the PostgreSQL server-restart test), and it waits for the broker to be back
 * before it ends, even when it fails. Also the transport conformance suite with its broker-restart case.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { afterEach, it } from 'node:test';
import { promisify } from 'node:util';
import { transportConformance } from '../../../hostwork/test/transport-conformance/transport-conformance.ts';
import { brokerProblem, describeWithBroker, readyCount, waitFor } from '../support/broker.ts';
import { rabbitmqConformanceTarget } from '../support/conformance-target.ts';
import { type Harness, harness, text } from '../support/harness.ts';

const run = promisify(execFile);

/** Waits until the broker accepts connections again (it may take a few seconds after start_app). */
async function brokerBack(): Promise<void> {
  await run('rabbitmqctl', ['start_app']).catch(() => {});
  await run('rabbitmqctl', ['await_startup', '--timeout', '60']).catch(() => {});
  await waitFor(
    'RabbitMQ to accept connections again',
    async () => {
      const { default: amqp } = await import('amqplib');
      try {
        await (await amqp.connect(process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672')).close();
        return true;
      } catch {
        return false;
      }
    },
    60_000,
  );
}

const made: Harness[] = [];
afterEach(async () => {
  await brokerBack();
  for (const h of made.splice(0)) await h.cleanup();
});

void brokerProblem();
await describeWithBroker('the RabbitMQ transport across a broker restart', () => {
  it('reconnects once the broker is back and loses nothing', async () => {
    const h = harness({ queueType: 'quorum' });
    made.push(h);
    const events: string[] = [];
    await h.subscribe(10, {
      disconnected: () => events.push('disconnected'),
      reconnected: () => events.push('reconnected'),
    });
    await h.send('a', 'b', 'c', 'd');
    await h.received(4);
    await h.deliveries[0]!.ack();
    await h.deliveries[1]!.retry(2_500, { attempt: 1, message: 'failed', at: Date.now() });

    await run('rabbitmqctl', ['stop_app']);
    await waitFor('the loss to be reported', () => events.includes('disconnected'));
    await brokerBack();
    await waitFor('the subscription to come back', () => events.includes('reconnected'), 30_000);
    assert.ok(h.warnings.some((w) => w.kind === 'connection-lost'));
    await h.send('e');
    const later = () => h.deliveries.slice(4);
    const expected = ['b', 'c', 'd', 'e'];
    await waitFor(
      'every unsettled message again',
      () => expected.every((t) => later().some((d) => text(d) === t)),
      30_000,
    );
    assert.ok(!later().some((d) => text(d) === 'a'), 'the acked message came back');
    assert.equal(later().find((d) => text(d) === 'b')!.attempt, 2);
    await Promise.all(later().map((d) => d.ack()));
    await h.transport.close();
    assert.equal(await readyCount(h.queue), 0);
  });
});

// The conformance suite again, with the broker-restart case (the unit run leaves it out: it restarts the shared broker).
await describeWithBroker('RabbitMQ (real broker, restarted)', () => {
  transportConformance('rabbitmq with broker restarts', () => rabbitmqConformanceTarget({ restart: true }), {
    locks: false,
    restart: true,
    // The SIGKILL case runs in test/conformance.test.ts; here only the restart is new.
    kill: false,
  });
});
