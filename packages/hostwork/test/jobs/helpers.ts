/**
 * Shared pieces of the job engine tests: real hosts with `addJobs` on a real SQLite file in a temporary folder,
 * captured logs, recorded events, and waits on conditions (never fixed sleeps for correctness).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHostBuilder, type Host, type HostBuilder } from '../../src/hosting/index.ts';
import { addJobs, type JobsSetup } from '../../src/jobs/add-jobs.ts';
import { JobClient } from '../../src/jobs/job-client.ts';
import { type JobEventMap, type JobEventName, JobEvents } from '../../src/jobs/job-events.ts';
import type { JobId, JobInfo, JobState, NewJob } from '../../src/jobs/job-record.ts';
import type { JobStore } from '../../src/jobs/job-store.ts';
import type { WorkerOptions } from '../../src/jobs/worker-options.ts';
import { sqliteStore } from '../../src/stores/sqlite/sqlite-store.ts';

/** Per-test timeout: generous, the machine may be loaded. */
export const T = { timeout: 20_000 };

/** Worker timings small enough for tests; leases long enough that a loaded machine never loses one by accident. */
export const FAST: Partial<WorkerOptions> = {
  leaseMs: 4_000,
  heartbeatMs: 200,
  pollIntervalMs: 50,
  maintenanceIntervalMs: 100,
  abortGraceMs: 2_000,
};

// ---------------------------------------------------------------------------------------------------------------
// Temporary database files

const folders: string[] = [];

/** A fresh database path in a temporary folder that is removed when the test file ends. */
export function tempDb(): string {
  const folder = mkdtempSync(join(tmpdir(), 'hostwork-jobs-'));
  folders.push(folder);
  return join(folder, 'jobs.db');
}

after(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------------------------
// Logs

/** One parsed pino line. */
export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly category?: string;
  readonly [key: string]: unknown;
}

/** A Writable that keeps every JSON line pino writes into it, parsed. */
export class LogCapture extends Writable {
  readonly lines: LogLine[] = [];
  #partial = '';

  constructor() {
    super({ decodeStrings: false });
  }

