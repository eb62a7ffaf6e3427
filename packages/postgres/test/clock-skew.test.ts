/**
 * The start-up clock check: this process's clock against the database server's. The arithmetic is checked on
 * readings; a real store on the real server measures (near) zero skew on one machine and stays quiet.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLOCK_SKEW_WARNING_MS, clockSkewMs, clockSkewWarning } from '../src/clock-skew.ts';
import { describeWithDatabase } from './support/database.ts';
import { useSchemas } from './support/stores.ts';

const WHERE = 'PostgresStore (schema "s")';
const T = 1_800_000_000_000;

describe('clock skew', () => {
  it('is taken against the middle of the round trip', () => {
    assert.equal(clockSkewMs({ sentAt: T, receivedAt: T + 10, serverNow: T + 5 }), 0);
    assert.equal(clockSkewMs({ sentAt: T + 12_300, receivedAt: T + 12_310, serverNow: T + 5 }), 12_300);
    assert.equal(clockSkewMs({ sentAt: T - 2_000, receivedAt: T - 1_990, serverNow: T + 5 }), -2_000);
  });

  it('warns when the clocks surely differ by more than a second, naming the direction, the risk and the fix', () => {
    const ahead = clockSkewWarning(WHERE, { sentAt: T + 12_300, receivedAt: T + 12_310, serverNow: T + 5 });
    assert.match(
      ahead ?? '',
      /^PostgresStore \(schema "s"\): this process's clock is 12\.3 s ahead of the database server's\./,
    );
    assert.match(ahead ?? '', /leaseMs − heartbeatMs/);
    assert.match(ahead ?? '', /run twice/);
    assert.match(ahead ?? '', /Fix: synchronise the clocks .* \(NTP\)/);
    const behind = clockSkewWarning(WHERE, { sentAt: T - 2_000, receivedAt: T - 1_990, serverNow: T + 5 });
    assert.match(behind ?? '', /clock is 2\.0 s behind the database server's/);
  });

  it('stays quiet within the threshold, or when a slow round trip leaves the skew uncertain', () => {
    assert.equal(clockSkewWarning(WHERE, { sentAt: T, receivedAt: T + 2, serverNow: T + 1 }), undefined);
    const edge = CLOCK_SKEW_WARNING_MS;
    assert.equal(
      clockSkewWarning(WHERE, { sentAt: T + edge, receivedAt: T + edge, serverNow: T }),
      undefined,
    );
    assert.ok(clockSkewWarning(WHERE, { sentAt: T + edge + 1, receivedAt: T + edge + 1, serverNow: T }));
    // 1.2 s apart by the middle, but the answer took 600 ms: the server may have read its clock 300 ms either way.
    assert.equal(
      clockSkewWarning(WHERE, { sentAt: T + 900, receivedAt: T + 1_500, serverNow: T }),
      undefined,
    );
  });
});

await describeWithDatabase('clock check at start-up (PostgreSQL)', () => {
  const stores = useSchemas();

  it('measures this machine against the server once the store is ready, and warns of nothing', async () => {
    const seen: string[] = [];
    const store = stores.fresh({ onWarning: (m) => seen.push(m) });
    assert.equal(store.clockSkewMs, undefined, 'not measured before the store is ready');
    await store.migrate();
    const skew = store.clockSkewMs;
    assert.equal(typeof skew, 'number');
    // One machine, one clock: what is left is the round trip's asymmetry, under the warning threshold.
    assert.ok(Math.abs(skew!) < CLOCK_SKEW_WARNING_MS, `skew ${skew} ms on one machine`);
    assert.deepEqual(seen, []);
  });

  it('measures it with the version check on a schema that is already there', async () => {
    const seen: string[] = [];
    const first = stores.fresh();
    await first.migrate();
    const store = stores.peer(first, { onWarning: (m) => seen.push(m) });
    await store.migrate();
    const skew = store.clockSkewMs;
    assert.equal(typeof skew, 'number');
    assert.ok(Math.abs(skew!) < CLOCK_SKEW_WARNING_MS, `skew ${skew} ms on one machine`);
    assert.deepEqual(seen, []);
  });
});
