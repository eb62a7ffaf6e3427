/**
 * A consumer process that dies while handling one message, for the poison-crash fault test: it starts a host with one
 * consumer of the conformance suite's `Item` on a Redis stream (concurrency 1, so it holds nothing else when it dies),
 * and when it is handed the message with `n: 0` it dies, by `process.exit(1)` or by SIGKILL to itself, as the spec says.
 * Other messages are handled. One line per event is appended to the file it is given, synchronously, so every line
 * written before the death is there after it:
 *
 * - `ready` once the consumer runs;
 * - `start <id> <attempt>` when a handler starts;
 * - `done <id> <attempt>` when a handler of another message has finished.
 *
 * Run as `node --conditions=hostwork-source crashing-consumer.ts '<json of CrashingConsumerSpec>'`.
 */
import { appendFileSync } from 'node:fs';
import { redisTransport } from '@hostwork/redis';
import { startConsumer } from '../../../hostwork/test/transport-conformance/harness.ts';

/** What the parent passes as the one argument, as JSON. */
export interface CrashingConsumerSpec {
  readonly url: string;
  readonly stream: string;
  readonly leaseMs: number;
  readonly maxAttempts: number;
  readonly file: string;
  /** How it dies on the message with `n: 0`. */
  readonly crash: 'exit' | 'sigkill';
}

const spec = JSON.parse(process.argv[2] ?? '') as CrashingConsumerSpec;
const line = (text: string) => appendFileSync(spec.file, `${text}\n`);

const transport = redisTransport({
  url: spec.url,
  leaseMs: spec.leaseMs,
  claimIntervalMs: 100,
  connectionName: `hw-crashing-${process.pid}`,
  onWarning: () => {},
});
await startConsumer(
  transport,
  { name: spec.stream },
  {
    concurrency: 1,
    maxAttempts: spec.maxAttempts,
    async handle(m, ctx) {
      line(`start ${ctx.id} ${ctx.attempt}`);
      if (m.n === 0) {
        if (spec.crash === 'exit') process.exit(1);
        process.kill(process.pid, 'SIGKILL');
        // The signal may take a moment to land: the handler never ends before it.
        await new Promise(() => {});
      }
      line(`done ${ctx.id} ${ctx.attempt}`);
    },
  },
);
line('ready');
// The host's services keep the process alive until it dies or is killed.
