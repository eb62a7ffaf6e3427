/**
 * The subscription reads a received message's headers from its raw header block (readMessageHeaders) instead of the
 * client's decoding: both must give the same headers and Nats-Msg-Id, for messages received from the real server.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { connect, type Msg, headers as natsHeaders } from '@nats-io/transport-node';
import { readHeaders, readMessageHeaders } from '../src/headers.ts';
import { describeWithServer, freshSubject, NATS_URL } from './support/server.ts';

await describeWithServer('reading headers of a received message', () => {
  it('gives what the client’s own decoding gives, without JetStream’s headers', async () => {
    const nc = await connect({ servers: NATS_URL });
    try {
      const subject = freshSubject('hw-headers');
      const received: Msg[] = [];
      const sub = nc.subscribe(subject, {
        max: 3,
        callback: (_error, msg) => {
          received.push(msg);
        },
      });
      const h = natsHeaders();
      h.set('hostwork-type', 'order.created');
      h.set('hostwork-attempt', '2');
      h.append('repeated', 'first');
      h.append('repeated', 'last');
      h.set('with-colon', 'a: b :c');
      h.set('empty', '');
      h.set('Nats-Msg-Id', 'id-1');
      h.set('Nats-Expected-Stream', 'x');
      h.set('hostwork-attempt-errors', JSON.stringify([{ message: 'héllo wörld', at: 1 }]));
      nc.publish(subject, 'body', { headers: h });
      nc.publish(subject, 'no headers');
      const only = natsHeaders();
      only.set('Nats-Msg-Id', 'id-3');
      nc.publish(subject, 'only the id', { headers: only });
      await sub.closed;
      assert.equal(received.length, 3);
      // The raw header block is where readMessageHeaders reads it (else it would only test the fallback).
      const raw = received[0] as unknown as { _msg?: { hdr?: unknown }; _rdata?: unknown };
      assert.equal(typeof raw._msg?.hdr, 'number');
      assert.ok(raw._rdata instanceof Uint8Array);
      for (const msg of received) {
        const fast = readMessageHeaders(msg);
        assert.deepEqual(fast, readHeaders(msg.headers));
      }
      assert.deepEqual(readMessageHeaders(received[0]!), {
        headers: {
          'hostwork-type': 'order.created',
          'hostwork-attempt': '2',
          repeated: 'last',
          'with-colon': 'a: b :c',
          empty: '',
          'hostwork-attempt-errors': JSON.stringify([{ message: 'héllo wörld', at: 1 }]),
        },
        msgId: 'id-1',
      });
      assert.deepEqual(readMessageHeaders(received[1]!), { headers: {}, msgId: undefined });
      assert.deepEqual(readMessageHeaders(received[2]!), { headers: {}, msgId: 'id-3' });
      // Not the client's usual object: its decoded headers are read instead.
      const plain = { headers: received[0]!.headers } as unknown as Msg;
      assert.deepEqual(readMessageHeaders(plain), readHeaders(received[0]!.headers));
    } finally {
      await nc.close();
    }
  });
});
