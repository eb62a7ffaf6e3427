/**
 * A consumer in a process of its own, for the conformance suite's SIGKILL case: it builds its transport from the
 * target's `processTransport` description, starts a host with one consumer of the suite's `Item` on the source, and
 * runs until killed. It appends one line per event to the file it is given, synchronously, so every line written
 * before the kill is there after it:
 *
 * - `start <id> <attempt>` when a handler starts;
 * - `end <id> <attempt>` when it has finished (before the engine acknowledges);
 * - `acked <id> <attempt>` once the transport's `ack()` resolved: the broker has (or has been sent) the ack.
 *
 * Run as `node --conditions=hostwork-source consumer-process.ts '<json of ConsumerProcessSpec>'`.
 */
import { appendFileSync } from 'node:fs';
import type { Delivery, Destination, SubscribeOptions, Transport } from '../../src/messaging/transport.ts';
import { type ProcessTransport, startConsumer } from './harness.ts';

/** What the parent passes as the one argument, as JSON. */
export interface ConsumerProcessSpec {
  /** The module URL, export name and JSON options of a function returning the transport. */
  readonly processTransport: ProcessTransport;
  readonly source: Destination;
  /** The file the lines go to. */
  readonly file: string;
  /** How long each handler runs, in ms. */
  readonly handleMs: number;
  readonly concurrency: number;
  /** The handler kills its own process (SIGKILL) once it has written its `start` line: a message that kills. */
  readonly crash?: boolean;
  /** The consumer's `maxRedeliveries`, when given. */
  readonly maxRedeliveries?: number;
}

const spec = JSON.parse(process.argv[2] ?? '') as ConsumerProcessSpec;
const line = (text: string) => appendFileSync(spec.file, `${text}\n`);

const module = (await import(spec.processTransport.module)) as Record<string, unknown>;
const make = module[spec.processTransport.export];
if (typeof make !== 'function') {
  throw new Error(
    `processTransport: ${spec.processTransport.module} has no function export '${spec.processTransport.export}'; name the function that returns the Transport`,
  );
}
const inner = (make as (options: unknown) => Transport)(spec.processTransport.options);

/** Records `acked` once a delivery's ack resolved; everything else passes through. */
const transport: Transport = {
  kind: inner.kind,
  connect: () => inner.connect(),
  publish: (destination, messages) => inner.publish(destination, messages),
  close: () => inner.close(),
  [Symbol.asyncDispose]: () => inner.close(),
  subscribe: (source: Destination, options: SubscribeOptions) =>
    inner.subscribe(source, {
      ...options,
      onDelivery: (d: Delivery) =>
        options.onDelivery({
          id: d.id,
          body: d.body,
          headers: d.headers,
          attempt: d.attempt,
          ...(d.redeliveries !== undefined ? { redeliveries: d.redeliveries } : {}),
          ...(d.key !== undefined ? { key: d.key } : {}),
          ...(d.lockMs !== undefined ? { lockMs: d.lockMs } : {}),
          ack: async () => {
            await d.ack();
            line(`acked ${d.id} ${d.attempt}`);
          },
          retry: (ms, error) => d.retry(ms, error),
          deadLetter: (reason, errors) => d.deadLetter(reason, errors),
          release: () => d.release(),
          ...(d.extend ? { extend: (ms: number) => d.extend!(ms) } : {}),
        }),
    }),
};

await startConsumer(transport, spec.source, {
  concurrency: spec.concurrency,
  ...(spec.maxRedeliveries !== undefined ? { maxRedeliveries: spec.maxRedeliveries } : {}),
  async handle(_m, ctx) {
    line(`start ${ctx.id} ${ctx.attempt}`);
    if (spec.crash) process.kill(process.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, spec.handleMs));
    line(`end ${ctx.id} ${ctx.attempt}`);
  },
});
line('ready');
// The host's services keep the process alive until it is killed.
