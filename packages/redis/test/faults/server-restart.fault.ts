/**
 * Server restarts under a consumer, on a dedicated redis-server this file starts itself (a free loopback port, AOF with
 * `appendfsync always` in a temporary folder): the shared server on 6379 keeps nothing on disk, so a restart of it
 * would lose every stream, and other tests use it. The transport reports the loss, keeps trying with backoff while
 * the server is down, reads again once it is back, and nothing is lost: unsettled entries are still pending with their
 * consumer and settle after the restart, a retry waiting in the scheduled set comes back when due, acked entries do
 * not, and publishes made while the server is down reach it once it is back. Also the transport conformance suite with its broker-restart case.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RedisTransport, redisTransport, type WarningDetails } from '@hostwork/redis';
import type { Delivery } from 'hostwork';
import { transportConformance } from '../../../hostwork/test/transport-conformance/transport-conformance.ts';
import { redisConformanceTarget } from '../support/conformance-target.ts';
import {
  DedicatedServer,
  describeWithRedis,
  freshStream,
  pendingCount,
  REDIS_URL,
  scheduledCount,
  waitFor,
} from '../support/server.ts';

let server: DedicatedServer | undefined;
const dedicated = () => {
  assert.ok(server, 'the dedicated server was started');
  return server;
};

// describeWithRedis: redis-server is installed where the shared server runs (CI starts both from the same package).
await describeWithRedis('the Redis transport across a server restart (dedicated server with AOF)', () => {
  before(async () => {
    server = await DedicatedServer.start();
  });
  after(async () => {
    await server?.stop();
  });

  describe('a consumer across restarts', () => {
    it('reconnects once the server is back and loses nothing', async () => {
      const url = dedicated().url;
      const stream = freshStream('hw-restart');
      const warnings: WarningDetails[] = [];
      const transport: RedisTransport = redisTransport({
        url,
        leaseMs: 1_000,
        onWarning: (_message, _error, details) => {
          if (details) warnings.push(details);
        },
      });
      const deliveries: Delivery[] = [];
      const events: string[] = [];
      try {
        await transport.subscribe(
          { name: stream },
          {
            prefetch: 10,
            onDelivery: (d) => deliveries.push(d),
            events: {
              disconnected: () => events.push('disconnected'),
              reconnected: () => events.push('reconnected'),
            },
          },
        );
        await transport.publish(
          { name: stream },
          ['a', 'b', 'c', 'd'].map((t) => ({
            id: t,
            body: new TextEncoder().encode(t),
            headers: {},
          })),
        );
        await waitFor('four deliveries', () => deliveries.length === 4);
        await deliveries[0]!.ack();
        await deliveries[1]!.retry(2_500, { attempt: 1, message: 'failed', at: Date.now() });
        assert.equal(await scheduledCount(`${stream}:scheduled`, url), 1);

        await dedicated().restart();
        await waitFor('the loss to be reported', () => events.includes('disconnected'));
        await waitFor('the subscription to read again', () => events.includes('reconnected'), 30_000);
        assert.ok(warnings.some((w) => w.warning === 'connection-lost'));
        await transport.publish({ name: stream }, [
          { id: 'e', body: new TextEncoder().encode('e'), headers: {} },
        ]);
        const later = () => deliveries.slice(4);
        const text = (d: Delivery) => new TextDecoder().decode(d.body);
        // b: the retry, kept in the scheduled set through the restart, due 2.5 s after it was scheduled; e: new.
        await waitFor(
          'the retry and the new message',
          () => ['b', 'e'].every((t) => later().some((d) => text(d) === t)),
          30_000,
        );
        assert.equal(later().find((d) => text(d) === 'b')!.attempt, 2);
        // c and d are still pending with this consumer (AOF kept the group's pending list): their deliveries from
        // before the restart are still held, not handed over twice, and settle now.
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        assert.deepEqual(later().map(text).sort(), ['b', 'e'], 'only the retry and the new message came');
        await Promise.all([deliveries[2]!.ack(), deliveries[3]!.ack(), ...later().map((d) => d.ack())]);
        await waitFor('nothing pending', async () => (await pendingCount(stream, 'hostwork', url)) === 0);
      } finally {
        await transport.deleteKeys({ name: stream }).catch(() => {});
        await transport.close();
      }
    });

    it('publishes made while the server is down are sent once it is back (none lost)', async () => {
      const url = dedicated().url;
      const stream = freshStream('hw-restart-publish');
      const transport = redisTransport({ url, onWarning: () => {} });
      const received: string[] = [];
      try {
        await transport.subscribe(
          { name: stream },
          {
            prefetch: 5,
            onDelivery: (d) => {
              received.push(d.id);
              void d.ack();
            },
          },
        );
        await dedicated().kill();
        const publishing = transport.publish(
          { name: stream },
          Array.from({ length: 5 }, (_, i) => ({ id: `p-${i}`, body: new Uint8Array([i]), headers: {} })),
        );
        await new Promise((resolve) => setTimeout(resolve, 500));
        await dedicated().startAgain();
        await publishing;
        await waitFor('the five messages', () => new Set(received).size === 5, 30_000);
      } finally {
        await transport.deleteKeys({ name: stream }).catch(() => {});
        await transport.close();
      }
    });
  });

  describe('a server that keeps nothing on disk, and one that is gone', () => {
    it('after a restart without persistence (the group is gone), creates the group again and reads what comes next', async () => {
      const volatile = await DedicatedServer.start({ persistent: false });
      const stream = freshStream('hw-volatile');
      const warnings: string[] = [];
      const transport = redisTransport({
        url: volatile.url,
        reconnectDelayMs: 50,
        onWarning: (_message, _error, details) => {
          if (details) warnings.push(details.warning);
        },
      });
      const received: string[] = [];
      try {
        await transport.subscribe(
          { name: stream },
          {
            prefetch: 5,
            onDelivery: (d) => {
              received.push(d.id);
              void d.ack();
            },
          },
        );
        await transport.publish({ name: stream }, [{ id: 'before', body: new Uint8Array([1]), headers: {} }]);
        await waitFor('the first message', () => received.includes('before'));
        // Everything is lost with this server's restart: the stream, the group, its pending entries.
        await volatile.restart();
        await waitFor('the group created again', () => warnings.includes('group-recreated'), 30_000);
        await transport.publish({ name: stream }, [{ id: 'after', body: new Uint8Array([2]), headers: {} }]);
        await waitFor('the message published after the restart', () => received.includes('after'), 30_000);
      } finally {
        await transport.close();
        await volatile.stop();
      }
    });

    it('warns when the server may evict keys (maxmemory with a policy other than noeviction)', async () => {
      const evicting = await DedicatedServer.start({
        persistent: false,
        args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'],
      });
      const warnings: string[] = [];
      const transport = redisTransport({
        url: evicting.url,
        onWarning: (_message, _error, details) => {
          if (details) warnings.push(details.warning);
        },
      });
      try {
        await transport.connect();
        await waitFor('the eviction warning', () => warnings.includes('eviction-policy'));
      } finally {
        await transport.close();
        await evicting.stop();
      }
      // The shared server (noeviction) gives none.
      const quiet: string[] = [];
      const shared = redisTransport({
        url: REDIS_URL,
        onWarning: (_message, _error, details) => {
          if (details) quiet.push(details.warning);
        },
      });
      await shared.connect();
      await shared.close();
      assert.deepEqual(quiet, []);
    });

    it('stop() and close() are bounded when the server is gone, with settles still pending', async () => {
      const doomed = await DedicatedServer.start();
      const stream = freshStream('hw-gone');
      const warnings: string[] = [];
      const transport = redisTransport({
        url: doomed.url,
        closeTimeoutMs: 1_000,
        onWarning: (_message, _error, details) => {
          if (details) warnings.push(details.warning);
        },
      });
      try {
        const deliveries: Delivery[] = [];
        const subscription = await transport.subscribe(
          { name: stream },
          { prefetch: 5, onDelivery: (d) => deliveries.push(d) },
        );
        await transport.publish({ name: stream }, [{ id: 'x', body: new Uint8Array([1]), headers: {} }]);
        await waitFor('the delivery', () => deliveries.length === 1);
        await doomed.kill();
        // The subscription's read waits for a server that does not come back: stop() drops it rather than wait.
        await subscription.stop();
        // Its ack waits for a server that does not come back; close gives up after closeTimeoutMs.
        const ack = deliveries[0]!.ack().catch((error: unknown) => error);
        await transport.close();
        assert.ok(warnings.includes('close-timeout'), `warnings: ${warnings.join(', ')}`);
        assert.ok((await ack) instanceof Error, 'the ack that never reached the server rejects');
      } finally {
        await transport.close();
        await doomed.stop();
      }
    });
  });

  // The conformance suite again, with the broker-restart case, against the dedicated server.
  transportConformance(
    'redis with server restarts (dedicated server, AOF always)',
    () => redisConformanceTarget({ url: dedicated().url, restart: () => dedicated().restart() }),
    // The SIGKILL case runs in test/conformance.test.ts; here only the restart is new.
    { locks: true, restart: true, kill: false },
  );
});
