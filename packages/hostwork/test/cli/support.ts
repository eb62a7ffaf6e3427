/**
 * What the tests of the `hostwork` command share: running the real binary as a child process (the source entry,
 * through node with the hostwork-source condition, as the repository runs its sources), the stores it is tested
 * against (a temporary SQLite file, a fresh PostgreSQL schema), and real hosts with workers on those stores.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createHostBuilder, type Host } from '../../src/hosting/index.ts';
import { addJobs, type JobsSetup } from '../../src/jobs/add-jobs.ts';
import { JobClient } from '../../src/jobs/job-client.ts';
import type { JobStore } from '../../src/jobs/job-store.ts';
import { sqliteStore } from '../../src/stores/sqlite/sqlite-store.ts';

/** The command's source entry. */
export const BIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** What one run of the command did. */
export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** Options of {@link hostwork}. */
export interface RunOptions {
  readonly cwd?: string;
  /** Added to a clean environment (no DATABASE_URL, HOSTWORK_ENVIRONMENT, NODE_ENV or JOBS__* of the test run). */
  readonly env?: Record<string, string>;
  /** Written to stdin (which is a pipe, never a terminal). */
  readonly input?: string;
  /** Options of node itself, before the entry. */
  readonly nodeArgs?: readonly string[];
}

/** Runs `hostwork ...args`; resolves with its exit code and output (never rejects on a non-zero exit). */
export function hostwork(args: readonly string[], options: RunOptions = {}): Promise<CliRun> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (
      value === undefined ||
      /^(DATABASE_URL|HOSTWORK_ENVIRONMENT|NODE_ENV|NODE_OPTIONS|NODE_TEST_CONTEXT)$/.test(key)
    )
      continue;
    if (key.toUpperCase().startsWith('JOBS__')) continue;
    env[key] = value;
  }
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['--conditions=hostwork-source', ...(options.nodeArgs ?? []), BIN, ...args],
      { cwd: options.cwd ?? tmpdir(), env: { ...env, ...options.env }, encoding: 'utf8', timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, out: stdout, err: stderr });
      },
    );
    child.stdin?.end(options.input ?? '');
  });
}

/** Asserts the exit code, showing the output when it differs. */
export function assertExit(run: CliRun, code: number, what = 'hostwork'): void {
  assert.equal(
    run.code,
    code,
    `${what} exited ${run.code}, expected ${code}\nstdout:\n${run.out}\nstderr:\n${run.err}`,
  );
}

/** Runs the command with `--json`, expects exit 0 and returns the parsed document. */
export async function hostworkJson<T = Record<string, unknown>>(
  args: readonly string[],
  options: RunOptions = {},
): Promise<T> {
  const run = await hostwork([...args, '--json'], options);
  assertExit(run, 0, `hostwork ${args.join(' ')} --json`);
  assert.equal(run.err, '', 'nothing on stderr with --json');
  return JSON.parse(run.out) as T;
}

const folders: string[] = [];

/** A fresh temporary folder, removed when the test file ends. */
export function tempFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'hostwork-cli-'));
  folders.push(folder);
  return folder;
}

after(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

/** A store the command is tested against: how the command reaches it, and how a host opens it. */
export interface CliTarget {
  readonly kind: 'sqlite' | 'postgres';
  /** The arguments that select this store. */
  readonly args: readonly string[];
  /** A store on the same database for a host (or a test) to use. */
  openStore(): JobStore;
}

/** A new SQLite file (not created yet) in a temporary folder. */
export function sqliteTarget(): CliTarget & { readonly path: string } {
  const path = join(tempFolder(), 'jobs.db');
  return { kind: 'sqlite', path, args: ['--sqlite', path], openStore: () => sqliteStore({ path }) };
}

/** Worker timings small enough for tests. */
const FAST = { leaseMs: 4_000, heartbeatMs: 200, pollIntervalMs: 50, maintenanceIntervalMs: 100 };

const hosts = new Set<Host>();

/** Starts a real host with `addJobs` and a worker on the target's store; stopped at the end of the file at the latest. */
export async function startHost(
  target: CliTarget,
  setup: Omit<JobsSetup, 'store' | 'worker'> & { readonly queues?: readonly string[] },
): Promise<{ host: Host; client: JobClient }> {
  const builder = createHostBuilder({
    env: {},
    args: [],
    contentRoot: import.meta.dirname,
    logging: { level: 'silent', pretty: false },
    host: { shutdownTimeout: 5_000 },
  });
  const { queues = ['default'], ...jobs } = setup;
  addJobs(builder, {
    ...jobs,
    store: target.openStore(),
    worker: { ...FAST, queues: Object.fromEntries(queues.map((q) => [q, { concurrency: 2 }])) },
  });
  const host = builder.build();
  hosts.add(host);
  await host.start();
  return { host, client: host.services.get(JobClient) };
}

after(async () => {
  await Promise.all([...hosts].map((h) => h.stop()));
});

/** Polls `condition` every 20 ms until it is truthy; fails naming `what` after `timeoutMs`. */
export async function waitFor<V>(
  condition: () => V | Promise<V>,
  what: string,
  timeoutMs = 15_000,
): Promise<NonNullable<V>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as NonNullable<V>;
    if (performance.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}
