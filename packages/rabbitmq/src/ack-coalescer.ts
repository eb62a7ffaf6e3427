/**
 * Sends a consumer channel's acks and requeues (basic.ack, basic.nack) in as few frames as possible, never covering a
 * delivery that is still running or that was handed back.
 *
 * Delivery tags on a channel increase in the order the broker delivers, and `multiple=true` settles every delivery of
 * the channel not yet settled up to and including the tag. So the channel keeps its outstanding deliveries (handed
 * over, not yet sent a settle frame) in order, and settle calls are collected until the end of the current macrotask
 * (every delivery of one socket read, and the microtasks they lead to), then flushed:
 *
 * - from the oldest outstanding delivery, each run of settled deliveries with the same outcome (ack, or requeue) is one
 *   frame with `multiple=true` up to its last tag (`multiple=false` for a run of one): `[ack ack ack requeue ack]`
 *   is three frames;
 * - the first delivery still running ends that: settles behind it are held until the next flush, once (the head may
 *   have finished by then and one frame covers them all), and sent one frame each at the next flush (at the latest one
 *   turn of the event loop later: a long-running handler holds back nobody's ack beyond that).
 *
 * A settle resolves once its frame is written to the connection's socket (from then on the kernel sends it even if the
 * process is killed, so an acknowledged message does not come back after a SIGKILL), and rejects when the channel was
 * lost before: the broker has the message back and delivers it again. Frames already sent for
 * other deliveries of a lost channel stand (the broker takes frames of a channel in order).
 */
import type { ConsumeMessage } from 'amqplib';

/**
 * Resolves `settles` once amqplib has written their frames to the socket. A frame written to a channel goes to the
 * channel's buffer; the buffer turning readable is announced on a `process.nextTick`, and amqplib's multiplexer then
 * writes what the channels hold to the socket in a `setImmediate` it schedules there. An immediate scheduled from a
 * later tick runs after that one.
 */
function afterSocketWrite(settles: readonly PromiseWithResolvers<void>[]): void {
  process.nextTick(() =>
    setImmediate(() => {
      for (const settle of settles) settle.resolve();
    }),
  );
}

/** A delivery's state on its channel: handed over and running, or settled and waiting for its frame. */
export type OutstandingState = 'running' | 'ack' | 'requeue';

/** One delivery of the channel not yet covered by a frame. */
export class Outstanding {
  /** The delivery as amqplib handed it over (its delivery tag is what a frame carries). */
  readonly message: ConsumeMessage;
  /** Running until a settle call; then the outcome waiting for its frame. */
  state: OutstandingState = 'running';
  /** Whether a flush already held this settle back behind a running delivery. */
  held = false;
  /** Resolved once the frame covering this settle is written; rejected when the channel was lost first. */
  written: PromiseWithResolvers<void> | undefined;

  constructor(message: ConsumeMessage) {
    this.message = message;
  }

  /** The delivery tag: increasing in delivery order on the channel. */
  get tag(): number {
    return this.message.fields.deliveryTag;
  }
}

/** One frame to write: basic.ack or basic.nack (requeue) for `last`'s tag, and what it settles. */
export interface SettleFrame {
  readonly kind: 'ack' | 'requeue';
  /** The delivery whose tag the frame carries. */
  readonly last: Outstanding;
  /** `multiple=true`: every outstanding delivery of the channel up to `last`. */
  readonly multiple: boolean;
  /** The deliveries the frame settles (with `multiple`, every outstanding one up to `last`). */
  readonly covers: readonly Outstanding[];
}

/**
 * The frames for a flush. `outstanding`: the channel's deliveries not yet covered by a frame, oldest (lowest tag)
 * first; `settled`: those of them whose settle waits for a frame. Unless `final` (the channel is about to close),
 * marks as held, and leaves out, settles behind a running delivery that no flush held yet. Pure but for `held`: the
 * frames are written by the caller, in order.
 */
export function planFrames(
  outstanding: Iterable<Outstanding>,
  settled: Iterable<Outstanding>,
  final = false,
): SettleFrame[] {
  const frames: SettleFrame[] = [];
  let run: Outstanding[] = [];
  const endRun = () => {
    const last = run[run.length - 1];
    if (last === undefined) return;
    frames.push({ kind: last.state as 'ack' | 'requeue', last, multiple: run.length > 1, covers: run });
    run = [];
  };
  // From the oldest: runs of one outcome, until the first delivery still running.
  for (const entry of outstanding) {
    if (entry.state === 'running') break;
    if (run.length > 0 && run[0]!.state !== entry.state) endRun();
    run.push(entry);
  }
  endRun();
  const coveredByHead = new Set<Outstanding>();
  for (const frame of frames) for (const entry of frame.covers) coveredByHead.add(entry);
  // Behind the first running delivery: held once, then one frame each.
  for (const entry of settled) {
    if (entry.state === 'running' || coveredByHead.has(entry)) continue;
    if (!entry.held && !final) {
      entry.held = true;
      continue;
    }
    frames.push({ kind: entry.state, last: entry, multiple: false, covers: [entry] });
  }
  return frames;
}

