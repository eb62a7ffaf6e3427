import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreSignal } from '../../../src/jobs/store-signal.ts';
import { newJob, useTemp } from './helpers.ts';

/** Resolves when `count` calls were made, or rejects after `timeoutMs`. */
function calls(count: number, timeoutMs: number): { listener: () => void; done: Promise<number> } {
  let seen = 0;
  const { promise, resolve, reject } = Promise.withResolvers<number>();
  const started = performance.now();
  const timer = setTimeout(
    () => reject(new Error(`only ${seen} of ${count} calls after ${timeoutMs} ms`)),
    timeoutMs,
  );
  return {
    listener: () => {
      seen++;
      if (seen === count) {
        clearTimeout(timer);
        resolve(performance.now() - started);
      }
    },
    done: promise,
  };
}

describe('sqlite store: wake-ups', () => {
  const temp = useTemp();

  it('wakes its own listeners on the next microtask after an insert, before any timer', async () => {
    const store = temp.store({ path: join(temp.dir(), 'jobs.db') });
    await store.migrate();
    let woken = 0;
    store.onWake(() => woken++);
    await store.insert([newJob(), newJob()]);
    assert.equal(woken, 1, 'one wake for the batch, already delivered when insert resolves');
  });

  it('wakes another instance on the same file promptly, through data_version', async () => {
    const path = join(temp.dir(), 'jobs.db');
    const writer = temp.store({ path });
    const reader = temp.store({ path });
    await writer.migrate();
    await reader.migrate();
    await sleep(20); // let the reader's first polls pass: they must not count as the wake
    // Polled every few ms; the bounds are loose so a loaded CI machine cannot fail them, yet far below a slow poll.
    const wake = calls(1, 2_000);
    reader.onWake(wake.listener);
    await sleep(10);
    await writer.insert([newJob()]);
    const elapsed = await wake.done;
    assert.ok(elapsed < 500, `woken after ${elapsed} ms`);
  });

  it('is woken by a plain connection of another program committing to the file', async () => {
    const path = join(temp.dir(), 'jobs.db');
    const store = temp.store({ path });
    await store.migrate();
    const wake = calls(1, 2_000);
    store.onWake(wake.listener);
    await sleep(10);
    const other = new DatabaseSync(path);
    other.exec("INSERT INTO hw_schedules (name, cron) VALUES ('x', '* * * * *')");
    other.close();
    await wake.done;
  });

  it('does not wake for its own writes through the poll (they wake at once instead)', async () => {
    const store = temp.store({ path: join(temp.dir(), 'jobs.db') });
    await store.migrate();
    let woken = 0;
    store.onWake(() => woken++);
    await store.upsertSchedules([{ name: 's', cron: '* * * * *', timezone: null, nextRunAt: 1 }]);
    await sleep(30);
    assert.equal(woken, 0);
  });

  it('stops calling after unsubscribe and after close', async () => {
    const path = join(temp.dir(), 'jobs.db');
    const writer = temp.store({ path });
    const unsubscribed = temp.store({ path });
    const closed = temp.store({ path });
    for (const store of [writer, unsubscribed, closed]) await store.migrate();
    let calls = 0;
    const off = unsubscribed.onWake(() => calls++);
    closed.onWake(() => calls++);
    off();
    await closed.close();
    await writer.insert([newJob()]);
    await sleep(40);
    assert.equal(calls, 0);
  });
});

describe('StoreSignal', () => {
  it('polls only while someone listens, and close stops the timer', async () => {
    let polls = 0;
    const signal = new StoreSignal({
      intervalMs: 1,
      changedElsewhere: () => {
        polls++;
        return false;
      },
    });
    await sleep(10);
    assert.equal(polls, 0, 'no listener, no poll');
    assert.equal(signal.polling, false);

    const off = signal.subscribe(() => {});
    const deadline = performance.now() + 1000;
    while (polls < 3 && performance.now() < deadline) await sleep(5);
    assert.ok(polls >= 3, `polled ${polls} times`);
    off();
    assert.equal(signal.polling, false, 'the last unsubscribe stops the timer');
    const afterUnsubscribe = polls;
    await sleep(10);
    assert.equal(polls, afterUnsubscribe);

    signal.subscribe(() => {});
    assert.equal(signal.polling, true);
    signal.close();
    assert.equal(signal.polling, false, 'close stops the timer');
    const afterClose = polls;
    await sleep(10);
    assert.equal(polls, afterClose);
    signal.subscribe(() => {});
    assert.equal(signal.polling, false, 'a closed signal never polls again');
  });

  it('calls every listener when the check reports a change elsewhere', async () => {
    let changed = false;
    const signal = new StoreSignal({ intervalMs: 1, changedElsewhere: () => changed });
    const a = calls(1, 2_000);
    const b = calls(1, 2_000);
    signal.subscribe(a.listener);
    signal.subscribe(b.listener);
    changed = true;
    await Promise.all([a.done, b.done]);
    signal.close();
  });

  it('coalesces a burst of local notifications into one call per listener', async () => {
    const signal = new StoreSignal({ intervalMs: 1000, changedElsewhere: () => false });
    let woken = 0;
    signal.subscribe(() => woken++);
    signal.notifySoon();
    signal.notifySoon();
    signal.notifySoon();
    assert.equal(woken, 0, 'not synchronously');
    await Promise.resolve();
    assert.equal(woken, 1);
    signal.close();
  });

  it('without a check, calls the listeners at every poll; a throwing listener is reported, the others still run', async () => {
    const errors: unknown[] = [];
    const signal = new StoreSignal({ intervalMs: 1, onListenerError: (error) => errors.push(error) });
    const after = calls(3, 2_000);
    signal.subscribe(() => {
      throw new Error('listener failed');
    });
    signal.subscribe(after.listener);
    await after.done;
    signal.close();
    assert.ok(errors.length >= 3);
    assert.match(String(errors[0]), /listener failed/);
  });

  it('close(true) calls the listeners once more, then never again', async () => {
    const signal = new StoreSignal({ intervalMs: 1000 });
    let woken = 0;
    signal.subscribe(() => woken++);
    signal.close(true);
    assert.equal(woken, 1);
    signal.notifySoon();
    await Promise.resolve();
    assert.equal(woken, 1);
  });
});
