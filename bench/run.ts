/**
 * The benchmark runner: `npm run bench -- [--store sqlite|postgres | --transport rabbitmq|sqs|kafka|nats|redis]
 * [--scenario a,b]
 * [--runs 3] [--all] [--system x]`.
 *
 * Every run of every scenario is a fresh child process (bench/child.ts) on a fresh store: a temporary directory for
 * SQLite, a fresh schema (`bench_<random>`, dropped afterwards) for PostgreSQL, so memory, JIT state and data never
 * leak between runs. Each figure is the median of the runs. On PostgreSQL, graphile-worker and pg-boss run the same
 * scenarios on the same server, interleaved with Hostwork run by run (run 1 of each system, then run 2, ...).
 *
 * stdout carries exactly one JSON line per result:
 *   {"system":"hostwork","store":"sqlite","scenario":"drain-c10","value":12345,"unit":"jobs/s"}
 * (a Hostwork configuration other than the defaults adds `"variant"`). Progress, everything the children print and,
 * on PostgreSQL, the side-by-side summary go to stderr. Exit code 1 if any run failed or the options are wrong.
 *
 * With `--transport`, the message consumers are measured instead: Hostwork's consumer engine over its adapter against
 * a plain loop on the same client library, interleaved run by run, each run on a fresh queue seeded by a separate
 * process and deleted afterwards; result lines carry `"transport"` instead of `"store"`. For SQS the runner starts
 * the fauxqs emulator in a process of its own, bound to 127.0.0.1, for the whole suite; for Kafka, librdkafka's mock
 * cluster (packages/kafka/test/support/mock-cluster.c, Debian's librdkafka-dev), creating each run's topics there;
 * for Azure Service Bus, the local AMQP stand-in of packages/azure-service-bus/test/support (a stand-in, not the
 * service: its figures measure the client and the adapter, not Azure) in a process of its own on 127.0.0.1.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  DEFAULT_AMQP_URL,
  DEFAULT_NATS_URL,
  DEFAULT_REDIS_URL,
  deleteQueues,
  describeBroker,
  freshQueue,
} from './brokers.ts';
import type {
  ChildMessage,
  Measurement,
  MessageRunContext,
  Metric,
  RunContext,
  StoreKind,
  SystemName,
  TransportKind,
} from './common.ts';
import {
  inDefaultSuiteOf,
  KAFKA_PARTITIONS,
  MEASUREMENTS,
  MESSAGE_MEASUREMENTS,
  MESSAGE_SIZES,
  MESSAGE_SYSTEMS,
  MESSAGE_TARGETS,
  median,
  POSTGRES_TARGETS,
  progress,
  roundFor,
  STORES,
  SYSTEMS,
  systemsOf,
  TRANSPORTS,
  VARIANTS,
} from './common.ts';
import { spawnRole } from './kit.ts';
import { DEFAULT_DATABASE_URL, describeServer, dropSchema, freshSchema, withClient } from './postgres.ts';

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));
/** Extra Node and V8 flags for the measured children, for investigations (e.g. BENCH_NODE_FLAGS=--trace-gc). */
const NODE_FLAGS = process.env.BENCH_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? [];

