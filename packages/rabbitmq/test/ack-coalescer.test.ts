/**
 * The ordering logic of the ack coalescer alone, with no broker: a recording writer stands in for the channel (it
 * keeps the frames amqplib would write) and a model of the broker's rule for settle frames (`multiple=true` settles
 * every delivery of the channel not yet settled up to the tag; a tag settled twice is a channel error) checks them.
 * Random orders of settles, flushes and lost channels; the broker tests are in acks.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConsumeMessage } from 'amqplib';
import { AckCoalescer, type FrameWriter, type Outstanding } from '../src/ack-coalescer.ts';

interface Written {
  readonly kind: 'ack' | 'requeue';
  readonly tag: number;
  readonly multiple: boolean;
}

/** The recording writer: the frames in the order they were written. */
function recorder(): FrameWriter & { frames: Written[]; failing: boolean } {
  const frames: Written[] = [];
  return {
    frames,
    failing: false,
    ack(message, multiple) {
      if (this.failing) throw new Error('Channel closed');
      frames.push({ kind: 'ack', tag: message.fields.deliveryTag, multiple });
    },
    nack(message, multiple, requeue) {
      if (this.failing) throw new Error('Channel closed');
      assert.equal(requeue, true);
      frames.push({ kind: 'requeue', tag: message.fields.deliveryTag, multiple });
    },
  };
}

const message = (tag: number) => ({ fields: { deliveryTag: tag } }) as unknown as ConsumeMessage;

/** Lets the coalescer's end-of-macrotask flush run, and, with `held`, the flush of settles held back too. */
const turn = (held = false) =>
  new Promise<void>((resolve) => (held ? setImmediate(() => setImmediate(resolve)) : setImmediate(resolve)));

/**
 * The broker's side: applies `frames` to the channel's unacked deliveries; returns how each tag was settled, and
 * fails on a frame that settles nothing or a tag not outstanding (the broker closes the channel for those).
 */
function applyFrames(delivered: number, frames: readonly Written[]): Map<number, 'ack' | 'requeue'> {
  const unacked = new Set(Array.from({ length: delivered }, (_, i) => i + 1));
  const settled = new Map<number, 'ack' | 'requeue'>();
  for (const frame of frames) {
    const covered = frame.multiple ? [...unacked].filter((t) => t <= frame.tag) : [frame.tag];
    assert.ok(covered.length > 0, `a frame that settles nothing: ${JSON.stringify(frame)}`);
    for (const tag of covered) {
      assert.ok(unacked.has(tag), `tag ${tag} settled twice (${JSON.stringify(frame)})`);
      unacked.delete(tag);
      settled.set(tag, frame.kind);
    }
  }
  return settled;
}

