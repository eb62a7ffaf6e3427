import type { Logger } from '../logging/logger-factory.ts';
import type { JobRegistry } from './job-registry.ts';
import type { JobStore } from './job-store.ts';
import { prepareJob } from './prepare-job.ts';
import type { ResolvedSchedule } from './schedule.ts';
import { nextTick } from './schedule.ts';

/**
 * Turns due schedule ticks into jobs. Every worker process runs it; the store's compare-and-set on the schedule's
 * next run time makes exactly one of them win each tick, and the job carries a unique key (schedule name + tick).
 */
export class ScheduleRunner {
  readonly #store: JobStore;
  readonly #registry: JobRegistry;
  readonly #log: Logger;

  constructor(store: JobStore, registry: JobRegistry, log: Logger) {
    this.#store = store;
    this.#registry = registry;
    this.#log = log;
  }

  /** Checks every schedule's payload against its job's schema and stores the schedules with their next tick. */
  async sync(now: number): Promise<void> {
    const schedules = this.#registry.schedules();
    if (schedules.length === 0) return;
    for (const s of schedules) {
      // A bad payload fails here, at start-up, not at the first tick in the middle of the night.
      await prepareJob(this.#registry, s.definition.job, s.definition.payload, {}, now);
    }
    await this.#store.upsertSchedules(
      schedules.map((s) => ({
        name: s.definition.name,
        cron: s.definition.cron,
        timezone: s.definition.timezone ?? null,
        nextRunAt: nextTick(s, now),
      })),
    );
  }

  /** Enqueues the jobs of every due tick; returns the earliest next tick (for the caller's timer), or null. */
  async tick(now: number): Promise<number | null> {
    if (this.#registry.schedules().length === 0) return null;
    let earliest: number | null = null;
    for (const record of await this.#store.listSchedules()) {
      const schedule = this.#registry.schedule(record.name);
      if (!schedule || record.paused || record.nextRunAt === null) continue;
      let next: number | null = record.nextRunAt;
      if (record.nextRunAt <= now) next = await this.#fire(schedule, record.nextRunAt, now);
      if (next !== null && (earliest === null || next < earliest)) earliest = next;
    }
    return earliest;
  }

  async #fire(schedule: ResolvedSchedule, due: number, now: number): Promise<number | null> {
    const def = schedule.definition;
    const newNext = nextTick(schedule, now);
    const late = now - due;
    const skip = schedule.misfire === 'skip' && late > schedule.misfireGraceMs;
    const job = skip
      ? null
      : await prepareJob(
          this.#registry,
          def.job,
          def.payload,
          { uniqueKey: `schedule:${def.name}:${due}` },
          now,
        );
    const won = await this.#store.tickSchedule(
      { name: def.name, expectedNextRunAt: due, newNextRunAt: newNext, job },
      now,
    );
    if (won) {
      const tick = new Date(due).toISOString();
      if (skip)
        this.#log.warn(
          { schedule: def.name, tick, lateMs: late },
          `Schedule '${def.name}' skipped a missed tick`,
        );
      else
        this.#log.info(
          { schedule: def.name, tick, job: def.job.name },
          `Schedule '${def.name}' enqueued its tick`,
        );
    }
    return newNext;
  }
}