const USAGE = `Usage: npm run bench -- [options]

  --store <sqlite|postgres>  the job store to measure (default: sqlite)
  --transport <rabbitmq|sqs|kafka|nats|redis|azure-service-bus>
                             measure the message consumers on this transport instead of a job store: Hostwork
                             against a plain loop on the same client (amqplib, the AWS SDK, @platformatic/kafka,
                             nats.js, node-redis, @azure/service-bus); not with --store; kafka runs on librdkafka's
                             mock cluster on 127.0.0.1; azure-service-bus on a local AMQP stand-in (not the service)
  --broker-url <url>         rabbitmq: the broker (default: AMQP_URL, else ${DEFAULT_AMQP_URL});
                             nats: the server (default: NATS_URL, else ${DEFAULT_NATS_URL});
                             redis: the server (default: REDIS_URL, else ${DEFAULT_REDIS_URL});
                             sqs always runs on its own fauxqs emulator on 127.0.0.1
  --scenario <names>         only these scenarios, comma-separated (default: every default scenario)
  --runs <n>                 runs per scenario, each in a fresh process; the median is reported (default: 3)
  --all                      the default scenarios plus the optional ones (see below)
  --system <names>           postgres only: only these systems, comma-separated (default: ${SYSTEMS.join(', ')})
  --database-url <url>       postgres only: the server (default: DATABASE_URL, else ${DEFAULT_DATABASE_URL})
  --keep                     keep the temporary directories (their path is printed)
  --help                     this text

Scenarios: ${MEASUREMENTS.flatMap((m) => m.metrics.map((x) => x.name)).join(', ')}
On a transport: ${MESSAGE_MEASUREMENTS.flatMap((m) => m.metrics.map((x) => x.name)).join(', ')} (group: latency)
Measured together, in one process (a group name selects all of its figures):
  ${MEASUREMENTS.filter((m) => m.metrics.length > 1)
    .map((m) => {
      const names = m.metrics.map((x) => x.name);
      return `${names.join(' + ')}${names.includes(m.name) ? '' : ` (group: ${m.name})`}`;
    })
    .join('\n  ')}
Not in the default suite (name them or use --all): ${MEASUREMENTS.filter((m) => !m.inDefaultSuite)
  .map((m) => m.name)
  .join(', ')} (SQLite only); on postgres also ${MEASUREMENTS.filter(
  (m) => m.inDefaultSuite && !inDefaultSuiteOf(m, 'postgres'),
)
  .map((m) => m.name)
  .join(', ')}
`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}`);
  process.exit(1);
}

/** One measurement to run and the figures of it to print. */
interface Selected {
  readonly measurement: Measurement;
  readonly metrics: readonly Metric[];
}

/** One configuration measured: a system, or a labelled variant of it. */
interface Contender {
  readonly system: SystemName;
  readonly variant?: string;
}

const label = (c: Contender) => (c.variant ? `${c.system} [${c.variant}]` : c.system);

interface Options {
  store: StoreKind;
  /** Set: the message consumers on this transport are measured, not a job store. */
  transport: TransportKind | undefined;
  /** The broker of a transport run (the SQS emulator's endpoint is filled in once it started). */
  brokerUrl: string;
  runs: number;
  selected: Selected[];
  systems: readonly SystemName[];
  databaseUrl: string;
  keep: boolean;
}

function parseOptions(): Options {
  let values: ReturnType<typeof parse>['values'];
  function parse() {
    return parseArgs({
      options: {
        store: { type: 'string' },
        transport: { type: 'string' },
        'broker-url': { type: 'string' },
        scenario: { type: 'string', multiple: true },
        runs: { type: 'string', default: '3' },
        all: { type: 'boolean', default: false },
        system: { type: 'string', multiple: true },
        'database-url': { type: 'string' },
        keep: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      allowPositionals: false,
    });
  }
  try {
    values = parse().values;
  } catch (error) {
    fail((error as Error).message);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  if (values.store !== undefined && values.transport !== undefined)
    fail('--store and --transport exclude each other: measure a job store or a transport.');
  const transport = values.transport as TransportKind | undefined;
  if (transport !== undefined && !TRANSPORTS.includes(transport))
    fail(`Unknown transport '${values.transport}' (known: ${TRANSPORTS.join(', ')}).`);
  if (
    values['broker-url'] !== undefined &&
    transport !== 'rabbitmq' &&
    transport !== 'nats' &&
    transport !== 'redis'
  )
    fail(
      '--broker-url applies to --transport rabbitmq, nats and redis only (sqs and kafka run on their own emulator and mock).',
    );
  const brokerUrl =
    values['broker-url'] ??
    (transport === 'nats'
      ? (process.env.NATS_URL ?? DEFAULT_NATS_URL)
      : transport === 'redis'
        ? (process.env.REDIS_URL ?? DEFAULT_REDIS_URL)
        : (process.env.AMQP_URL ?? DEFAULT_AMQP_URL));
  const store = (values.store ?? 'sqlite') as StoreKind;
  if (!STORES.includes(store)) fail(`Unknown store '${values.store}'.`);
  const runs = Number(values.runs);
  if (!(Number.isInteger(runs) && runs >= 1)) fail(`--runs must be an integer >= 1, got '${values.runs}'.`);

  const systemNames = (values.system ?? []).flatMap((s) => s.split(',')).map((s) => s.trim());
  let systems: readonly SystemName[] = transport ? MESSAGE_SYSTEMS[transport] : systemsOf(store);
  if (systemNames.length > 0) {
    for (const name of systemNames)
      if (!systems.includes(name as SystemName))
        fail(
          `Unknown system '${name}' for ${transport ? `transport ${transport}` : `store ${store}`} (known: ${systems.join(', ')}).`,
        );
    systems = systems.filter((s) => systemNames.includes(s));
  }
  if (store !== 'postgres' && values['database-url'] !== undefined)
    fail('--database-url applies to postgres only.');
  const databaseUrl = values['database-url'] ?? process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;

  const catalogue = transport ? MESSAGE_MEASUREMENTS : MEASUREMENTS;
  const applies = (m: Measurement) =>
    transport !== undefined || m.stores === undefined || m.stores.includes(store);
  const names = (values.scenario ?? []).flatMap((s) => s.split(',')).map((s) => s.trim());
  const selected: Selected[] = [];
  if (names.length === 0) {
    for (const m of catalogue)
      if ((inDefaultSuiteOf(m, store) || values.all) && applies(m))
        selected.push({ measurement: m, metrics: m.metrics });
  } else {
    const wanted = new Map<Measurement, Set<Metric>>();
    for (const name of names.filter((n) => n !== '')) {
      // A figure's own name selects that figure; a group's name (latency, latency-xproc, memory-flat) all of its.
      const owner = catalogue.find((m) => m.metrics.some((x) => x.name === name));
      const group = owner ? undefined : catalogue.find((m) => m.name === name);
      if (!group && !owner) fail(`Unknown scenario '${name}'.`);
      const measurement = (owner ?? group)!;
      if (!applies(measurement)) fail(`Scenario '${name}' does not apply to store ${store}.`);
      const set = wanted.get(measurement) ?? new Set();
      for (const metric of measurement.metrics) if (group || metric.name === name) set.add(metric);
      wanted.set(measurement, set);
    }
    // In catalogue order, whatever the order of the names.
    for (const m of catalogue) {
      const set = wanted.get(m);
      if (set) selected.push({ measurement: m, metrics: m.metrics.filter((x) => set.has(x)) });
    }
  }
  return { store, transport, brokerUrl, runs, selected, systems, databaseUrl, keep: values.keep };
}

/** What one child run reported. */
interface ChildReport {
  readonly figures: Map<string, number>;
  readonly details: Map<string, number>;
}

/** Runs one measurement in a fresh child process; resolves to its figures by metric name. */
function runChild(measurement: Measurement, ctx: RunContext | MessageRunContext): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const figures = new Map<string, number>();
    const details = new Map<string, number>();
    let done = false;
    // The child's stdout (host logs) joins our stderr: our stdout carries result lines only. NO_LOG_SUCCESS turns
    // off graphile-worker's per-job success log line (read when it loads; nothing else reads it).
    const child = spawn(
      process.execPath,
      ['--expose-gc', ...NODE_FLAGS, CHILD, 'run', measurement.name, JSON.stringify(ctx)],
      {
        stdio: ['ignore', 2, 2, 'ipc'],
        env: { ...process.env, NO_LOG_SUCCESS: '1' },
      },
    );
    const timer = setTimeout(() => {
      progress(`${measurement.name}: no result after ${measurement.timeoutMs / 1000} s; killing it`);
      child.kill('SIGKILL');
    }, measurement.timeoutMs);
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'result') figures.set(message.metric, message.value);
      else if (message.type === 'detail') details.set(message.name, message.value);
      else if (message.type === 'done') done = true;
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0 && done) resolve({ figures, details });
      else reject(new Error(`the child process ended with ${signal ?? `code ${code}`} before finishing`));
    });
  });
}

/** How often a PostgreSQL run is tried again after the server went away during it. */
const OUTAGE_RETRIES = 2;

/**
 * Runs a child; on PostgreSQL, if it failed and the server restarted or went away meanwhile (another program
 * restarted it: this is a shared server), waits up to a minute for the server to accept connections and runs it
 * again on a fresh copy of its schema, saying so. Any other failure counts as failed.
 */
async function runChildRetryingOutages(
  measurement: Measurement,
  ctx: RunContext | MessageRunContext,
): Promise<ChildReport> {
  if ('transport' in ctx) return runTransportChild(measurement, ctx);
  for (let attempt = 0; ; attempt++) {
    const startedAt = ctx.store === 'postgres' ? await serverStartTime(ctx.databaseUrl) : undefined;
    try {
      return await runChild(measurement, ctx);
    } catch (error) {
      if (ctx.store !== 'postgres' || attempt >= OUTAGE_RETRIES) throw error;
      const now = await serverStartTime(ctx.databaseUrl);
      if (now !== undefined && now === startedAt) throw error;
      progress(
        `${measurement.name} ${label(ctx)}: the server restarted or went away during the run; running it again once it is back`,
      );
      const until = performance.now() + 60_000;
      while ((await serverStartTime(ctx.databaseUrl)) === undefined) {
        if (performance.now() > until) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
      await new Promise((resolve) => setTimeout(resolve, 2_000)); // let it settle after a restart
      await dropSchema(ctx.databaseUrl, ctx.schema).catch(() => {});
    }
  }
}

/**
 * Seeds the run's queue and runs the child; if that failed and the broker cannot be reached afterwards (another
 * program restarted it: this is a shared broker), waits up to a minute for it and runs it again on a fresh copy of
 * its queue, saying so. Any other failure counts as failed.
 */
async function runTransportChild(measurement: Measurement, ctx: MessageRunContext): Promise<ChildReport> {
  for (let attempt = 0; ; attempt++) {
    try {
      if (ctx.transport === 'kafka')
        for (const topic of [ctx.queue, `${ctx.queue}.retry`, `${ctx.queue}.dead`])
          await kafkaCluster!.createTopic(topic, KAFKA_PARTITIONS);
      await seedQueue(ctx, measurement);
      return await runChild(measurement, ctx);
    } catch (error) {
      if (attempt >= OUTAGE_RETRIES || (await brokerReachable(ctx))) throw error;
      progress(
        `${measurement.name} ${label(ctx)}: the broker went away during the run; running it again once it is back`,
      );
      const until = performance.now() + 60_000;
      while (!(await brokerReachable(ctx))) {
        if (performance.now() > until) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
      await new Promise((resolve) => setTimeout(resolve, 2_000)); // let it settle after a restart
      await deleteQueues(ctx.transport, ctx.brokerUrl, ctx.queue).catch(() => {});
    }
  }
}

async function brokerReachable(ctx: MessageRunContext): Promise<boolean> {
  try {
    await describeBroker(ctx.transport, ctx.brokerUrl);
    return true;
  } catch {
    return false;
  }
}

/** When the server (postmaster) started, or undefined while it cannot be reached. */
async function serverStartTime(url: string): Promise<string | undefined> {
  try {
    return await withClient(url, async (c) => {
      const { rows } = await c.query<{ t: string }>('SELECT pg_postmaster_start_time()::text AS t');
      return rows[0]!.t;
    });
  } catch {
    return undefined;
  }
}

async function machine(store: StoreKind, databaseUrl: string): Promise<string> {
  const db = new DatabaseSync(':memory:');
  const sqlite = db.prepare('select sqlite_version() as v').get()?.v;
  db.close();
  const cpu = `${availableParallelism()} CPU(s) (${cpus()[0]?.model ?? 'unknown'})`;
  if (store === 'sqlite') return `node ${process.version}, SQLite ${sqlite}, ${cpu}`;
  return `node ${process.version}, ${cpu}, ${await describeServer(databaseUrl)} at ${databaseUrl.replace(/\/\/[^@/]*@/, '//…@')}`;
}

function format(value: number, unit: Metric['unit']): string {
  return `${roundFor(unit, value).toLocaleString('en')} ${unit}`;
}

/** Warns when other processes compete for the CPUs: throughput and latency figures are then unreliable. */
function warnIfBusy(when: string): void {
  const load = loadavg()[0]!;
  if (load > availableParallelism() * 0.5) {
    progress(
      `WARNING ${when}: the 1-minute load average is ${load.toFixed(2)} on ${availableParallelism()} CPU(s); other processes compete for the CPUs and the figures will be low and noisy.`,
    );
  }
}

/** The configurations measuring `metrics`: each system, and the variants of it that apply to them. */
function contendersOf(
  metrics: readonly Metric[],
  store: StoreKind,
  systems: readonly SystemName[],
): Contender[] {
  const out: Contender[] = [];
  for (const system of systems) {
    out.push({ system });
    for (const v of VARIANTS)
      if (v.system === system && v.store === store && metrics.some((m) => v.scenarios.includes(m.name)))
        out.push({ system, variant: v.name });
  }
  return out;
}

const options = parseOptions();
const { store, transport, runs, selected, systems, databaseUrl, keep } = options;
/** The SQS emulator's process (--transport sqs), ended when the runner ends. */
const emulator =
  transport === 'sqs' || transport === 'azure-service-bus' ? await startEmulator(transport) : undefined;
/** librdkafka's mock cluster (--transport kafka), stopped when the runner ends; each run's topics are created there. */
const kafkaCluster =
  transport === 'kafka'
    ? await (await import('../packages/kafka/test/support/mock-cluster.ts')).startMockCluster()
    : undefined;
const brokerUrl = emulator?.endpoint ?? kafkaCluster?.bootstrap ?? options.brokerUrl;
try {
  const what = transport
    ? `node ${process.version}, ${availableParallelism()} CPU(s) (${cpus()[0]?.model ?? 'unknown'}), ${await describeBroker(transport, brokerUrl)}; transport ${transport}`
    : `${await machine(store, databaseUrl)}; store ${store}`;
  progress(
    `${what}; systems ${systems.join(', ')}; ${runs} run(s) per scenario, median reported; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
} catch (error) {
  progress(
    `Cannot reach ${transport ? `the broker at ${brokerUrl}` : `the database at ${databaseUrl}`}: ${(error as Error).message}`,
  );
  emulator?.stop();
  await kafkaCluster?.stop();
  process.exit(1);
}
warnIfBusy('before the first run');
const root = mkdtempSync(join(tmpdir(), 'hostwork-bench-'));
/** PostgreSQL schemas of runs in progress, dropped also on Ctrl-C. */
const liveSchemas = new Set<string>();
/** Queues of transport runs in progress, deleted also on Ctrl-C. */
const liveQueues = new Set<string>();
process.once('SIGINT', () => {
  // The terminal interrupts the children too; leave no temporary files or schemas behind.
  rmSync(root, { recursive: true, force: true });
  void Promise.allSettled([
    ...[...liveSchemas].map((s) => dropSchema(databaseUrl, s)),
    ...[...liveQueues].map((q) => deleteQueues(transport!, brokerUrl, q)),
  ]).then(() => {
    emulator?.stop();
    void kafkaCluster?.stop();
    process.exit(130);
  });
});
let failures = 0;
const started = performance.now();
/** Medians by contender label and figure name, for the summary. */
const medians = new Map<string, Map<string, number>>();
/** Every run's figure by contender label and figure name, for the ranges of the transport summary. */
const allSamples = new Map<string, Map<string, number[]>>();
const detailMedians = new Map<string, Map<string, number>>();
for (const { measurement, metrics } of selected) {
  const contenders = contendersOf(metrics, store, systems);
  const samples = new Map(
    contenders.map((c) => [label(c), new Map(metrics.map((m) => [m.name, [] as number[]]))]),
  );
  const details = new Map(contenders.map((c) => [label(c), new Map<string, number[]>()]));
  for (let run = 1; run <= runs; run++) {
    for (const contender of contenders) {
      const name = label(contender);
      const dir = mkdtempSync(join(root, `${measurement.name}-${run}-`));
      const schema = store === 'postgres' && !transport ? freshSchema() : '';
      if (schema) liveSchemas.add(schema);
      const queue = transport ? freshQueue() : '';
      if (queue) liveQueues.add(queue);
      const ctx: RunContext | MessageRunContext = transport
        ? { system: contender.system, transport, dir, brokerUrl, queue }
        : {
            system: contender.system,
            store,
            dir,
            schema,
            databaseUrl,
            variant: contender.variant,
          };
      const t0 = performance.now();
      try {
        const report = await runChildRetryingOutages(measurement, ctx);
        for (const m of metrics) {
          const value = report.figures.get(m.name);
          if (value === undefined || !Number.isFinite(value)) throw new Error(`no figure for ${m.name}`);
          samples.get(name)!.get(m.name)!.push(value);
        }
        for (const [key, value] of report.details) {
          const list = details.get(name)!.get(key) ?? [];
          list.push(value);
          details.get(name)!.set(key, list);
        }
        const shown = metrics
          .map((m) => `${m.name} ${format(report.figures.get(m.name)!, m.unit)}`)
          .join(', ');
        const who = store === 'postgres' || transport ? ` ${name}` : '';
        progress(
          `${measurement.name}${who} run ${run}/${runs}: ${shown} (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
        );
      } catch (error) {
        failures++;
        progress(`${measurement.name} ${name} run ${run}/${runs} FAILED: ${(error as Error).message}`);
      } finally {
        if (!keep) rmSync(dir, { recursive: true, force: true });
        if (queue) {
          try {
            await deleteQueues(transport!, brokerUrl, queue);
            liveQueues.delete(queue);
          } catch (error) {
            progress(`could not delete queue ${queue}: ${(error as Error).message}`);
          }
        }
        if (schema) {
          try {
            await dropSchema(databaseUrl, schema);
            liveSchemas.delete(schema);
          } catch (error) {
            progress(
              `could not drop schema ${schema} (trying again at the end): ${(error as Error).message}`,
            );
          }
        }
      }
    }
  }
  for (const contender of contenders) {
    const name = label(contender);
    for (const m of metrics) {
      const values = samples.get(name)!.get(m.name)!;
      if (values.length === 0) continue;
      const value = roundFor(m.unit, median(values));
      const line = {
        system: contender.system,
        ...(contender.variant ? { variant: contender.variant } : {}),
        ...(transport ? { transport } : { store }),
        scenario: m.name,
        value,
        unit: m.unit,
      };
      process.stdout.write(`${JSON.stringify(line)}\n`);
      if (!medians.has(name)) medians.set(name, new Map());
      medians.get(name)!.set(m.name, value);
      if (!allSamples.has(name)) allSamples.set(name, new Map());
      allSamples.get(name)!.set(m.name, values);
    }
    for (const [key, values] of details.get(name)!) {
      if (!detailMedians.has(name)) detailMedians.set(name, new Map());
      detailMedians.get(name)!.set(key, median(values));
    }
  }
}
if (keep) progress(`kept the run directories under ${root}`);
else rmSync(root, { recursive: true, force: true });
for (const schema of liveSchemas) {
  await dropSchema(databaseUrl, schema).then(
    () => liveSchemas.delete(schema),
    (error: unknown) => progress(`schema ${schema} is left behind: ${(error as Error).message}`),
  );
}
for (const queue of liveQueues) progress(`queue ${queue} is left behind on ${brokerUrl}`);
emulator?.stop();
await kafkaCluster?.stop();
if (transport) printMessageSummary(transport);
else if (store === 'postgres') printSummary();
progress(
  `finished in ${((performance.now() - started) / 1000).toFixed(0)} s${failures > 0 ? `; ${failures} run(s) FAILED` : ''}; load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
process.exitCode = failures > 0 ? 1 : 0;

/** The side-by-side table on stderr: every figure of every contender, Hostwork against graphile-worker, the targets. */
function printSummary(): void {
  const names = [...medians.keys()];
  const figures = selected.flatMap((s) => s.metrics);
  // Hostwork (its defaults) against each graphile-worker configuration measured: the documented one first.
  const anchors = names.filter((n) => n.startsWith('graphile-worker'));
  const header = ['scenario', ...names, ...anchors.map((a) => `hostwork vs ${a}`), 'target', 'met?'];
  const rows: string[][] = [];
  for (const m of figures) {
    const hw = medians.get('hostwork')?.get(m.name);
    const gw = medians.get('graphile-worker')?.get(m.name);
    const ratios = anchors.map((a) => {
      const other = medians.get(a)?.get(m.name);
      if (hw === undefined || other === undefined || hw <= 0 || other <= 0) return '–';
      // Throughput: Hostwork's over graphile-worker's; times: how many times shorter Hostwork's is; memory: Hostwork's
      // over graphile-worker's (below 1: Hostwork holds less).
      if (m.unit === 'ms') return `${(other / hw).toFixed(2)}× shorter`;
      if (m.unit === 'MB') return `${(hw / other).toFixed(2)}× the memory`;
      return `${(hw / other).toFixed(2)}×`;
    });
    const target = POSTGRES_TARGETS[m.name];
    let targetText = '–';
    let met = '–';
    if (target?.atLeastTimesGraphile !== undefined) {
      targetText = `≥ ${target.atLeastTimesGraphile}× graphile-worker`;
      if (hw !== undefined && gw !== undefined) met = hw >= target.atLeastTimesGraphile * gw ? 'yes' : 'NO';
    } else if (target?.atMostMs !== undefined) {
      targetText = `≤ ${target.atMostMs} ms`;
      if (hw !== undefined) met = hw <= target.atMostMs ? 'yes' : 'NO';
    }
    rows.push([
      m.name,
      ...names.map((n) => {
        const v = medians.get(n)?.get(m.name);
        return v === undefined ? '–' : format(v, m.unit);
      }),
      ...ratios,
      targetText,
      met,
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ');
  progress('PostgreSQL, medians side by side:');
  process.stderr.write(`${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('-|-')}\n`);
  for (const r of rows) process.stderr.write(`${line(r)}\n`);
  const cpuKeys = [...new Set([...detailMedians.values()].flatMap((d) => [...d.keys()]))]
    .filter((k) => k.endsWith('-cpu-client-pct'))
    .map((k) => k.slice(0, -'-cpu-client-pct'.length));
  if (cpuKeys.length > 0) {
    progress(
      'CPU during the timed section (medians; % of one core; this machine has 2): worker/client process + PostgreSQL server',
    );
    for (const key of cpuKeys) {
      const parts = names.map((n) => {
        const d = detailMedians.get(n);
        const client = d?.get(`${key}-cpu-client-pct`);
        const server = d?.get(`${key}-cpu-server-pct`);
        return client === undefined ? `${n} –` : `${n} ${client.toFixed(0)} % + ${server!.toFixed(0)} %`;
      });
      process.stderr.write(`  ${key}: ${parts.join('; ')}\n`);
    }
  }
}

/** Pre-publishes the run's messages to its fresh queue in a separate process (none but the queue for the others). */
async function seedQueue(ctx: MessageRunContext, measurement: Measurement): Promise<void> {
  const count = measurement.name.startsWith('consume-') ? MESSAGE_SIZES[ctx.transport].consume : 0;
  const code = await spawnRole('seed', ctx, [String(count)]).exited;
  if (code !== 0) throw new Error(`The seed process exited with code ${code}.`);
}

/**
 * Starts the SQS emulator or the Azure Service Bus stand-in (bench/brokers.ts) in a process of its own; resolves once
 * it listens on 127.0.0.1, with its endpoint (the stand-in's: a connection string).
 */
async function startEmulator(
  transport: 'sqs' | 'azure-service-bus',
): Promise<{ endpoint: string; stop(): void }> {
  const { child, exited } = spawnRole(
    transport === 'sqs' ? 'emulator' : 'standin',
    { system: MESSAGE_SYSTEMS[transport][1], transport, dir: '', brokerUrl: '', queue: '' },
    [],
    true,
  );
  const endpoint = await Promise.race([
    new Promise<string>((resolve) => child.once('message', (m: { endpoint: string }) => resolve(m.endpoint))),
    exited.then((code) => {
      throw new Error(`The ${transport} emulator exited with code ${code} before listening.`);
    }),
  ]);
  child.disconnect();
  return { endpoint, stop: () => child.kill('SIGTERM') };
}

/**
 * The side-by-side table of a transport on stderr: each system's median and range, Hostwork ÷ the plain loop for
 * rates, Hostwork − the plain loop for latencies (the latency Hostwork adds), and the targets.
 */
function printMessageSummary(transport: TransportKind): void {
  const plain = MESSAGE_SYSTEMS[transport][1];
  const names = [...medians.keys()];
  const header = ['scenario', ...names, `hostwork vs ${plain}`, 'target', 'met?'];
  const rows: string[][] = [];
  for (const m of selected.flatMap((s) => s.metrics)) {
    const hw = medians.get('hostwork')?.get(m.name);
    const other = medians.get(plain)?.get(m.name);
    let versus = '–';
    if (hw !== undefined && other !== undefined && other > 0)
      versus =
        m.unit === 'ms'
          ? `${hw - other >= 0 ? '+' : ''}${(hw - other).toFixed(2)} ms`
          : `${(hw / other).toFixed(2)}×`;
    const target = MESSAGE_TARGETS[m.name];
    let targetText = '–';
    let met = '–';
    if (target?.atLeastTimesPlain !== undefined) {
      targetText = `≥ ${target.atLeastTimesPlain}× ${plain}`;
      if (hw !== undefined && other !== undefined)
        met = hw >= target.atLeastTimesPlain * other ? 'yes' : 'NO';
    } else if (target?.addedAtMostMs !== undefined) {
      targetText = `added < ${target.addedAtMostMs} ms`;
      if (hw !== undefined && other !== undefined) met = hw - other < target.addedAtMostMs ? 'yes' : 'NO';
    }
    rows.push([
      m.name,
      ...names.map((n) => {
        const v = medians.get(n)?.get(m.name);
        const all = allSamples.get(n)?.get(m.name) ?? [];
        if (v === undefined) return '–';
        const range =
          all.length > 1
            ? ` (${format(Math.min(...all), m.unit).split(' ')[0]} – ${format(Math.max(...all), m.unit).split(' ')[0]})`
            : '';
        return `${format(v, m.unit)}${range}`;
      }),
      versus,
      targetText,
      met,
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ');
  progress(`${transport}, medians side by side (the runs' range in brackets):`);
  process.stderr.write(`${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('-|-')}\n`);
  for (const r of rows) process.stderr.write(`${line(r)}\n`);
  // The consume runs' timed section in its two parts, where both systems report them (medians, ms).
  const split = (n: string, name: string) => {
    const d = detailMedians.get(n);
    const start = d?.get(`${name}-start-ms`);
    const past = d?.get(`${name}-past-start-ms`);
    return start === undefined || past === undefined ? undefined : { start, past };
  };
  for (const m of selected.flatMap((s) => s.metrics).filter((x) => x.name.startsWith('consume-'))) {
    const hw = split('hostwork', m.name);
    const other = split(plain, m.name);
    if (!hw || !other) continue;
    process.stderr.write(
      `  ${m.name}: start (connect, join) ${hw.start.toFixed(0)} ms vs ${other.start.toFixed(0)} ms; past the start ${hw.past.toFixed(0)} ms vs ${other.past.toFixed(0)} ms (hostwork vs ${plain}, medians)\n`,
    );
  }
}
