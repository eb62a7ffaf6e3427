/**
 * The per-partition bookkeeping without a broker: the offset committed is always the lowest unfinished one, what may
 * start under each ordering, a retry partition's not-before wait, and records fetched again after a drop.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PartitionState } from '../src/partition-state.ts';
import type { FetchedRecord } from '../src/records.ts';

function record(offset: number, key?: string, notBefore = 0): FetchedRecord {
  return {
    topic: 't',
    partition: 0,
    offset: BigInt(offset),
    id: `m-${offset}`,
    key,
    body: new Uint8Array(),
    headers: {},
    notBefore,
  };
}

function state(retry = false): PartitionState {
  return new PartitionState('t', 0, retry, 0n, undefined);
}

describe('PartitionState', () => {
  it('commits up to the lowest unfinished record, whatever finished after it', () => {
    const s = state();
    s.append([record(0, 'a'), record(1, 'b'), record(2, 'c')], 3n);
    const [a, b, c] = [s.take(0), s.take(0), s.take(0)];
    assert.equal(s.watermark(), 0n);
    s.finish(b, 'done');
    s.finish(c, 'done');
    assert.equal(s.watermark(), 0n, 'records 1 and 2 wait for record 0');
    s.finish(a, 'done');
    assert.equal(s.watermark(), 3n);
  });

  it('holds the commit at a released record and at the first record not handed over', () => {
    const s = state();
    s.append([record(0), record(1), record(2)], 3n);
    const first = s.take(0);
    s.finish(first, 'done');
    assert.equal(s.watermark(), 1n, 'record 1 is queued, not started');
    const second = s.take(0);
    s.finish(second, 'released');
    assert.equal(s.watermark(), 1n, 'a released record is not done');
  });

  it('resolves the settles of committed records and forgets them', async () => {
    const s = state();
    s.append([record(0), record(1)], 2n);
    const a = s.take(0);
    const b = s.take(0);
    a.committed = Promise.withResolvers<void>();
    s.finish(a, 'done');
    s.committedTo(s.watermark());
    await a.committed.promise;
    assert.deepEqual(
      s.handed.map((e) => e.record.offset),
      [1n],
    );
    b.committed = Promise.withResolvers<void>();
    s.revoke(new Error('revoked'));
    await assert.rejects(b.committed.promise, /revoked/);
    assert.equal(b.orphaned, true);
  });

  it("'partition' ordering starts one record at a time; 'key' ordering one per key, in order", () => {
    const p = state();
    p.append([record(0, 'a'), record(1, 'b')], 2n);
    assert.deepEqual(p.next('partition', 0), { index: 0 });
    p.take(0);
    assert.equal(p.next('partition', 0), undefined, 'record 0 runs');

    const k = state();
    k.append([record(0, 'a'), record(1, 'a'), record(2, 'b'), record(3)], 4n);
    k.take(k.next('key', 0)!.index!);
    assert.deepEqual(k.next('key', 0), { index: 1 }, 'record 1 (key a) waits, record 2 (key b) may start');
    k.take(1);
    assert.deepEqual(k.next('key', 0), { index: 1 }, 'a record without a key is ordered with nothing');
  });

  it('a retry partition waits for its head to be due, in offset order', () => {
    const s = state(true);
    s.append([record(0, undefined, 5_000), record(1, undefined, 1_000)], 2n);
    assert.deepEqual(
      s.next('partition', 2_000),
      { waitUntil: 5_000 },
      'the later-due record behind waits too',
    );
    assert.deepEqual(s.next('partition', 5_000), { index: 0 });
  });

  it('skips records fetched again that were handed over already, and rewinds to the first dropped one', () => {
    const s = state();
    s.append([record(0, 'a'), record(1, 'b'), record(2, 'a')], 3n);
    s.take(0);
    s.take(0); // records 0 and 1 handed over; 2 queued
    s.dropQueue();
    assert.equal(s.position, 2n);
    s.append([record(1, 'b'), record(2, 'a'), record(3, 'c')], 4n);
    assert.deepEqual(
      s.queue.map((r) => r.offset),
      [2n, 3n],
    );
  });
});