describe('the ack coalescer', () => {
  it('acks a run from the oldest delivery in one frame, resolving each settle once written', async () => {
    const writer = recorder();
    const acks = new AckCoalescer(writer);
    const entries = [1, 2, 3, 4, 5].map((t) => acks.add(message(t)));
    const written: number[] = [];
    const settles = entries.map((e) => acks.settle(e, 'ack').then(() => written.push(e.tag)));
    assert.deepEqual(writer.frames, [], 'nothing written before the macrotask ends');
    await Promise.all(settles);
    assert.deepEqual(writer.frames, [{ kind: 'ack', tag: 5, multiple: true }]);
    assert.deepEqual(written, [1, 2, 3, 4, 5]);
    assert.equal(acks.size, 0);
  });

  it('splits runs at a requeue: ack ack requeue ack ack is three frames, the requeue alone', async () => {
    const writer = recorder();
    const acks = new AckCoalescer(writer);
    const entries = [1, 2, 3, 4, 5].map((t) => acks.add(message(t)));
    await Promise.all(entries.map((e) => acks.settle(e, e.tag === 3 ? 'requeue' : 'ack')));
    assert.deepEqual(writer.frames, [
      { kind: 'ack', tag: 2, multiple: true },
      { kind: 'requeue', tag: 3, multiple: false },
      { kind: 'ack', tag: 5, multiple: true },
    ]);
  });

  it('never covers a running delivery: settles behind it wait one flush, then go one frame each', async () => {
    const writer = recorder();
    const acks = new AckCoalescer(writer);
    const [head, ...rest] = [1, 2, 3, 4].map((t) => acks.add(message(t)));
    const done: number[] = [];
    for (const e of rest) void acks.settle(e, 'ack').then(() => done.push(e.tag));
    await turn();
    assert.equal(writer.frames.length, 0, 'held once behind the running head');
    await turn(true);
    assert.deepEqual(
      writer.frames.map((f) => [f.tag, f.multiple]),
      [
        [2, false],
        [3, false],
        [4, false],
      ],
      'sent one by one while the head still runs',
    );
    assert.deepEqual(done, [2, 3, 4]);
    await acks.settle(head!, 'ack');
    assert.deepEqual(writer.frames.at(-1), { kind: 'ack', tag: 1, multiple: false });
  });

  it('covers held settles with one frame when the head finishes by the next flush', async () => {
    const writer = recorder();
    const acks = new AckCoalescer(writer);
    const [head, ...rest] = [1, 2, 3, 4].map((t) => acks.add(message(t)));
    const settles = rest.map((e) => acks.settle(e, 'ack'));
    await turn();
    assert.deepEqual(writer.frames, []);
    settles.push(acks.settle(head!, 'ack'));
    await Promise.all(settles);
    assert.deepEqual(writer.frames, [{ kind: 'ack', tag: 4, multiple: true }]);
  });

  it('a final flush (the channel closes next) holds nothing back', async () => {
    const writer = recorder();
    const acks = new AckCoalescer(writer);
    const [, second, third] = [1, 2, 3].map((t) => acks.add(message(t)));
    const settles = [acks.settle(second!, 'ack'), acks.settle(third!, 'requeue')];
    acks.flush(true);
    assert.deepEqual(writer.frames, [
      { kind: 'ack', tag: 2, multiple: false },
      { kind: 'requeue', tag: 3, multiple: false },
    ]);
    await Promise.all(settles);
    assert.equal(acks.size, 1, 'the running head stays outstanding');
  });

  it('rejects the settles not yet written when the channel is lost, and every later one', async () => {
    const writer = recorder();
    const acks = new AckCoalescer(writer);
    const [a, b] = [1, 2, 3].map((t) => acks.add(message(t)));
    const pending = acks.settle(a!, 'ack');
    acks.lose(new Error('channel closed'));
    await assert.rejects(pending, /channel closed/);
    await assert.rejects(acks.settle(b!, 'ack'), /channel closed/);
    assert.equal(acks.usable, false);
    assert.deepEqual(writer.frames, []);
    // A write that throws (the channel closing under the flush) loses the channel the same way.
    const failing = recorder();
    const other = new AckCoalescer(failing);
    const d = other.add(message(1));
    failing.failing = true;
    await assert.rejects(other.settle(d, 'ack'), /Channel closed/);
    assert.equal(other.usable, false);
  });

  it('random orders: each delivery settled exactly once, as asked, never while running', async () => {
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 200; round++) {
      const writer = recorder();
      const acks = new AckCoalescer(writer);
      const entries: Outstanding[] = [];
      const asked = new Map<number, 'ack' | 'requeue'>();
      const settles: Promise<void>[] = [];
      const total = 1 + Math.floor(random() * 40);
      let delivered = 0;
      // Deliveries arrive in tag order, settled in random order across turns of the event loop.
      while (asked.size < total) {
        const arriving = Math.min(total - delivered, Math.floor(random() * 6));
        for (let i = 0; i < arriving; i++) entries.push(acks.add(message(++delivered)));
        const running = entries.filter((e) => !asked.has(e.tag));
        for (const e of running) {
          if (random() < 0.4) continue;
          const how = random() < 0.2 ? 'requeue' : 'ack';
          asked.set(e.tag, how);
          const at = writer.frames.length;
          settles.push(
            acks.settle(e, how).then(() => {
              // Resolved only once a frame covering it exists, written after the settle was asked.
              assert.ok(writer.frames.length > at, `tag ${e.tag} resolved before any frame`);
            }),
          );
        }
        // Every frame so far covers only deliveries whose settle was asked, as asked.
        for (const [tag, how] of applyFrames(delivered, writer.frames))
          assert.equal(how, asked.get(tag), `tag ${tag} settled as ${how}, asked ${asked.get(tag)}`);
        await turn(random() < 0.3);
      }
      await Promise.all(settles);
      const settled = applyFrames(delivered, writer.frames);
      assert.equal(settled.size, total, 'every delivery settled');
      for (const [tag, how] of settled) assert.equal(how, asked.get(tag));
      assert.ok(writer.frames.length <= total);
      assert.equal(acks.size, 0);
    }
  });
});
