import { ErrorCodes, HostworkError } from '../errors.ts';
import type { JobDefinition } from './job-definition.ts';
import type { ResolvedSchedule, ScheduleDefinition } from './schedule.ts';
import { resolveSchedule } from './schedule.ts';

/** The job definitions and schedules an application knows, by name. */
export class JobRegistry {
  readonly #jobs = new Map<string, JobDefinition>();
  readonly #schedules = new Map<string, ResolvedSchedule>();

  constructor(jobs: readonly JobDefinition[] = [], schedules: readonly ScheduleDefinition[] = []) {
    for (const job of jobs) this.addJob(job);
    for (const schedule of schedules) this.addSchedule(schedule);
  }

  /** Adds a definition; two different definitions with one name are refused (the name routes stored jobs). */
  // biome-ignore lint/suspicious/noExplicitAny: definitions of any payload type share one registry.
  addJob(job: JobDefinition<any, any>): void {
    const existing = this.#jobs.get(job.name);
    if (existing && existing !== job) {
      throw new HostworkError(
        ErrorCodes.JOB_NOT_REGISTERED,
        `Two different job definitions are named '${job.name}'. Job names route stored jobs to handlers: make them unique.`,
      );
    }
    this.#jobs.set(job.name, job);
  }

  /** Adds a schedule, checking its cron expression and that its job is registered. */
  addSchedule(schedule: ScheduleDefinition): void {
    const resolved = resolveSchedule(schedule);
    if (this.#schedules.has(schedule.name)) {
      throw new HostworkError(ErrorCodes.SCHEDULE_INVALID, `Two schedules are named '${schedule.name}'.`);
    }
    this.addJob(schedule.job);
    this.#schedules.set(schedule.name, resolved);
  }

  /** The definition for a stored job's name. */
  job(name: string): JobDefinition | undefined {
    return this.#jobs.get(name);
  }

  /** All job names, for messages. */
  jobNames(): string[] {
    return [...this.#jobs.keys()];
  }

  /** A schedule by name. */
  schedule(name: string): ResolvedSchedule | undefined {
    return this.#schedules.get(name);
  }

  /** All schedules. */
  schedules(): ResolvedSchedule[] {
    return [...this.#schedules.values()];
  }
}
