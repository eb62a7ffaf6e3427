/**
 * The transport's `lag` against the real server: the entries a consumer group has not been delivered yet (XINFO
 * GROUPS, Redis 7) and the first one's age from its id; nothing for a stream or group that does not exist.
 */
import assert from 'node:assert/strict';
import { afterEach, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Harness, harness } from './support/harness.ts';
import { command, describeWithRedis, REDIS_URL, waitFor } from './support/server.ts';

const made: Harness[] = [];
function fresh(...args: Parameters<typeof harness>): Harness {
  const h = harness(...args);
  made.push(h);
  return h;
}
afterEach(async () => {
  for (const h of made.splice(0)) await h.cleanup();
});

await describeWithRedis('the Redis transport’s lag', () => {
  it('counts the entries its group has not been delivered, with the first one’s age', async () => {
    const h = fresh();
    assert.equal(await h.transport.lag(h.source), undefined, 'no stream yet');
    await h.transport.declare(h.source);
    assert.deepEqual(await h.transport.lag(h.source), { messages: 0 });
    await h.send('a', 'b', 'c', 'd', 'e');
    const first = await h.transport.lag(h.source);
    assert.equal(first?.messages, 5);
    await sleep(60);
    const later = await h.transport.lag(h.source);
    assert.ok(
      later?.oldestAgeMs !== undefined && later.oldestAgeMs >= 60,
      `the first entry has waited at least 60 ms, got ${later?.oldestAgeMs}`,
    );

    await h.subscribe(2);
    await h.received(2);
    await waitFor('three left undelivered', async () => (await h.transport.lag(h.source))?.messages === 3);
    let acked = 0;
    while (acked < 5) {
      await waitFor('a delivery to acknowledge', () => h.deliveries.length > 0);
      for (const d of h.deliveries.splice(0)) {
        await d.ack();
        acked++;
      }
    }
    assert.deepEqual(await h.transport.lag(h.source), { messages: 0 });
  });

  it('still counts when settled entries are deleted (deleteAcked), and says nothing for a missing group', async () => {
    const h = fresh({ transport: { deleteAcked: true } });
    await h.transport.declare(h.source);
    await h.send('a', 'b', 'c');
    await h.subscribe(1);
    await h.received(1);
    await h.deliveries[0]!.ack();
    await waitFor('the next one delivered', () => h.deliveries.length === 2);
    // 'a' deleted, 'b' delivered: one entry ('c') waits.
    assert.equal((await h.transport.lag(h.source))?.messages, 1);

    await command(REDIS_URL, ['XGROUP', 'DESTROY', h.stream, 'hostwork']);
    assert.equal(await h.transport.lag(h.source), undefined, 'the group is gone');
  });
});
