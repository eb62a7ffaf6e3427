/**
 * NotificationWake without a server: a fake client shows the polling while the LISTEN connection is down, the
 * backoff of reconnection attempts, and that warnings come once per outage.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { NotificationWake, type NotificationWakeOptions } from '../src/notification-wake.ts';
import { waitUntil } from './support/stores.ts';

/** A stand-in for pg.Client: connects (or refuses) on command, records LISTEN, can be "killed". */
class FakeClient extends EventEmitter {
  readonly queries: string[] = [];
  readonly refuse: boolean;
  ended = false;
  constructor(refuse: boolean) {
    super();
    this.refuse = refuse;
  }
  async connect(): Promise<void> {
    await sleep(1);
    if (this.refuse) throw new Error('connect ECONNREFUSED');
  }
  async query(text: string): Promise<void> {
    this.queries.push(text);
  }
  async end(): Promise<void> {
    this.ended = true;
  }
  /** What node-postgres does when the server terminates the connection. */
  kill(): void {
    this.emit('error', new Error('terminating connection due to administrator command'));
    this.emit('end');
  }
  notify(payload: string): void {
    this.emit('notification', { processId: 1, channel: 'hostwork.test', payload });
  }
}

function harness(overrides: Partial<NotificationWakeOptions> = {}) {
  const clients: FakeClient[] = [];
  const attempts: number[] = [];
  let refuse = false;
  const warned: string[] = [];
  const wake = new NotificationWake({
    channel: 'hostwork.test',
    ownPayload: 'me',
    createClient: () => {
      attempts.push(performance.now());
      const client = new FakeClient(refuse);
      clients.push(client);
      return client as unknown as pg.Client;
    },
    pollIntervalMs: 20,
    where: 'PostgresStore (schema "test")',
    warn: (message) => warned.push(message),
    ...overrides,
  });
  return {
    wake,
    clients,
    attempts,
    warned,
    refuse: (value: boolean) => {
      refuse = value;
    },
    current: () => clients.at(-1)!,
  };
}

describe('NotificationWake', () => {
  it('listens on the channel and wakes on foreign notifications only', async () => {
    const h = harness();
    let calls = 0;
    const off = h.wake.subscribe(() => calls++);
    try {
      await waitUntil(() => h.wake.state === 'listening', 'listening');
      assert.deepEqual(h.current().queries, ['LISTEN "hostwork.test"']);
      await waitUntil(() => calls === 1, 'the wake-up after connecting');
      h.current().notify('me');
      assert.equal(calls, 1, 'its own notification is skipped');
      h.current().notify('');
      h.current().notify('someone else');
      assert.equal(calls, 3);
    } finally {
      off();
    }
    assert.equal(h.wake.state, 'idle');
    assert.equal(h.current().ended, true, 'the last unsubscribe ends the connection');
  });

  it('polls while the connection is down, retries with growing delays, and warns once per outage', async () => {
    const h = harness();
    let calls = 0;
    const off = h.wake.subscribe(() => calls++);
    try {
      await waitUntil(() => h.wake.state === 'listening', 'listening');
      h.refuse(true);
      h.current().kill();
      assert.equal(h.wake.state, 'reconnecting');
      assert.equal(h.warned.length, 1);
      assert.match(h.warned[0]!, /LISTEN connection for wake-ups was lost.*polling every 20 ms/);
      calls = 0;
      await sleep(700);
      // Polling: about 35 wake-ups in 700 ms at 20 ms; at least a third of them on a loaded machine.
      assert.ok(calls >= 12, `woken ${calls} times while down`);
      // Retries after 100, 200, 400 ms: 3 or 4 attempts in 700 ms, never a tight loop.
      const retries = h.attempts.length - 1;
      assert.ok(retries >= 2 && retries <= 4, `${retries} attempts in 700 ms`);
      const gaps = h.attempts.slice(1).map((t, i) => t - h.attempts[i]!);
      for (let i = 2; i < gaps.length; i++)
        assert.ok(gaps[i]! > gaps[i - 1]!, `backoff grows: ${gaps.join(', ')}`);
      assert.equal(h.warned.length, 2, 'the lost connection and the first failed attempt; then quiet');

      h.refuse(false);
      await waitUntil(() => h.wake.state === 'listening', 'listening again', 3_000);
      calls = 0;
      await sleep(100);
      assert.ok(calls <= 1, `polling stopped once listening (${calls} wake-ups)`);
    } finally {
      off();
    }
  });

  it('keeps working when a listener throws, reporting it', async () => {
    const h = harness();
    let calls = 0;
    const offBad = h.wake.subscribe(() => {
      throw new Error('listener bug');
    });
    const offGood = h.wake.subscribe(() => calls++);
    try {
      await waitUntil(() => calls === 1, 'the good listener');
      h.current().notify('');
      assert.equal(calls, 2);
      assert.ok(h.warned.some((w) => w.includes('a wake-up listener threw')));
    } finally {
      offBad();
      offGood();
    }
  });

  it('close stops everything; subscribing afterwards does nothing', async () => {
    const h = harness();
    h.wake.subscribe(() => {});
    await waitUntil(() => h.wake.state === 'listening', 'listening');
    await h.wake.close();
    assert.equal(h.wake.state, 'closed');
    assert.equal(h.current().ended, true);
    const off = h.wake.subscribe(() => assert.fail('called after close'));
    h.wake.notifySoon();
    await sleep(10);
    off();
    assert.equal(h.clients.length, 1, 'no new connection after close');
  });
});
