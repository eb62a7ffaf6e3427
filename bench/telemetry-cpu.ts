/**
 * The CPU time per job of a drain, with and without telemetry: `node bench/telemetry-cpu.ts <mode> [jobs]`, run in
 * the worktree after `npm run build` (it loads the built packages, as the benchmark does). Modes:
 *   off          no OpenTelemetry SDK (telemetry off: Hostwork's own counters only)
 *   meter        a meter provider (metrics through the SDK), no tracer provider
 *   meter-sdk    a meter provider and a tracer provider recording every span (traces and metrics)
 *   sampled      a tracer provider sampling 10 % of root traces, no meter provider
 * Both providers export to exporters that drop everything. One line: mode, jobs/s (wall clock, noisy on a shared
 * machine) and the CPU time of this process per job (user + system, steadier). Run the modes interleaved, several
 * rounds, and compare medians: docs/telemetry.md#cost.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addJobs, createHostBuilder, defineJob, JobClient, JobEvents, sqliteStore } from 'hostwork';
import { z } from 'zod';

const mode = process.argv[2] ?? 'off';
const n = Number(process.argv[3] ?? 50_000);
const Noop = defineJob({ name: 'noop', schema: z.object({ i: z.number() }), handle() {} });
const dir = mkdtempSync(join(tmpdir(), 'hostwork-telemetry-cpu-'));
const path = join(dir, 'jobs.db');

function build(worker: false | { queues: Record<string, { concurrency: number }> }) {
  const builder = createHostBuilder({ env: {}, args: [], contentRoot: dir, logging: { level: 'warn' } });
  addJobs(builder, { jobs: [Noop], store: sqliteStore({ path }), worker });
  return builder.build();
}

// Seeded before any SDK is registered: the jobs carry no trace context, as in the benchmark's drain.
const seeder = build(false);
await seeder.start();
const client = seeder.services.get(JobClient);
for (let i = 0; i < n; i += 1_000)
  await client.enqueueMany(
    Noop,
    Array.from({ length: Math.min(1_000, n - i) }, (_, k) => ({ payload: { i: i + k } })),
  );
await seeder.stop();

const ok = { code: 0 };
if (mode === 'meter' || mode === 'meter-sdk') {
  const { metrics } = await import('@opentelemetry/api');
  const { AggregationTemporality, MeterProvider, PeriodicExportingMetricReader } = await import(
    '@opentelemetry/sdk-metrics'
  );
  const exporter = {
    export: (_: unknown, done: (result: { code: number }) => void) => done(ok),
    forceFlush: async () => {},
    shutdown: async () => {},
    selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE,
  };
  metrics.setGlobalMeterProvider(
    new MeterProvider({
      readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 })],
    }),
  );
}
if (mode === 'meter-sdk' || mode === 'sampled') {
  const { context, trace } = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider } = await import(
    '@opentelemetry/sdk-trace'
  );
  const exporter = {
    export: (_: unknown, done: (result: { code: number }) => void) => done(ok),
    shutdown: async () => {},
  };
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(
    new TracerProvider({
      spanProcessors: [new BatchSpanProcessor({ exporter })],
      ...(mode === 'sampled'
        ? { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0.1) }) }
        : {}),
    }),
  );
}

const host = build({ queues: { default: { concurrency: 50 } } });
let completed = 0;
const all = Promise.withResolvers<void>();
host.services.get(JobEvents).on('completed', () => {
  if (++completed === n) all.resolve();
});
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await host.start();
await all.promise;
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
await host.stop();
rmSync(dir, { recursive: true, force: true });
console.log(
  `${mode.padEnd(10)} ${String(Math.round(n / seconds)).padStart(8)} jobs/s ${((cpu.user + cpu.system) / n).toFixed(2)} µs CPU/job`,
);
