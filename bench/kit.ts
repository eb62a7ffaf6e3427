/**
 * What every system's scenarios share inside a child process (bench/child.ts and bench/systems/*.ts): sending figures to
 * the runner, timing a fixed amount of work from several async loops, latency samples, the separate seeding and
 * enqueuing processes, and the CPU split of a timed section on PostgreSQL.
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { ChildMessage, MessageRunContext, RunContext } from './common.ts';
import { now, percentile, progress, SIZES } from './common.ts';
import { cpuSplit } from './postgres.ts';

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

/** A system's scenarios, as bench/child.ts dispatches its roles to them. */
export interface SystemScenarios {
  /** Runs one measurement and sends its figures (`result`). */
  run(measurement: string, ctx: RunContext): Promise<void>;
  /** The `seed` role: pre-enqueues `count` no-op jobs in bulk. */
  seed(ctx: RunContext, count: number): Promise<void>;
  /** The `enqueuer` role of latency-xproc: `count` pings, one every `intervalMs`. */
  enqueuer(ctx: RunContext, count: number, intervalMs: number): Promise<void>;
}

/** One system's measurements by name; a missing one is refused with the system's name. */
export type Measurements = Readonly<Record<string, (ctx: RunContext) => Promise<void>>>;

/** Builds a system's {@link SystemScenarios} from its measurements and roles. */
export function systemScenarios(
  system: string,
  measurements: Measurements,
  roles: Pick<SystemScenarios, 'seed' | 'enqueuer'>,
): SystemScenarios {
  return {
    run(measurement, ctx) {
      const run = measurements[measurement];
      if (!run) throw new Error(`${system}: no scenario '${measurement}'.`);
      return run(ctx);
    },
    ...roles,
  };
}

function send(message: ChildMessage): void {
  if (!process.send) throw new Error('bench/child.ts runs under bench/run.ts (it needs an IPC channel).');
  process.send(message);
}

/** A figure: printed by the runner as a result line (the median of the runs). */
export function result(metric: string, value: number): void {
  send({ type: 'result', metric, value });
}

/** A detail: summarised by the runner on stderr only. */
export function detail(name: string, value: number): void {
  send({ type: 'detail', name, value });
}

export function done(): void {
  send({ type: 'done' });
}

export function assertCount(what: string, actual: number | undefined, expected: number): void {
  if (actual !== expected) throw new Error(`${what}: expected ${expected}, found ${actual ?? 0}.`);
}

/** `total` calls of `call`, from `loops` concurrent async loops each awaiting its call before the next; seconds. */
export async function timeLoops(
  total: number,
  loops: number,
  call: (i: number) => Promise<unknown>,
): Promise<number> {
  const perLoop = total / loops;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: loops }, async (_, c) => {
      for (let k = 0; k < perLoop; k++) await call(c * perLoop + k);
    }),
  );
  return (performance.now() - t0) / 1000;
}

/**
 * Starts measuring the CPU split of a timed section (PostgreSQL only: this process and the server, each as a share
 * of one core); the returned function ends it, prints it and sends it to the runner as details `<label>-cpu-*`.
 */
export function startCpuSplit(ctx: RunContext, label: string): () => void {
  if (ctx.store !== 'postgres') return () => {};
  const end = cpuSplit();
  return () => {
    const { wallMs, clientPct, serverPct } = end();
    progress(
      `${label} (${ctx.system}): ${(wallMs / 1000).toFixed(2)} s; CPU of this process ${clientPct.toFixed(0)} %, of the PostgreSQL server ${serverPct.toFixed(0)} % (of one core each)`,
    );
    detail(`${label}-cpu-client-pct`, clientPct);
    detail(`${label}-cpu-server-pct`, serverPct);
  };
}

/**
 * Runs a role of bench/child.ts (`seed`, `enqueuer`, `producer`) in its own process; resolves to the process's exit.
 * `ipc` opens a message channel to it (`child.send`, `process.on('message')`).
 */