/** Writes settle frames on the channel (amqplib's `ack` / `nack`); throws when the channel is closing or closed. */
export interface FrameWriter {
  ack(message: ConsumeMessage, allUpTo: boolean): void;
  nack(message: ConsumeMessage, allUpTo: boolean, requeue: boolean): void;
}

/** The outstanding deliveries of one consumer channel and their settles waiting for a frame; see the module's comment. */
export class AckCoalescer {
  readonly #writer: FrameWriter;
  /** Handed over and not yet covered by a frame, in delivery-tag order (the order they were added). */
  readonly #outstanding = new Set<Outstanding>();
  /** Settled, waiting for a frame. */
  readonly #settled = new Set<Outstanding>();
  #flushScheduled = false;
  #heldScheduled = false;
  /** Set when the channel was lost or a write failed: nothing is written any more. */
  #lost: Error | undefined;

  constructor(writer: FrameWriter) {
    this.#writer = writer;
  }

  /** Whether frames can still be written (false once the channel was lost). */
  get usable(): boolean {
    return this.#lost === undefined;
  }

  /** The number of deliveries handed over and not yet covered by a frame. */
  get size(): number {
    return this.#outstanding.size;
  }

  /** Records a delivery as it arrives (tags increase in arrival order). */
  add(message: ConsumeMessage): Outstanding {
    const entry = new Outstanding(message);
    this.#outstanding.add(entry);
    return entry;
  }

  /** Settles `entry` (ack, or requeue): resolves once its frame is written, rejects when the channel was lost first. */
  settle(entry: Outstanding, how: 'ack' | 'requeue'): Promise<void> {
    if (this.#lost) return Promise.reject(this.#lost);
    if (entry.state !== 'running' || !this.#outstanding.has(entry))
      return Promise.reject(new Error(`delivery tag ${entry.tag} is settled already`));
    entry.state = how;
    entry.written = Promise.withResolvers<void>();
    this.#settled.add(entry);
    this.#schedule();
    return entry.written.promise;
  }

  /**
   * Writes the frames that can be written now. `final`: the channel closes next (the transport's close, a consumer
   * cancelled by the broker), so nothing is held back.
   */
  flush(final = false): void {
    if (this.#settled.size === 0) return;
    if (this.#lost) {
      this.#failAll(this.#lost);
      return;
    }
    const frames = planFrames(this.#outstanding, this.#settled, final);
    const written: PromiseWithResolvers<void>[] = [];
    for (const frame of frames) {
      try {
        if (frame.kind === 'ack') this.#writer.ack(frame.last.message, frame.multiple);
        else this.#writer.nack(frame.last.message, frame.multiple, true);
      } catch (error) {
        // The channel is closing or closed under us: nothing more can be written on it.
        this.#lost = error instanceof Error ? error : new Error(String(error));
        this.#failAll(this.#lost);
        return;
      }
      for (const entry of frame.covers) {
        this.#outstanding.delete(entry);
        this.#settled.delete(entry);
        if (entry.written) written.push(entry.written);
      }
    }
    if (written.length > 0) afterSocketWrite(written);
    // Held behind a running delivery: sent at the next flush, at the latest one turn of the event loop from now.
    if (this.#settled.size > 0 && !this.#heldScheduled) {
      this.#heldScheduled = true;
      setImmediate(() => {
        this.#heldScheduled = false;
        this.flush();
      });
    }
  }

  /** The channel is gone: pending settles reject with `reason` (the broker redelivers), later ones too. */
  lose(reason: Error): void {
    this.#lost ??= reason;
    this.#failAll(this.#lost);
  }

  #failAll(reason: Error): void {
    for (const entry of this.#settled) entry.written?.reject(reason);
    this.#settled.clear();
    this.#outstanding.clear();
  }

  /**
   * Flushes once the current macrotask is over: a microtask, then a tick, runs after the microtasks already queued and
   * those they queue, so the settles of every handler that finishes in this macrotask share the flush.
   */
  #schedule(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() =>
      process.nextTick(() => {
        this.#flushScheduled = false;
        this.flush();
      }),
    );
  }
}
