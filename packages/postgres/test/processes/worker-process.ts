/**
 * Real worker processes for the multi-process and fault tests: each runs fixtures/worker.ts (a host with addJobs and
 * postgresStore) with `process.execPath`, and its stdout is read as JSON lines: pino's log lines (`msg`, `level`) and
 * the fixture's own handler events (`event`), both with `pid` and `time`.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DATABASE_URL } from '../support/database.ts';

/** One JSON line of a worker's stdout. */
export interface Line {
  readonly pid: number;
  readonly time: number;
  /** pino: 30 info, 40 warn, 50 error. */
  readonly level?: number;
  readonly msg?: string;
  readonly event?: string;
  readonly id?: string;
  readonly attempt?: number;
  readonly [key: string]: unknown;
}

const WARN = 40;

/** A worker process started from fixtures/worker.ts. */
export class WorkerProcess {
  readonly child: ChildProcess;
  readonly lines: Line[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #partial = '';

  constructor(env: Record<string, string>) {
    const childEnv: Record<string, string | undefined> = {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL,
      ...env,
    };
    // The test runner's variables would make the child report to it as a test file.
    delete childEnv.NODE_TEST_CONTEXT;
    // Nothing else the runner put there, but the condition that resolves Hostwork's packages to their sources.
    childEnv.NODE_OPTIONS = '--conditions=hostwork-source';
    this.child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'worker.ts')], {
      env: childEnv,
      cwd: join(import.meta.dirname, 'fixtures'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (this.#partial + chunk).split('\n');
      this.#partial = parts.pop() ?? '';
      for (const part of parts) {
        if (!part.trim()) continue;
        try {
          this.lines.push(JSON.parse(part) as Line);
        } catch {
          this.stderr += `(stdout, not JSON) ${part}\n`;
        }
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    running.add(this);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Log lines whose message contains `fragment`. */
  logs(fragment: string): Line[] {
    return this.lines.filter((l) => typeof l.msg === 'string' && l.msg.includes(fragment));
  }

  /** The fixture's handler events named `event`. */
  events(event: string): Line[] {
    return this.lines.filter((l) => l.event === event);
  }

  /** Log lines at warn level or above. */
  problems(): Line[] {
    return this.lines.filter((l) => (l.level ?? 0) >= WARN);
  }

  /** Its last lines and stderr, for failure messages. */
  describe(last = 40): string {
    const tail = this.lines.slice(-last).map((l) => JSON.stringify(l));
    return `--- worker ${this.pid} (${this.lines.length} lines, last ${tail.length}):\n${tail.join('\n')}\n--- stderr:\n${this.stderr}`;
  }

  /** Sends SIGKILL if it still runs. */
  kill(): void {
    if (this.alive) this.child.kill('SIGKILL');
  }

  /** Asks for a graceful stop (SIGTERM) and returns how it exited; SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.alive) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.kill(), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
      running.delete(this);
    }
  }
}

const running = new Set<WorkerProcess>();

/** Kills whatever a test left running (a failed assertion skips its graceful stops). */
export function killWorkersAfterEach(): void {
  afterEach(async () => {
    const left = [...running];
    running.clear();
    for (const w of left) w.kill();
    await Promise.all(left.map((w) => w.exited));
  });
}

/** Starts `count` workers on `schema` and waits until each has started its job worker. */
export async function startWorkers(
  count: number,
  schema: string,
  env: Record<string, string> = {},
): Promise<WorkerProcess[]> {
  const workers = Array.from({ length: count }, () => new WorkerProcess({ HW_SCHEMA: schema, ...env }));
  await waitUntil(
    () => workers.every((w) => w.events('host-started').length === 1),
    () => `${count} workers to start\n${describeAll(workers)}`,
    30_000,
  );
  return workers;
}

/** Every worker's tail, for failure messages. */
export function describeAll(workers: readonly WorkerProcess[]): string {
  return workers.map((w) => w.describe()).join('\n');
}

/** Polls `condition` every `intervalMs` until it is truthy; fails with `what` (described late) after `timeoutMs`. */
export async function waitUntil<V>(
  condition: () => V | Promise<V>,
  what: string | (() => string | Promise<string>),
  timeoutMs: number,
  intervalMs = 20,
): Promise<NonNullable<V>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as NonNullable<V>;
    if (performance.now() > deadline) {
      assert.fail(
        `timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : await what()}`,
      );
    }
    await sleep(intervalMs);
  }
}

/** The side tables the fixture writes to, in the store's schema (which must exist). */
export function sideTablesSql(schema: string): string {
  return `
    CREATE TABLE "${schema}".runs (
      job_id bigint NOT NULL,
      attempt integer NOT NULL,
      pid integer NOT NULL,
      at timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    CREATE TABLE "${schema}".release (flag integer);`;
}
