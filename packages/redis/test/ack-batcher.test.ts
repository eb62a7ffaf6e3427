/**
 * The ack batcher against the shared Redis: the acks of one turn of the event loop go out as one XACK (counted on the
 * real connection), a full batch is sent at once, and acks of a later turn make a new batch.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { AckBatcher } from '../src/ack-batcher.ts';
import { RedisConnection } from '../src/connection.ts';
import { resolveOptions, resolveStream } from '../src/redis-transport-options.ts';
import {
  command,
  deleteStreamKeys,
  describeWithRedis,
  freshStream,
  pendingCount,
  REDIS_URL,
} from './support/server.ts';

await describeWithRedis('the ack batcher', () => {
  it('sends the acks of one turn as one XACK, and those of the next turn as another', async () => {
    const options = resolveOptions({ url: REDIS_URL });
    const source = resolveStream(freshStream(), undefined, options);
    const connection = new RedisConnection(options, 'hw-test-ack-batcher');
    const sent: string[][] = [];
    const send = connection.send.bind(connection);
    connection.send = (args) => {
      sent.push(args.map(String));
      return send(args);
    };
    try {
      for (let i = 0; i < 25; i++) await command(REDIS_URL, ['XADD', source.stream, '*', 'body', String(i)]);
      await command(REDIS_URL, ['XGROUP', 'CREATE', source.stream, source.group, '0']);
      const read = await command<[Buffer, [Buffer, Buffer[]][]][]>(REDIS_URL, [
        'XREADGROUP',
        'GROUP',
        source.group,
        'c',
        'COUNT',
        '25',
        'STREAMS',
        source.stream,
        '>',
      ]);
      const ids = read[0]![1].map(([id]) => id.toString());
      await connection.open();
      const finished: string[] = [];
      const batcher = new AckBatcher({
        connection,
        source,
        // The transport's persist sends again after a lost connection; once is enough here.
        persist: (_what, run, onDone) =>
          run().then(
            () => onDone?.(),
            (error: unknown) => {
              onDone?.();
              throw error;
            },
          ),
        finished: (entries) => finished.push(...entries.map((entry) => entry.entryId)),
      });
      const first = ids.slice(0, 20).map((entryId) => batcher.ack({ entryId }));
      await Promise.all(first);
      const second = ids.slice(20).map((entryId) => batcher.ack({ entryId }));
      await Promise.all(second);
      const xacks = sent.filter((args) => args[0] === 'XACK');
      assert.deepEqual(
        xacks.map((args) => args.slice(3)),
        [ids.slice(0, 20), ids.slice(20)],
      );
      assert.equal(await pendingCount(source.stream, source.group), 0);
      assert.deepEqual(finished, ids, 'every acked id reported finished');
    } finally {
      await connection.close(1_000);
      await deleteStreamKeys(source.stream);
    }
  });
});