export function spawnRole(
  role: string,
  ctx: RunContext | MessageRunContext,
  args: readonly string[] = [],
  ipc = false,
) {
  // graphile-worker reads NO_LOG_SUCCESS when it loads; children inherit the runner's environment plus this.
  const child = spawn(process.execPath, [CHILD, role, JSON.stringify(ctx), ...args], {
    stdio: ipc ? ['ignore', 2, 2, 'ipc'] : ['ignore', 2, 2],
    env: { ...process.env, NO_LOG_SUCCESS: '1' },
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', resolve);
  });
  return { child, exited };
}

/** Pre-enqueues `count` no-op jobs in bulk in a separate short-lived process, so the worker starts with a clean heap. */
export async function seedInChild(ctx: RunContext, count: number): Promise<void> {
  const code = await spawnRole('seed', ctx, [String(count)]).exited;
  if (code !== 0) throw new Error(`The seed process exited with code ${code}.`);
}

/** `{ payload }` items of no-op jobs `from` .. `from + count - 1`. */
export function items(from: number, count: number): { payload: { i: number } }[] {
  return Array.from({ length: count }, (_, k) => ({ payload: { i: from + k } }));
}

// ---------------------------------------------------------------------------------------------------------------
// Latency

/** Handler-start latencies of `count` ping jobs, indexed by job number; `record` is called by the handler. */
export function collectLatencies(count: number): {
  samples: Float64Array;
  all: Promise<void>;
  record: (i: number, sentAt: number) => void;
} {
  const samples = new Float64Array(count).fill(Number.NaN);
  const all = Promise.withResolvers<void>();
  let seen = 0;
  const record = (i: number, sentAt: number) => {
    const startedAt = now();
    if (!Number.isNaN(samples[i]!)) return; // a re-run (at-least-once) keeps the first start
    samples[i] = startedAt - sentAt;
    if (++seen === count) all.resolve();
  };
  return { samples, all: all.promise, record };
}

/** Enqueues `count` pings, one every `intervalMs` on a fixed cadence; each carries the time just before its call. */
export async function sendPings(
  count: number,
  intervalMs: number,
  enqueue: (i: number, t: number) => Promise<unknown>,
): Promise<void> {
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = t0 + i * intervalMs - performance.now();
    if (wait > 0) await sleep(wait);
    await enqueue(i, now());
  }
}

/** Waits for every ping, or fails after `ms`, naming how many arrived. */
export async function within(all: Promise<void>, samples: Float64Array, ms: number): Promise<void> {
  const timer = sleep(ms, undefined, { ref: false }).then(() => {
    const missing = samples.filter(Number.isNaN).length;
    throw new Error(`${missing} of ${samples.length} latency jobs did not start within ${ms} ms.`);
  });
  await Promise.race([all, timer]);
}

export function reportLatencies(prefix: string, samples: Float64Array): void {
  const kept = [...samples.subarray(SIZES.latencyWarmup)].sort((a, b) => a - b);
  progress(
    `${prefix}: min ${kept[0]!.toFixed(2)} ms, p90 ${percentile(kept, 0.9).toFixed(2)} ms, max ${kept.at(-1)!.toFixed(2)} ms over ${kept.length} jobs`,
  );
  result(`${prefix}-p50`, percentile(kept, 0.5));
  result(`${prefix}-p99`, percentile(kept, 0.99));
}

/**
 * Cross-process latency around an already started worker: spawns the `enqueuer` role and waits for every ping (or
 * fails at once if the enqueuer fails).
 */
export async function awaitPingsFromEnqueuer(
  ctx: RunContext,
  count: number,
  intervalMs: number,
  latencies: { all: Promise<void>; samples: Float64Array },
): Promise<void> {
  const { child, exited } = spawnRole('enqueuer', ctx, [String(count), String(intervalMs)]);
  // A failed enqueuer ends the run at once; one that exits cleanly leaves the last jobs to arrive.
  const failed = exited.then((code) => {
    if (code !== 0) throw new Error(`The enqueuer process exited with code ${code}.`);
    return new Promise<never>(() => {});
  });
  try {
    await within(Promise.race([latencies.all, failed]), latencies.samples, count * intervalMs + 30_000);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  await exited;
}
