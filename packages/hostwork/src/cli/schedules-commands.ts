/** `hostwork schedules list|pause|resume`: the recurring jobs stored by the application's `addJobs`. */
import type { ScheduleRecord } from '../jobs/job-record.ts';
import { nextStoredTick } from '../jobs/schedule.ts';
import { type Command, type CommandContext, ExitCode, usageError } from './command.ts';
import { formatJson, formatTable, isoTime } from './output.ts';

function scheduleJson(s: ScheduleRecord): Record<string, unknown> {
  return { ...s, nextRunAt: isoTime(s.nextRunAt), lastRunAt: isoTime(s.lastRunAt) };
}

const list: Command = {
  words: ['schedules', 'list'],
  args: '',
  summary: 'Lists the schedules: cron expression, time zone, paused or not, next and last run.',
  details: `Schedules are stored when the application starts with them (addJobs(builder, { schedules })).

Example:
  hostwork schedules list`,
  options: [],
  async run(context) {
    if (context.args.length > 0)
      throw usageError(`schedules list takes no arguments, got ${context.args.join(' ')}.`);
    await using store = await context.store.open('use');
    const schedules = (await store.listSchedules()).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    if (context.json) {
      context.io.out(formatJson({ schedules: schedules.map(scheduleJson) }));
      return ExitCode.ok;
    }
    if (schedules.length === 0) {
      context.io.out('No schedules are stored.\n');
      return ExitCode.ok;
    }
    context.io.out(
      formatTable(
        ['NAME', 'CRON', 'TIMEZONE', 'STATE', 'NEXT RUN', 'LAST RUN'],
        schedules.map((s) => [
          s.name,
          s.cron,
          s.timezone,
          s.paused ? 'paused' : 'active',
          s.paused ? null : isoTime(s.nextRunAt),
          isoTime(s.lastRunAt),
        ]),
      ),
    );
    return ExitCode.ok;
  },
};

/** Pauses or resumes each named schedule; exits 1 if any is not stored. */
async function setPaused(context: CommandContext, paused: boolean): Promise<number> {
  const verb = paused ? 'pause' : 'resume';
  if (context.args.length === 0) throw usageError(`schedules ${verb} needs at least one schedule name.`);
  await using store = await context.store.open('use');
  const stored = new Map((await store.listSchedules()).map((s) => [s.name, s]));
  const now = Date.now();
  const results: { name: string; outcome: string; nextRunAt: string | null }[] = [];
  for (const name of context.args) {
    const schedule = stored.get(name);
    // Resuming starts from the next future tick, as JobClient.resumeSchedule does: ticks missed while paused are not run.
    const next = paused || schedule === undefined ? undefined : nextStoredTick(schedule, now);
    const found = schedule !== undefined && (await store.setSchedulePaused(name, paused, next));
    results.push({
      name,
      outcome: found ? (paused ? 'paused' : 'resumed') : 'not-found',
      nextRunAt: found && !paused ? isoTime(next) : null,
    });
  }
  if (context.json) {
    context.io.out(formatJson({ results }));
  } else {
    for (const r of results) {
      if (r.outcome === 'not-found') {
        context.io.out(
          `${r.name}: not found (stored schedules: ${[...stored.keys()].join(', ') || 'none'})\n`,
        );
      } else {
        context.io.out(
          `${r.name}: ${r.outcome}${r.nextRunAt === null ? '' : `, next run at ${r.nextRunAt}`}\n`,
        );
      }
    }
  }
  return results.every((r) => r.outcome !== 'not-found') ? ExitCode.ok : ExitCode.failure;
}

const pause: Command = {
  words: ['schedules', 'pause'],
  args: '<name>...',
  summary: 'Pauses schedules: no job is enqueued for their ticks until they are resumed.',
  details: `Example:
  hostwork schedules pause nightly-report`,
  options: [],
  run: (context) => setPaused(context, true),
};

const resume: Command = {
  words: ['schedules', 'resume'],
  args: '<name>...',
  summary: 'Resumes schedules from their next future tick (ticks missed while paused are not run).',
  details: `Example:
  hostwork schedules resume nightly-report`,
  options: [],
  run: (context) => setPaused(context, false),
};

/** The `schedules` commands. */
export const SCHEDULES_COMMANDS: readonly Command[] = [list, pause, resume];
