/** Data for the dashboard's tests: jobs in every state, with results, progress, errors and stacks; schedules; a worker. */
import type { JobId, JobStore, NewJob } from 'hostwork';

/** A payload whose text would run a script if the page ever put it in as HTML. */
export const HOSTILE_NOTE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';

/** What {@link seed} made, by role. */
export interface Seeded {
  readonly now: number;
  readonly completed: JobId[];
  readonly dead: JobId[];
  readonly running: JobId;
  readonly pending: JobId[];
  /** A pending job due in an hour (for run now). */
  readonly delayed: JobId;
  readonly cancelled: JobId;
  /** The job with {@link HOSTILE_NOTE} in its payload. */
  readonly hostile: JobId;
  /** Pending jobs of the queue no worker consumes. */
  readonly unserved: JobId[];
}

function job(overrides: Omit<Partial<NewJob>, 'payload'> & { payload: unknown }): NewJob {
  return {
    name: 'email.send',
    queue: 'emails',
    priority: 0,
    runAt: 0,
    maxAttempts: 3,
    timeoutMs: 0,
    uniqueKey: null,
    backoff: null,
    ...overrides,
    payload: JSON.stringify(overrides.payload),
  };
}

async function insert(store: JobStore, jobs: NewJob[]): Promise<JobId[]> {
  return (await store.insert(jobs)).map((r) => r.id);
}

/** Fills a migrated, empty store. */
export async function seed(store: JobStore, now = Date.now()): Promise<Seeded> {
  const due = now - 60_000;
  // Finished jobs first: claimed and settled at times spread over the last hour (the charts show them).
  const finishing = await insert(
    store,
    Array.from({ length: 6 }, (_, i) =>
      job({
        runAt: due,
        name: i < 4 ? 'email.send' : 'email.bounce',
        payload: { to: `user${i}@example.com`, customer: { id: i % 2 === 0 ? 42 : 7 } },
        maxAttempts: i < 4 ? 3 : 1,
      }),
    ),
  );
  const claimed = await store.claim({ queue: 'emails', limit: 6, owner: 'worker-a', leaseMs: 600_000, now });
  if (claimed.jobs.length !== 6) throw new Error(`seed: claimed ${claimed.jobs.length} of 6`);
  const completed = finishing.slice(0, 4);
  const dead = finishing.slice(4);
  for (const [i, id] of completed.entries()) {
    await store.progress(id, JSON.stringify({ sent: i + 1, of: 4 }));
    await store.settle(
      'worker-a',
      [{ id, kind: 'completed', result: JSON.stringify({ messageId: `m-${i}` }) }],
      now - (50 - i * 10) * 60_000,
    );
  }
  for (const [i, id] of dead.entries()) {
    const error = new Error(`SMTP 550: mailbox unavailable (${i})`);
    await store.settle(
      'worker-a',
      [
        {
          id,
          kind: 'dead',
          error: {
            attempt: 1,
            at: now - 5 * 60_000,
            message: error.message,
            stack: error.stack,
            kind: 'error',
          },
        },
      ],
      now - (5 - i) * 60_000,
    );
  }
  const [running] = await insert(store, [job({ runAt: due, payload: { to: 'run@example.com' } })]);
  await store.claim({ queue: 'emails', limit: 1, owner: 'worker-a', leaseMs: 600_000, now });
  await store.progress(running!, JSON.stringify({ percent: 40 }));
  const pending = await insert(store, [
    job({ runAt: due, payload: { to: 'a@example.com', customer: { id: 42, tier: 'gold' } } }),
    job({ runAt: due, payload: { to: 'b@example.com', customer: { id: 9 } } }),
  ]);
  const [delayed] = await insert(store, [
    job({ runAt: now + 3_600_000, payload: { to: 'later@example.com' } }),
  ]);
  const [hostile] = await insert(store, [
    job({ runAt: due, name: 'email.note', payload: { note: HOSTILE_NOTE } }),
  ]);
  const [cancelled] = await insert(store, [
    job({ queue: 'billing', name: 'invoice.charge', runAt: due, payload: { invoice: 'INV-1' } }),
  ]);
  await store.cancel(cancelled!, now);
  const unserved = await insert(store, [
    job({ queue: 'reports', name: 'report.build', runAt: due, payload: { report: 'daily' } }),
    job({ queue: 'reports', name: 'report.build', runAt: due, payload: { report: 'weekly' } }),
  ]);
  await store.upsertSchedules([
    { name: 'nightly-report', cron: '0 3 * * *', timezone: null, nextRunAt: now + 3 * 3_600_000 },
    { name: 'hourly-sync', cron: '0 * * * *', timezone: 'Europe/Paris', nextRunAt: now + 1_800_000 },
  ]);
  await store.setSchedulePaused('hourly-sync', true);
  await store.announceWorker?.('worker-a', ['emails', 'billing'], 3_600_000, now);
  return {
    now,
    completed,
    dead,
    running: running!,
    pending,
    delayed: delayed!,
    cancelled: cancelled!,
    hostile: hostile!,
    unserved,
  };
}
