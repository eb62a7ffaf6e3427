/** `hostwork queues`: how many jobs each queue holds, per state. */
import { JOB_STATES, type JobState } from '../jobs/job-record.ts';
import { type Command, ExitCode, usageError } from './command.ts';
import { formatJson, formatTable } from './output.ts';

const queues: Command = {
  words: ['queues'],
  args: '',
  summary: 'Shows the number of jobs of each queue in each state.',
  details: `Example:
  hostwork queues`,
  options: [],
  async run(context) {
    if (context.args.length > 0)
      throw usageError(`queues takes no arguments, got ${context.args.join(' ')}.`);
    await using store = await context.store.open('use');
    const byQueue = new Map<string, Record<JobState, number>>();
    for (const { queue, state, count } of await store.counts()) {
      let row = byQueue.get(queue);
      if (row === undefined) {
        row = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
        byQueue.set(queue, row);
      }
      row[state] += count;
    }
    const rows = [...byQueue]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([queue, counts]) => ({
        queue,
        ...counts,
        total: JOB_STATES.reduce((sum, s) => sum + counts[s], 0),
      }));
    if (context.json) {
      context.io.out(formatJson({ queues: rows }));
      return ExitCode.ok;
    }
    if (rows.length === 0) {
      context.io.out('No jobs in any queue.\n');
      return ExitCode.ok;
    }
    context.io.out(
      formatTable(
        ['QUEUE', ...JOB_STATES.map((s) => s.toUpperCase()), 'TOTAL'],
        rows.map((r) => [r.queue, ...JOB_STATES.map((s) => r[s]), r.total]),
      ),
    );
    return ExitCode.ok;
  },
};

/** The `queues` command. */
export const QUEUES_COMMANDS: readonly Command[] = [queues];
