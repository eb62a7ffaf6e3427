import { Cron } from 'croner';
import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';
import type { JobContract } from './job-contract.ts';

/** What to do with ticks missed while no worker ran (downtime, a paused host). */
export type MisfirePolicy =
  /** Enqueue one job for the missed ticks (the latest), then continue on time. */
  | 'runOnce'
  /** Drop ticks later than `misfireGraceMs`; continue with the next future tick. */
  | 'skip';

/** A recurring job. */
export interface ScheduleDefinition<Input = unknown> {
  /** Unique and stable: it identifies the schedule in the store. */
  readonly name: string;
  /** A cron expression (croner syntax: 5 or 6 fields, seconds optional; nicknames like '@hourly'). */
  readonly cron: string;
  /** The job to enqueue at each tick: its definition, or its contract when the handler is registered elsewhere. */
  // biome-ignore lint/suspicious/noExplicitAny: the output type of the job is irrelevant to scheduling.
  readonly job: JobContract<Input, any>;
  readonly payload: Input;
  /** IANA time zone, e.g. 'Europe/Paris'; daylight-saving changes follow croner's rules. Default: the process's. */
  readonly timezone?: string;
  /** Default: 'runOnce'. */
  readonly misfire?: MisfirePolicy;
  /** With `skip`, how late a tick may still run, in ms. Default: 60,000. */
  readonly misfireGraceMs?: number;
}

const KEYS = ['name', 'cron', 'job', 'payload', 'timezone', 'misfire', 'misfireGraceMs'];

/** A checked schedule with its parsed cron. */
export interface ResolvedSchedule {
  readonly definition: ScheduleDefinition;
  readonly cron: Cron;
  readonly misfire: MisfirePolicy;
  readonly misfireGraceMs: number;
}

/** Type-checked helper to declare a schedule: the payload must match the job's schema input. */
export function defineSchedule<Input>(schedule: ScheduleDefinition<Input>): ScheduleDefinition<Input> {
  return schedule;
}

/** Validates a schedule and parses its cron expression; a bad one fails here, at registration. */
export function resolveSchedule(schedule: ScheduleDefinition): ResolvedSchedule {
  const where = `Schedule '${schedule.name}'`;
  assertKnownKeys(where, schedule, KEYS);
  if (!schedule.name)
    throw new HostworkError(ErrorCodes.SCHEDULE_INVALID, 'A schedule needs a non-empty name.');
  let cron: Cron;
  try {
    cron = new Cron(schedule.cron, {
      paused: true,
      ...(schedule.timezone ? { timezone: schedule.timezone } : {}),
    });
    cron.nextRun();
  } catch (error) {
    throw new HostworkError(
      ErrorCodes.SCHEDULE_INVALID,
      `${where}: invalid cron expression ${JSON.stringify(schedule.cron)}${schedule.timezone ? ` or time zone ${JSON.stringify(schedule.timezone)}` : ''}: ${error instanceof Error ? error.message : String(error)}. Example: '*/5 * * * *' runs every five minutes.`,
    );
  }
  const misfire = schedule.misfire ?? 'runOnce';
  if (misfire !== 'runOnce' && misfire !== 'skip') {
    throw new HostworkError(
      ErrorCodes.SCHEDULE_INVALID,
      `${where}: misfire must be 'runOnce' or 'skip', got ${JSON.stringify(misfire)}.`,
    );
  }
  return { definition: schedule, cron, misfire, misfireGraceMs: schedule.misfireGraceMs ?? 60_000 };
}

/** The first tick strictly after `after` (ms), or null if the expression has no future tick. */
export function nextTick(schedule: ResolvedSchedule, after: number): number | null {
  const next = schedule.cron.nextRun(new Date(after));
  return next ? next.getTime() : null;
}

/**
 * The first tick of a stored schedule strictly after `after` (ms), or null if it has none: where resuming a paused
 * schedule starts (ticks missed while paused are not run). The CLI and the dashboard resume with it.
 */
export function nextStoredTick(
  schedule: { readonly cron: string; readonly timezone: string | null },
  after: number,
): number | null {
  const cron = new Cron(schedule.cron, {
    paused: true,
    ...(schedule.timezone ? { timezone: schedule.timezone } : {}),
  });
  return cron.nextRun(new Date(after))?.getTime() ?? null;
}
