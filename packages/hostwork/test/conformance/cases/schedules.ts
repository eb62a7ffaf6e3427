import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ScheduleRecord } from '../../../src/jobs/job-record.ts';
import type { JobStore } from '../../../src/jobs/job-store.ts';
import { countMap, newJob, type StoreFactory, T0, totalJobs, useStores } from '../harness.ts';

const MINUTE = 60_000;

async function schedule(store: JobStore, name: string): Promise<ScheduleRecord> {
  const found = (await store.listSchedules()).find((s) => s.name === name);
  assert.ok(found, `schedule ${name} not found`);
  return found;
}

/** Schedules: upsert, list, pause/resume and the compare-and-set tick. */
export function scheduleCases(factory: StoreFactory): void {
  describe('schedules', () => {
    const stores = useStores(factory);

    it('upsert then list', async () => {
      const store = await stores.fresh();
      assert.deepEqual(await store.listSchedules(), []);
      await store.upsertSchedules([
        { name: 'every-minute', cron: '* * * * *', timezone: null, nextRunAt: T0 + MINUTE },
        { name: 'hourly', cron: '0 * * * *', timezone: 'Europe/Paris', nextRunAt: T0 + 60 * MINUTE },
        { name: 'never', cron: '0 0 30 2 *', timezone: null, nextRunAt: null },
      ]);
      const list = [...(await store.listSchedules())].sort((a, b) => a.name.localeCompare(b.name));
      assert.deepEqual(list, [
        {
          name: 'every-minute',
          cron: '* * * * *',
          timezone: null,
          paused: false,
          nextRunAt: T0 + MINUTE,
          lastRunAt: null,
        },
        {
          name: 'hourly',
          cron: '0 * * * *',
          timezone: 'Europe/Paris',
          paused: false,
          nextRunAt: T0 + 60 * MINUTE,
          lastRunAt: null,
        },
        {
          name: 'never',
          cron: '0 0 30 2 *',
          timezone: null,
          paused: false,
          nextRunAt: null,
          lastRunAt: null,
        },
      ]);
      const peer = await stores.peer(store);
      assert.equal((await peer.listSchedules()).length, 3);
    });

    it('upsert updates cron, timezone and next run without touching paused', async () => {
      const store = await stores.fresh();
      await store.upsertSchedules([{ name: 's', cron: '* * * * *', timezone: null, nextRunAt: T0 }]);
      assert.equal(await store.setSchedulePaused('s', true), true);
      await store.upsertSchedules([
        { name: 's', cron: '*/5 * * * *', timezone: 'UTC', nextRunAt: T0 + 5 * MINUTE },
      ]);
      const s = await schedule(store, 's');
      assert.equal(s.cron, '*/5 * * * *');
      assert.equal(s.timezone, 'UTC');
      assert.equal(s.nextRunAt, T0 + 5 * MINUTE);
      assert.equal(s.paused, true);
      assert.equal((await store.listSchedules()).length, 1);
    });

    // The engine's start-up sync upserts every schedule with its next tick from now; a store that took that value
    // while cron and timezone are unchanged would erase a tick missed while every process was down, and the
    // 'runOnce' misfire policy could never run it. So the stored next run wins unless the timing changed (or there
    // is none). NOTE: the JobStore TSDoc of upsertSchedules does not say this yet.
    it('upsert keeps the stored next run while cron and timezone are unchanged', async () => {
      const store = await stores.fresh();
      await store.upsertSchedules([
        { name: 'same', cron: '* * * * *', timezone: 'UTC', nextRunAt: T0 },
        { name: 'ended', cron: '* * * * *', timezone: null, nextRunAt: null },
      ]);
      await store.upsertSchedules([
        { name: 'same', cron: '* * * * *', timezone: 'UTC', nextRunAt: T0 + 10 * MINUTE },
        { name: 'ended', cron: '* * * * *', timezone: null, nextRunAt: T0 + MINUTE },
      ]);
      assert.equal((await schedule(store, 'same')).nextRunAt, T0, 'a missed tick survives a restart');
      assert.equal(
        (await schedule(store, 'ended')).nextRunAt,
        T0 + MINUTE,
        'a schedule with no next run takes one',
      );
      await store.upsertSchedules([
        { name: 'same', cron: '* * * * *', timezone: null, nextRunAt: T0 + 20 * MINUTE },
      ]);
      assert.equal(
        (await schedule(store, 'same')).nextRunAt,
        T0 + 20 * MINUTE,
        'a new timezone is new timing',
      );
    });

    it('pauses and resumes', async () => {
      const store = await stores.fresh();
      await store.upsertSchedules([{ name: 's', cron: '* * * * *', timezone: null, nextRunAt: T0 }]);
      assert.equal(await store.setSchedulePaused('s', true), true);
      assert.equal((await schedule(store, 's')).paused, true);
      assert.equal((await schedule(store, 's')).nextRunAt, T0, 'pausing without nextRunAt keeps it');
      assert.equal(await store.setSchedulePaused('s', false, T0 + 2 * MINUTE), true);
      const resumed = await schedule(store, 's');
      assert.equal(resumed.paused, false);
      assert.equal(resumed.nextRunAt, T0 + 2 * MINUTE);
      assert.equal(await store.setSchedulePaused('missing', true), false);
      assert.deepEqual(
        (await store.listSchedules()).map((x) => x.name),
        ['s'],
      );
    });

    it('exactly one of 5 instances racing on a tick wins and inserts the job', async () => {
      const store = await stores.fresh();
      const instances = [store];
      for (let i = 0; i < 4; i++) instances.push(await stores.peer(store));
      await store.upsertSchedules([{ name: 's', cron: '* * * * *', timezone: null, nextRunAt: T0 }]);
      for (let round = 0; round < 5; round++) {
        const tick = T0 + round * MINUTE;
        const outcomes = await Promise.all(
          instances.map((s, n) =>
            s.tickSchedule(
              {
                name: 's',
                expectedNextRunAt: tick,
                newNextRunAt: tick + MINUTE,
                job: newJob({
                  name: 's.job',
                  queue: 'scheduled',
                  payload: JSON.stringify({ round, n }),
                  runAt: tick,
                }),
              },
              tick + 5,
            ),
          ),
        );
        assert.equal(outcomes.filter(Boolean).length, 1, `round ${round}: exactly one tick wins`);
        assert.deepEqual(
          await countMap(store),
          { 'scheduled/pending': round + 1 },
          `round ${round}: one job`,
        );
        const s = await schedule(store, 's');
        assert.equal(s.nextRunAt, tick + MINUTE);
        assert.notEqual(s.lastRunAt, null);
      }
      const jobs = await store.list({ limit: 100, queue: 'scheduled' });
      assert.deepEqual(
        jobs.map((j) => (j.payload as { round: number }).round),
        [4, 3, 2, 1, 0],
      );
      assert.ok(jobs.every((j) => j.name === 's.job'));
    });

    it('a stale expectedNextRunAt loses', async () => {
      const store = await stores.fresh();
      await store.upsertSchedules([{ name: 's', cron: '* * * * *', timezone: null, nextRunAt: T0 + MINUTE }]);
      const job = newJob({ queue: 'scheduled' });
      assert.equal(
        await store.tickSchedule({ name: 's', expectedNextRunAt: T0, newNextRunAt: T0 + MINUTE, job }, T0),
        false,
      );
      assert.equal(await totalJobs(store), 0);
      assert.equal((await schedule(store, 's')).nextRunAt, T0 + MINUTE);
      assert.equal(
        await store.tickSchedule(
          { name: 's', expectedNextRunAt: T0 + MINUTE, newNextRunAt: T0 + 2 * MINUTE, job },
          T0 + MINUTE,
        ),
        true,
      );
      assert.equal(
        await store.tickSchedule(
          { name: 's', expectedNextRunAt: T0 + MINUTE, newNextRunAt: T0 + 2 * MINUTE, job },
          T0 + MINUTE,
        ),
        false,
        'the same tick twice',
      );
      assert.equal(await totalJobs(store), 1);
      assert.equal(
        await store.tickSchedule(
          { name: 'missing', expectedNextRunAt: T0, newNextRunAt: T0 + MINUTE, job },
          T0,
        ),
        false,
      );
    });

    it('a paused schedule does not tick', async () => {
      const store = await stores.fresh();
      await store.upsertSchedules([{ name: 's', cron: '* * * * *', timezone: null, nextRunAt: T0 }]);
      await store.setSchedulePaused('s', true);
      const job = newJob({ queue: 'scheduled' });
      assert.equal(
        await store.tickSchedule({ name: 's', expectedNextRunAt: T0, newNextRunAt: T0 + MINUTE, job }, T0),
        false,
      );
      assert.equal(await totalJobs(store), 0);
      const s = await schedule(store, 's');
      assert.equal(s.nextRunAt, T0);
      assert.equal(s.lastRunAt, null);
    });

    it('a tick with no job (skip) advances without inserting', async () => {
      const store = await stores.fresh();
      await store.upsertSchedules([{ name: 's', cron: '* * * * *', timezone: null, nextRunAt: T0 }]);
      assert.equal(
        await store.tickSchedule(
          { name: 's', expectedNextRunAt: T0, newNextRunAt: T0 + MINUTE, job: null },
          T0 + 1,
        ),
        true,
      );
      assert.equal(await totalJobs(store), 0);
      assert.equal((await schedule(store, 's')).nextRunAt, T0 + MINUTE);
    });

    it('a tick can end the schedule (newNextRunAt null)', async () => {
      const store = await stores.fresh();
      await store.upsertSchedules([{ name: 's', cron: '0 0 1 1 *', timezone: null, nextRunAt: T0 }]);
      const job = newJob({ queue: 'scheduled' });
      assert.equal(
        await store.tickSchedule({ name: 's', expectedNextRunAt: T0, newNextRunAt: null, job }, T0),
        true,
      );
      assert.equal((await schedule(store, 's')).nextRunAt, null);
      assert.equal(await totalJobs(store), 1);
    });
  });
}