  override _write(
    chunk: string | Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ) {
    const parts = (this.#partial + chunk.toString()).split('\n');
    this.#partial = parts.pop() ?? '';
    for (const part of parts) if (part.trim()) this.lines.push(JSON.parse(part) as LogLine);
    callback();
  }

  find(fragment: string): LogLine | undefined {
    return this.lines.find((l) => l.msg.includes(fragment));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Hosts

/** What {@link jobHost} takes. */
export interface JobHostSettings extends Omit<JobsSetup, 'store' | 'worker'> {
  /** The database file; a fresh one by default. */
  readonly path?: string;
  /** Merged over {@link FAST}; `false` for a client-only host. */
  readonly worker?: Partial<WorkerOptions> | false;
  /** The host's shutdown budget. Default: 5,000 ms. */
  readonly shutdownTimeout?: number;
  /** Extra registrations before the host is built. */
  readonly configure?: (builder: HostBuilder) => void;
  /** Wraps the SQLite store (e.g. to inject failures). */
  readonly wrapStore?: (store: JobStore) => JobStore;
}

/** A built (not started) host with the job services at hand. */
export interface JobHost {
  readonly host: Host;
  readonly client: JobClient;
  readonly events: JobEvents;
  readonly logs: LogCapture;
  readonly path: string;
}

const hosts = new Set<Host>();

/** Builds a real host with `addJobs` on a SQLite file; stopped at the end of the test file at the latest. */
export function jobHost(settings: JobHostSettings): JobHost {
  const logs = new LogCapture();
  const path = settings.path ?? tempDb();
  const builder = createHostBuilder({
    env: {},
    args: [],
    contentRoot: import.meta.dirname,
    logging: { destination: logs, level: 'debug', pretty: false },
    host: { shutdownTimeout: settings.shutdownTimeout ?? 5_000 },
  });
  addJobs(builder, {
    jobs: settings.jobs,
    ...(settings.schedules ? { schedules: settings.schedules } : {}),
    store: settings.wrapStore ? settings.wrapStore(sqliteStore({ path })) : sqliteStore({ path }),
    worker: settings.worker === false ? false : { ...FAST, ...settings.worker },
  });
  settings.configure?.(builder);
  const host = builder.build();
  hosts.add(host);
  return { host, client: host.services.get(JobClient), events: host.services.get(JobEvents), logs, path };
}

/** Runs `test` with started hosts and always stops them, so the process can exit whatever happens. */
export async function withHosts<T>(
  settings: readonly JobHostSettings[],
  test: (hosts: JobHost[]) => Promise<T>,
): Promise<T> {
  const built: JobHost[] = [];
  try {
    for (const s of settings) {
      const h = jobHost(s);
      built.push(h);
      await h.host.start();
    }
    return await test(built);
  } finally {
    await Promise.all(built.map((h) => h.host.stop()));
  }
}

/** Runs `test` with one started host and stops it afterwards. */
export function withHost<T>(settings: JobHostSettings, test: (h: JobHost) => Promise<T>): Promise<T> {
  return withHosts([settings], ([h]) => test(h!));
}

after(async () => {
  await Promise.all([...hosts].map((h) => h.stop()));
});

// ---------------------------------------------------------------------------------------------------------------
// Waiting

/** Polls `condition` (sync or async) every 10 ms until it is truthy; fails naming `what` after `timeoutMs`. */
export async function waitFor<V>(
  condition: () => V | Promise<V>,
  what: string | (() => string),
  timeoutMs = 10_000,
): Promise<NonNullable<V>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as NonNullable<V>;
    if (performance.now() > deadline) {
      assert.fail(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    }
    await sleep(10);
  }
}

/** Waits until the job is in `state`, and returns it. */
export async function waitForState(
  client: JobClient,
  id: JobId,
  state: JobState,
  timeoutMs = 10_000,
): Promise<JobInfo> {
  let last: JobInfo | undefined;
  return waitFor(
    async () => {
      last = await client.get(id);
      return last?.state === state ? last : undefined;
    },
    () => `job ${id} to be ${state} (it is ${last?.state}: ${JSON.stringify(last)})`,
    timeoutMs,
  );
}

/** Resolves when `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Events

/** One recorded event with its name. */
export type Recorded = { [K in JobEventName]: { readonly event: K } & JobEventMap[K] }[JobEventName];

const ALL_EVENTS: readonly JobEventName[] = [
  'enqueued',
  'started',
  'progress',
  'completed',
  'failed',
  'dead',
  'cancelled',
  'snoozed',
  'cancel-requested',
];

/** Records every event of `events` in the order emitted. */
export function recordEvents(events: JobEvents): Recorded[] {
  const recorded: Recorded[] = [];
  for (const name of ALL_EVENTS) {
    events.on(name, (payload) => recorded.push({ event: name, ...payload } as Recorded));
  }
  return recorded;
}

// ---------------------------------------------------------------------------------------------------------------
// Errors and rows

export { expectRejection, expectThrow } from '../support/errors.ts';

/** The total number of stored jobs, from `counts()`. */
export async function totalJobs(client: JobClient): Promise<number> {
  return (await client.counts()).reduce((sum, c) => sum + c.count, 0);
}

/** A raw row to insert through `client.store.insert`, bypassing the client's checks. */
export function rawJob(overrides: Partial<NewJob> = {}): NewJob {
  return {
    name: 'raw',
    queue: 'default',
    payload: '{}',
    priority: 0,
    runAt: Date.now(),
    maxAttempts: 5,
    timeoutMs: 0,
    uniqueKey: null,
    backoff: null,
    ...overrides,
  };
}

/**
 * A store that behaves like `store` except for the methods in `overrides`, which receive the real method.
 * (A Proxy binding methods to the target: the SQLite store keeps its state in private fields.)
 */
export function overrideStore(
  store: JobStore,
  overrides: {
    [K in keyof JobStore]?: (
      real: JobStore[K],
      ...args: Parameters<Extract<JobStore[K], (...a: never[]) => unknown>>
    ) => unknown;
  },
): JobStore {
  return new Proxy(store, {
    get(target, key, _receiver) {
      const value = Reflect.get(target, key, target) as unknown;
      if (typeof value !== 'function') return value;
      const real = (value as (...args: unknown[]) => unknown).bind(target);
      const override = (overrides as Record<PropertyKey, ((...args: unknown[]) => unknown) | undefined>)[key];
      return override ? (...args: unknown[]) => override(real, ...args) : real;
    },
  });
}
