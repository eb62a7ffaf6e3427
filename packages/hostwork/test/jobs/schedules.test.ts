import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { ErrorCodes } from '../../src/errors.ts';
import { createHostBuilder } from '../../src/hosting/index.ts';
import { addJobs } from '../../src/jobs/add-jobs.ts';
import { defineJob } from '../../src/jobs/job-definition.ts';
import type { JobInfo } from '../../src/jobs/job-record.ts';
import { defineSchedule } from '../../src/jobs/schedule.ts';
import { sqliteStore } from '../../src/stores/sqlite/sqlite-store.ts';
import {
  expectRejection,
  expectThrow,
  jobHost,
  T,
  tempDb,
  waitFor,
  waitForState,
  withHost,
  withHosts,
} from './helpers.ts';

// Schedules: one job per tick however many hosts share the file, bad expressions refused at registration,
// pause and resume, and what listSchedules shows.

const Tick = defineJob({
  name: 'tick',
  schema: z.object({ source: z.string() }),
  handle() {},
});

const everySecond = defineSchedule({
  name: 'every-second',
  cron: '* * * * * *',
  job: Tick,
  payload: { source: 'schedule' },
});

async function scheduledJobs(client: { list(f: object): Promise<JobInfo[]> }): Promise<JobInfo[]> {
  return client.list({ name: 'tick', limit: 10_000 });
}

describe('schedules across hosts', () => {
  it('enqueues at most one job per tick with three hosts on one file', T, async () => {
    const path = tempDb();
    const ran: string[] = [];
    const Counted = defineJob({
      name: 'tick',
      schema: z.object({ source: z.string() }),
      handle(_p, ctx) {
        ran.push(ctx.id);
      },
    });
    const schedule = defineSchedule({ ...everySecond, job: Counted });
    const settings = { jobs: [Counted], schedules: [schedule], path };
    await withHosts([settings, settings, settings], async ([a]) => {
      const client = a!.client;
      const firstAt = Date.now();
      // About 3.5 s: three or four ticks.
      await waitFor(async () => Date.now() - firstAt >= 3_500, 'three and a half seconds', 10_000);
      const jobs = await scheduledJobs(client);
      assert.ok(jobs.length >= 2, `expected at least two ticks in 3.5 s, got ${jobs.length}`);
      const perKey = new Map<string, number>();
      for (const job of jobs) {
        assert.match(job.uniqueKey ?? '', /^schedule:every-second:\d+$/);
        perKey.set(job.uniqueKey!, (perKey.get(job.uniqueKey!) ?? 0) + 1);
      }
      for (const [key, count] of perKey) assert.equal(count, 1, `${count} jobs for ${key}`);
      // The ticks are whole seconds. (Not necessarily one second apart: on a loaded machine a late maintenance
      // pass enqueues one job for the ticks it missed, as the misfire policy says.)
      const ticks = [...perKey.keys()].map((k) => Number(k.split(':')[2]));
      for (const t of ticks) assert.equal(t % 1_000, 0);
      assert.deepEqual(jobs[0]?.payload, { source: 'schedule' });
      for (const job of jobs) await waitForState(client, job.id, 'completed');
      assert.equal(new Set(ran).size, ran.length, 'no job ran twice');
    });
  });
});

describe('schedule definitions', () => {
  it('refuses a bad cron expression at addJobs with HW_SCHEDULE_INVALID', () => {
    const builder = createHostBuilder({ env: {}, args: [], logging: { level: 'silent' } });
    const bad = defineSchedule({ name: 'broken', cron: '61 * * * *', job: Tick, payload: { source: 'x' } });
    expectThrow(
      () => addJobs(builder, { jobs: [Tick], schedules: [bad], store: sqliteStore({ path: tempDb() }) }),
      ErrorCodes.SCHEDULE_INVALID,
      "Schedule 'broken'",
      '61 * * * *',
    );
    const badZone = defineSchedule({
      name: 'zoned',
      cron: '0 * * * *',
      timezone: 'Mars/Olympus_Mons',
      job: Tick,
      payload: { source: 'x' },
    });
    expectThrow(
      () => addJobs(builder, { jobs: [Tick], schedules: [badZone], store: sqliteStore({ path: tempDb() }) }),
      ErrorCodes.SCHEDULE_INVALID,
      'Mars/Olympus_Mons',
    );
    expectThrow(
      () =>
        addJobs(builder, {
          jobs: [Tick],
          schedules: [everySecond, { ...everySecond, cron: '*/2 * * * * *' }],
          store: sqliteStore({ path: tempDb() }),
        }),
      ErrorCodes.SCHEDULE_INVALID,
      "Two schedules are named 'every-second'",
    );
  });

  it("refuses to start with a schedule whose payload fails its job's schema", T, async () => {
    const wrong = defineSchedule({
      name: 'wrong-payload',
      cron: '0 0 * * *',
      job: Tick,
      // @ts-expect-error: source must be a string
      payload: { source: 1 },
    });
    const h = jobHost({ jobs: [Tick], schedules: [wrong] });
    try {
      await expectRejection(h.host.start(), ErrorCodes.HOST_START_FAILED, 'source');
    } finally {
      await h.host.stop();
    }
  });
});

