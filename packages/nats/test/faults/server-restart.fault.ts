/**
 * A nats-server restart under a consumer (stopped with SIGTERM through start-stop-daemon, started again as .ci/run
 * does; its JetStream store in /var/lib/nats-server survives): the transport reports the loss, the client keeps
 * trying with backoff while the server is down, reconnects once it is back, and every subscription pulls again;
 * nothing is lost: the unsettled messages are delivered again, the retry copy waiting out its backoff comes back, the
 * acknowledged ones do not.
 *
 * It restarts the server every NATS test shares, so it is a fault test: `npm run test:faults` runs these files one at
 * a time, after every other test, and it waits for the server to be back before it ends, even when it fails. Also
 * the transport conformance suite with its broker-restart case.
 */
import assert from 'node:assert/strict';
import { afterEach, it } from 'node:test';
import { transportConformance } from '../../../hostwork/test/transport-conformance/transport-conformance.ts';
import { natsConformanceTarget } from '../support/conformance-target.ts';
import { type Harness, harness, text } from '../support/harness.ts';
import {
  describeWithServer,
  serverProblem,
  startServer,
  stopServer,
  streamCount,
  waitFor,
} from '../support/server.ts';

const made: Harness[] = [];
afterEach(async () => {
  await startServer();
  for (const h of made.splice(0)) await h.cleanup();
});

void serverProblem();
await describeWithServer('the NATS transport across a server restart', () => {
  it('reconnects once the server is back and loses nothing', async () => {
    const h = harness({ source: { ackWaitMs: 5_000 } });
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

    await stopServer();
    await waitFor('the loss to be reported', () => events.includes('disconnected'));
    await startServer();
    await waitFor('the subscription to come back', () => events.includes('reconnected'), 30_000);
    assert.ok(h.warnings.some((w) => w.kind === 'connection-lost'));
    assert.ok(h.warnings.some((w) => w.kind === 'reconnected'));
    await h.send('e');
    const later = () => h.deliveries.slice(4);
    const expected = ['b', 'c', 'd', 'e'];
    await waitFor(
      'every unsettled message again',
      () => expected.every((t) => later().some((d) => text(d) === t)),
      30_000,
    );
    assert.ok(!later().some((d) => text(d) === 'a'), 'the acknowledged message came back');
    assert.equal(later().find((d) => text(d) === 'b')!.attempt, 2, 'the retry copy came back as attempt 2');
    await Promise.all(later().map((d) => d.ack()));
    await h.transport.close();
    // A work-queue stream drops what is acknowledged: nothing is left but what came twice and was acked twice.
    await waitFor('the stream to be empty', async () => (await streamCount(h.subject)) === 0);
  });
});

// The conformance suite again, with the broker-restart case (the unit run leaves it out: it restarts the shared server).
await describeWithServer('NATS JetStream (real server, restarted)', () => {
  transportConformance('nats with server restarts', () => natsConformanceTarget({ restart: true }), {
    locks: false,
    restart: true,
    // The lock and SIGKILL cases run in test/conformance.test.ts; here only the restart is new.
    kill: false,
  });
});
