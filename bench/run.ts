/**
 * The benchmark runner: `npm run bench -- [--store sqlite] [--scenario a,b] [--runs 3] [--all]`.
 *
 * Every run of every scenario is a fresh child process (bench/child.ts) on a fresh store in its own temporary
 * directory, so memory, JIT state and data never leak between runs. Each figure is the median of the runs.
 *
 * stdout carries exactly one JSON line per result:
 *   {"system":"hostwork","store":"sqlite","scenario":"drain-c10","value":12345,"unit":"jobs/s"}
 * Progress and everything the children print go to stderr. Exit code 1 if any run failed or the options are wrong.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ChildMessage, Measurement, Metric, StoreKind } from './common.ts';
import { MEASUREMENTS, median, progress, roundFor, STORES } from './common.ts';

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

const USAGE = `Usage: npm run bench -- [options]

  --store <sqlite|postgres>  the job store to measure (default: sqlite)
  --scenario <names>         only these scenarios, comma-separated (default: every default scenario)
  --runs <n>                 runs per scenario, each in a fresh process; the median is reported (default: 3)
  --all                      the default scenarios plus the slow ones (memory-flat)
  --keep                     keep the temporary directories (their path is printed)
  --help                     this text

Scenarios: ${MEASUREMENTS.flatMap((m) => m.metrics.map((x) => x.name)).join(', ')}
Measured together, in one process (a group name selects all of its figures):
  ${MEASUREMENTS.filter((m) => m.metrics.length > 1)
    .map((m) => {
      const names = m.metrics.map((x) => x.name);
      return `${names.join(' + ')}${names.includes(m.name) ? '' : ` (group: ${m.name})`}`;
    })
    .join('\n  ')}
Not in the default suite (name them or use --all): ${MEASUREMENTS.filter((m) => !m.inDefaultSuite)
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

function parseOptions(): { store: StoreKind; runs: number; selected: Selected[]; keep: boolean } {
  let values: ReturnType<typeof parse>['values'];
  function parse() {
    return parseArgs({
      options: {
        store: { type: 'string', default: 'sqlite' },
        scenario: { type: 'string', multiple: true },
        runs: { type: 'string', default: '3' },
        all: { type: 'boolean', default: false },
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
  const store = values.store as StoreKind;
  if (!STORES.includes(store)) fail(`Unknown store '${values.store}'.`);
  if (store === 'postgres') {
    process.stderr.write(
      'The benchmark harness does not support --store postgres yet (a later issue adds it). Use --store sqlite.\n',
    );
    process.exit(1);
  }
  const runs = Number(values.runs);
  if (!(Number.isInteger(runs) && runs >= 1)) fail(`--runs must be an integer >= 1, got '${values.runs}'.`);

  const names = (values.scenario ?? []).flatMap((s) => s.split(',')).map((s) => s.trim());
  const selected: Selected[] = [];
  if (names.length === 0) {
    for (const m of MEASUREMENTS)
      if (m.inDefaultSuite || values.all) selected.push({ measurement: m, metrics: m.metrics });
  } else {
    const wanted = new Map<Measurement, Set<Metric>>();
    for (const name of names.filter((n) => n !== '')) {
      // A figure's own name selects that figure; a group's name (latency, latency-xproc, memory-flat) all of its.
      const owner = MEASUREMENTS.find((m) => m.metrics.some((x) => x.name === name));
      const group = owner ? undefined : MEASUREMENTS.find((m) => m.name === name);
      if (!group && !owner) fail(`Unknown scenario '${name}'.`);
      const measurement = (owner ?? group)!;
      const set = wanted.get(measurement) ?? new Set();
      for (const metric of measurement.metrics) if (group || metric.name === name) set.add(metric);
      wanted.set(measurement, set);
    }
    // In catalogue order, whatever the order of the names.
    for (const m of MEASUREMENTS) {
      const set = wanted.get(m);
      if (set) selected.push({ measurement: m, metrics: m.metrics.filter((x) => set.has(x)) });
    }
  }
  return { store, runs, selected, keep: values.keep };
}

/** Runs one measurement in a fresh child process; resolves to its figures by metric name. */
function runChild(measurement: Measurement, store: StoreKind, dir: string): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    const figures = new Map<string, number>();
    let done = false;
    // The child's stdout (host logs) joins our stderr: our stdout carries result lines only.
    const child = spawn(process.execPath, ['--expose-gc', CHILD, 'run', measurement.name, store, dir], {
      stdio: ['ignore', 2, 2, 'ipc'],
    });
    const timer = setTimeout(() => {
      progress(`${measurement.name}: no result after ${measurement.timeoutMs / 1000} s; killing it`);
      child.kill('SIGKILL');
    }, measurement.timeoutMs);
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'result') figures.set(message.metric, message.value);
      else if (message.type === 'done') done = true;
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0 && done) resolve(figures);
      else reject(new Error(`the child process ended with ${signal ?? `code ${code}`} before finishing`));
    });
  });
}

function machine(): string {
  const db = new DatabaseSync(':memory:');
  const sqlite = db.prepare('select sqlite_version() as v').get()?.v;
  db.close();
  return `node ${process.version}, SQLite ${sqlite}, ${availableParallelism()} CPU(s) (${cpus()[0]?.model ?? 'unknown'})`;
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

const { store, runs, selected, keep } = parseOptions();
progress(`${machine()}; store ${store}; ${runs} run(s) per scenario, median reported`);
warnIfBusy('before the first run');
const root = mkdtempSync(join(tmpdir(), 'hostwork-bench-'));
process.once('SIGINT', () => {
  // The terminal interrupts the children too; leave no temporary files behind.
  rmSync(root, { recursive: true, force: true });
  process.exit(130);
});
let failures = 0;
const started = performance.now();
for (const { measurement, metrics } of selected) {
  const samples = new Map<string, number[]>(metrics.map((m) => [m.name, []]));
  for (let run = 1; run <= runs; run++) {
    const dir = mkdtempSync(join(root, `${measurement.name}-${run}-`));
    const t0 = performance.now();
    try {
      const figures = await runChild(measurement, store, dir);
      for (const m of metrics) {
        const value = figures.get(m.name);
        if (value === undefined || !Number.isFinite(value)) throw new Error(`no figure for ${m.name}`);
        samples.get(m.name)!.push(value);
      }
      const shown = metrics.map((m) => `${m.name} ${format(figures.get(m.name)!, m.unit)}`).join(', ');
      progress(
        `${measurement.name} run ${run}/${runs}: ${shown} (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
      );
    } catch (error) {
      failures++;
      progress(`${measurement.name} run ${run}/${runs} FAILED: ${(error as Error).message}`);
    } finally {
      if (!keep) rmSync(dir, { recursive: true, force: true });
    }
  }
  for (const m of metrics) {
    const values = samples.get(m.name)!;
    if (values.length === 0) continue;
    const line = {
      system: 'hostwork',
      store,
      scenario: m.name,
      value: roundFor(m.unit, median(values)),
      unit: m.unit,
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
}
if (keep) progress(`kept the run directories under ${root}`);
else rmSync(root, { recursive: true, force: true });
progress(
  `finished in ${((performance.now() - started) / 1000).toFixed(0)} s${failures > 0 ? `; ${failures} run(s) FAILED` : ''}`,
);
process.exitCode = failures > 0 ? 1 : 0;