describe('pause, resume and listing', () => {
  it('lists schedules with their next run time', T, async () => {
    const daily = defineSchedule({
      name: 'daily',
      cron: '30 4 * * *',
      timezone: 'UTC',
      job: Tick,
      payload: { source: 'daily' },
    });
    await withHost({ jobs: [Tick], schedules: [daily, everySecond] }, async ({ client }) => {
      const list = await client.listSchedules();
      assert.deepEqual(
        list.map((s) => s.name),
        ['daily', 'every-second'],
      );
      const d = list[0]!;
      assert.equal(d.cron, '30 4 * * *');
      assert.equal(d.timezone, 'UTC');
      assert.equal(d.job, 'tick');
      assert.equal(d.misfire, 'runOnce');
      assert.equal(d.paused, false);
      const next = new Date(d.nextRunAt!);
      assert.ok(d.nextRunAt! > Date.now() && d.nextRunAt! <= Date.now() + 24 * 3_600_000);
      assert.deepEqual([next.getUTCHours(), next.getUTCMinutes(), next.getUTCSeconds()], [4, 30, 0]);
      const s = list[1]!;
      assert.ok(s.nextRunAt! % 1_000 === 0 && Math.abs(s.nextRunAt! - Date.now()) <= 2_000);
      await expectRejection(client.pauseSchedule('nope'), ErrorCodes.SCHEDULE_INVALID, "'nope'");
    });
  });

  it('pause stops new jobs; resume starts them again from the next tick', T, async () => {
    await withHost({ jobs: [Tick], schedules: [everySecond] }, async ({ client }) => {
      await waitFor(async () => (await scheduledJobs(client)).length >= 1, 'a first scheduled job');
      await client.pauseSchedule('every-second');
      const paused = (await client.listSchedules())[0]!;
      assert.equal(paused.paused, true);
      const countAtPause = (await scheduledJobs(client)).length;
      // Wait until two ticks have passed while paused (and a maintenance pass after them).
      const until = (paused.nextRunAt ?? Date.now()) + 1_300;
      await waitFor(() => Date.now() >= until, 'two ticks to pass while paused');
      assert.equal((await scheduledJobs(client)).length, countAtPause, 'no job while paused');

      const resumedAt = Date.now();
      await client.resumeSchedule('every-second');
      const resumed = (await client.listSchedules())[0]!;
      assert.equal(resumed.paused, false);
      assert.ok(resumed.nextRunAt! > resumedAt, 'ticks missed while paused are not run');
      const after = await waitFor(async () => {
        const jobs = await scheduledJobs(client);
        return jobs.length > countAtPause ? jobs : undefined;
      }, 'a job after resume');
      const newest = after[0]!;
      assert.ok(Number(newest.uniqueKey!.split(':')[2]) > resumedAt);
    });
  });

  it('runs once for ticks missed while no host ran (runOnce)', T, async () => {
    const path = tempDb();
    await withHost({ jobs: [Tick], schedules: [everySecond], path }, async ({ client }) => {
      await waitFor(async () => (await scheduledJobs(client)).length >= 1, 'a first scheduled job');
    });
    const stoppedAt = Date.now();
    // Downtime of a few ticks.
    await waitFor(() => Date.now() - stoppedAt >= 2_500, 'some downtime');
    const restartAt = Date.now();
    const tickOf = (j: JobInfo) => Number(j.uniqueKey!.split(':')[2]);
    await withHost({ jobs: [Tick], schedules: [everySecond], path }, async ({ client }) => {
      // Wait for an on-time tick after the restart, so the catch-up pass is certainly behind us.
      const jobs = await waitFor(async () => {
        const all = await scheduledJobs(client);
        return all.some((j) => tickOf(j) >= restartAt) ? all : undefined;
      }, 'an on-time tick after the restart');
      const catchUp = jobs.filter((j) => j.createdAt >= restartAt && tickOf(j) < restartAt);
      assert.equal(
        catchUp.length,
        1,
        `one job for the ticks missed during the downtime, got ${catchUp.map((j) => j.uniqueKey).join(', ')}`,
      );
      assert.ok(
        tickOf(catchUp[0]!) > stoppedAt - 1_000,
        'the catch-up job is for a tick missed in the downtime',
      );
    });
  });
});
