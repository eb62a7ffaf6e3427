/**
 * Shared pieces of the store conformance suite: the factory a store provides, a per-test store tracker that
 * destroys everything it created, and small helpers to build jobs and drive a store with explicit times.
 */
import assert from 'node:assert/strict';
import { afterEach } from 'node:test';
import type { ClaimedJob, JobId, JobInfo, JobState, NewJob } from '../../src/jobs/job-record.ts';
import type { JobStore } from '../../src/jobs/job-store.ts';

/** How the suite gets stores of one kind. */
export interface StoreFactory {
  /** A fresh, empty store, migrated or not (the suite calls `migrate()`). */
  create(): Promise<JobStore>;
  /** A second independent store instance (another connection, as if another process) on the same data as `of`. */
  createPeer(of: JobStore): Promise<JobStore>;
  /** Closes `store` and removes what `create` made for it. Peers are destroyed before the store they share. */
  destroy(store: JobStore): Promise<void>;
}

/** The suite's clock: every `now` is derived from this, far from the real time so a store must use `now`. */
export const T0 = Date.UTC(2040, 0, 1);

/** A long lease, for tests where leases must not expire. */
export const LONG_LEASE = 60 * 60_000;

/** An id no store hands out in a small test. */
export const UNKNOWN_ID: JobId = '987654321';

/** A valid job; every field can be overridden. */
export function newJob(overrides: Partial<NewJob> = {}): NewJob {
  return {
    name: 'test.job',
    queue: 'default',
    payload: '{}',
    priority: 0,
    runAt: T0,
    maxAttempts: 3,
    timeoutMs: 0,
    uniqueKey: null,
    backoff: null,
    ...overrides,
  };
}

/** `count` valid jobs whose payload is `{"i":n}`; `overrides` apply to each. */
export function newJobs(count: number, overrides: Partial<NewJob> = {}): NewJob[] {
  return Array.from({ length: count }, (_, i) => newJob({ payload: JSON.stringify({ i }), ...overrides }));
}

/** Creates stores for the tests of the enclosing `describe` and destroys them all after each test. */
export interface Stores {
  /** A fresh store, migrated. */
  fresh(): Promise<JobStore>;
  /** A fresh store, not migrated. */
  unmigrated(): Promise<JobStore>;
  /** A peer of `of`, migrated unless `migrate` is false. */
  peer(of: JobStore, migrate?: boolean): Promise<JobStore>;
}

/** Registers an `afterEach` in the enclosing `describe` that destroys every store the tests created. */
export function useStores(factory: StoreFactory): Stores {
  let created: JobStore[] = [];
  afterEach(async () => {
    const stores = created.reverse();
    created = [];
    const errors: unknown[] = [];
    for (const store of stores) {
      try {
        await factory.destroy(store);
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'destroying stores failed');
  });
  const unmigrated = async (): Promise<JobStore> => {
    const store = await factory.create();
    created.push(store);
    return store;
  };
  return {
    unmigrated,
    async fresh() {
      const store = await unmigrated();
      await store.migrate();
      return store;
    },
    async peer(of, migrate = true) {
      const store = await factory.createPeer(of);
      created.push(store);
      if (migrate) await store.migrate();
      return store;
    },
  };
}

/** Inserts one job and returns its id (asserting it was inserted). */
export async function insertOne(store: JobStore, overrides: Partial<NewJob> = {}): Promise<JobId> {
  const [result] = await store.insert([newJob(overrides)]);
  assert.ok(result, 'insert returned no result');
  assert.equal(result.outcome, 'inserted');
  return result.id;
}

/** Inserts jobs and returns their ids (asserting each was inserted). */
export async function insertMany(store: JobStore, jobs: readonly NewJob[]): Promise<JobId[]> {
  const results = await store.insert(jobs);
  assert.equal(results.length, jobs.length);
  for (const r of results) assert.equal(r.outcome, 'inserted');
  return results.map((r) => r.id);
}

export interface ClaimOptions {
  readonly queue?: string;
  readonly owner?: string;
  readonly leaseMs?: number;
  readonly now?: number;
}

/** Claims exactly one job (asserting one was due) and returns it. */
export async function claimOne(store: JobStore, options: ClaimOptions = {}): Promise<ClaimedJob> {
  const result = await store.claim({
    queue: options.queue ?? 'default',
    limit: 1,
    owner: options.owner ?? 'w1',
    leaseMs: options.leaseMs ?? LONG_LEASE,
    now: options.now ?? T0,
  });
  assert.equal(result.jobs.length, 1, 'expected one job to be claimed');
  return result.jobs[0]!;
}

/** Claims up to `limit` jobs and returns their ids. */
export async function claimIds(store: JobStore, limit: number, options: ClaimOptions = {}): Promise<JobId[]> {
  const result = await store.claim({
    queue: options.queue ?? 'default',
    limit,
    owner: options.owner ?? 'w1',
    leaseMs: options.leaseMs ?? LONG_LEASE,
    now: options.now ?? T0,
  });
  return result.jobs.map((j) => j.id);
}

/** The job, asserting it exists. */
export async function mustGet(store: JobStore, id: JobId): Promise<JobInfo> {
  const info = await store.get(id);
  assert.ok(info, `job ${id} not found`);
  return info;
}

/** The job's state, asserting it exists. */
export async function stateOf(store: JobStore, id: JobId): Promise<JobState> {
  return (await mustGet(store, id)).state;
}

/** Non-zero counts as `queue/state → count`, for order-independent comparison. */
export async function countMap(store: JobStore): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const c of await store.counts()) {
    if (c.count === 0) continue;
    const key = `${c.queue}/${c.state}`;
    assert.equal(out[key], undefined, `counts() has two rows for ${key}`);
    out[key] = c.count;
  }
  return out;
}

/** Total number of jobs in the store (all queues and states). */
export async function totalJobs(store: JobStore): Promise<number> {
  let total = 0;
  for (const c of await store.counts()) total += c.count;
  return total;
}

/** A promise settled by calling `resolve` (e.g. from a listener); it rejects after `timeoutMs`. */
export function waitFor(what: string, timeoutMs: number): { promise: Promise<void>; resolve: () => void } {
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const timer = setTimeout(
    () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
    timeoutMs,
  );
  const settled = promise.finally(() => clearTimeout(timer));
  settled.catch(() => {}); // a timeout before anyone awaits is reported where it is awaited, not as unhandled
  return { promise: settled, resolve };
}
