/** `hostwork jobs list|show|retry|cancel|purge`: inspecting and operating on jobs in the store. */
import type { JobFilter, JobInfo, JobState } from '../jobs/job-record.ts';
import type { CancelOutcome, JobStore } from '../jobs/job-store.ts';
import {
  type Command,
  type CommandContext,
  ExitCode,
  integerOption,
  jobIds,
  stateOption,
  textOption,
  usageError,
} from './command.ts';
import { type Cell, formatFields, formatJson, formatTable, indent, isoTime, ProgressBar } from './output.ts';

/** A job as JSON for scripts: every field of the store's record, times as ISO strings. */
export function jobJson(job: JobInfo): Record<string, unknown> {
  return {
    ...job,
    runAt: isoTime(job.runAt),
    createdAt: isoTime(job.createdAt),
    finishedAt: isoTime(job.finishedAt),
    leaseExpiresAt: isoTime(job.leaseExpiresAt),
    errors: job.errors.map((e) => ({ ...e, at: isoTime(e.at) })),
  };
}

function filterOf(context: CommandContext, states?: readonly JobState[]): JobFilter {
  const queue = textOption(context.values, 'queue');
  const state = stateOption(context.values, states);
  const name = textOption(context.values, 'name');
  return {
    ...(queue === undefined ? {} : { queue }),
    ...(state === undefined ? {} : { state }),
    ...(name === undefined ? {} : { name }),
  };
}

function noArgs(context: CommandContext, command: string): void {
  if (context.args.length > 0)
    throw usageError(`${command} takes no arguments, got ${context.args.join(' ')}.`);
}

const list: Command = {
  words: ['jobs', 'list'],
  args: '',
  summary: 'Lists jobs, newest first, a page at a time.',
  details: `The last line names the option that shows the next page (--before <id>); with --json, "next" holds that id
(null on the last page).

Example:
  hostwork jobs list --state dead --queue emails --limit 50`,
  options: ['queue', 'state', 'name', 'limit', 'before'],
  async run(context) {
    noArgs(context, 'jobs list');
    const filter = filterOf(context);
    const limit = integerOption(context.values, 'limit', { min: 1, max: 1000 }) ?? 20;
    const before =
      context.values.before === undefined ? undefined : jobIds([context.values.before], '--before')[0];
    await using store = await context.store.open('use');
    // One more than shown tells whether another page follows.
    const found = await store.list({
      ...filter,
      limit: limit + 1,
      ...(before === undefined ? {} : { before }),
    });
    const jobs = found.slice(0, limit);
    const next = found.length > limit ? jobs.at(-1)!.id : null;
    if (context.json) {
      context.io.out(formatJson({ jobs: jobs.map(jobJson), next }));
      return ExitCode.ok;
    }
    if (jobs.length === 0) {
      context.io.out('No jobs match.\n');
      return ExitCode.ok;
    }
    context.io.out(
      formatTable(
        ['ID', 'NAME', 'QUEUE', 'STATE', 'ATTEMPTS', 'PRIORITY', 'RUN AT', 'FINISHED AT', 'LAST ERROR'],
        jobs.map((j): Cell[] => [
          j.id,
          j.name,
          j.queue,
          j.state,
          `${j.attempt}/${j.maxAttempts}`,
          j.priority,
          isoTime(j.runAt),
          isoTime(j.finishedAt),
          shorten(j.errors.at(-1)?.message, 60),
        ]),
      ),
    );
    if (next !== null) context.io.out(`More: add --before ${next} for the next page.\n`);
    return ExitCode.ok;
  },
};

function shorten(text: string | undefined, max: number): string | undefined {
  if (text === undefined) return undefined;
  const line = text.split('\n')[0]!;
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** The fields `show` prints by name; any other field of the record is printed after them as JSON. */
const SHOWN = new Set([
  'id',
  'name',
  'queue',
  'state',
  'payload',
  'priority',
  'attempt',
  'maxAttempts',
  'timeoutMs',
  'runAt',
  'uniqueKey',
  'leaseOwner',
  'leaseExpiresAt',
  'cancelRequested',
  'progress',
  'errors',
  'createdAt',
  'finishedAt',
]);

const show: Command = {
  words: ['jobs', 'show'],
  args: '<id>',
  summary: 'Shows one job: its payload, progress, and every failed attempt with its error and stack.',
  details: `Example:
  hostwork jobs show 42`,
  options: [],
  async run(context) {
    const ids = jobIds(context.args, 'jobs show');
    if (ids.length > 1) throw usageError('jobs show takes one job id.');
    await using store = await context.store.open('use');
    const job = await store.get(ids[0]!);
    if (job === undefined) {
      context.io.err(`No job with id ${ids[0]} in this store.\n`);
      return ExitCode.failure;
    }
    if (context.json) {
      context.io.out(formatJson(jobJson(job)));
      return ExitCode.ok;
    }
    context.io.out(formatJob(job));
    return ExitCode.ok;
  },
};

function formatJob(job: JobInfo): string {
  const fields: [string, Cell][] = [
    ['id', job.id],
    ['name', job.name],
    ['queue', job.queue],
    ['state', job.cancelRequested && job.state === 'running' ? 'running (cancel requested)' : job.state],
    ['attempts', `${job.attempt} of ${job.maxAttempts}`],
    ['priority', job.priority],
    ['run at', isoTime(job.runAt)],
    ['created at', isoTime(job.createdAt)],
    ['finished at', isoTime(job.finishedAt)],
    ['timeout', job.timeoutMs === 0 ? 'none' : `${job.timeoutMs} ms`],
    ['unique key', job.uniqueKey],
  ];
  if (job.leaseOwner !== null) {
    fields.push(['lease', `${job.leaseOwner} until ${isoTime(job.leaseExpiresAt) ?? '-'}`]);
  }
  let text = formatFields(fields);
  text += `\nPayload:\n${indent(JSON.stringify(job.payload, null, 2))}\n`;
  if (job.progress !== null && job.progress !== undefined) {
    text += `\nProgress:\n${indent(JSON.stringify(job.progress, null, 2))}\n`;
  }
  for (const [key, value] of Object.entries(job)) {
    if (SHOWN.has(key) || value === null || value === undefined) continue;
    text += `\n${key[0]!.toUpperCase()}${key.slice(1)}:\n${indent(JSON.stringify(value, null, 2) ?? String(value))}\n`;
  }
  if (job.errors.length === 0) {
    text += '\nNo failed attempts.\n';
    return text;
  }
  text += '\nFailed attempts:\n';
  for (const e of job.errors) {
    text += `  attempt ${e.attempt} at ${isoTime(e.at)} (${e.kind}): ${e.message}\n`;
    // The stack starts with the message again: print only its frames.
    const frames = e.stack
      ?.split('\n')
      .filter((line) => /^\s*at /.test(line))
      .map((line) => line.trim());
    if (frames !== undefined && frames.length > 0) text += `${indent(frames.join('\n'), 6)}\n`;
  }
  return text;
}

/** What happened to one job of a bulk retry or cancel. */
interface BulkResult {
  readonly id: string;
  readonly outcome: string;
  /** Whether the job changed (else the command exits 1). */
  readonly changed: boolean;
  readonly detail: string;
}

/**
 * Runs `action` on the jobs named by id, or on every job matching the filter options (after a confirmation, as for
 * purge), with a progress bar on a terminal for long runs. Prints one line per job named by id, a summary for a
 * filter (and a line per job left unchanged), or the results as JSON.
 */
async function bulk(
  context: CommandContext,
  verb: {
    readonly command: string;
    /** `Retry`, for the question; `label` (`Retrying`) for the progress bar; `past` (`Retried`) for the summary. */
    readonly verb: string;
    readonly label: string;
    readonly past: string;
    readonly states: readonly JobState[];
  },
  action: (store: JobStore, id: string) => Promise<BulkResult>,
): Promise<number> {
  const filter = filterOf(context, verb.states);
  const byFilter = Object.keys(filter).length > 0;
  if (byFilter && context.args.length > 0) {
    throw usageError(`${verb.command} takes job ids or --state (with --queue, --name), not both.`);
  }
  if (byFilter && filter.state === undefined) {
    throw usageError(`${verb.command} by filter needs --state (one of ${verb.states.join(', ')}).`);
  }
  if (!byFilter && context.args.length === 0) {
    throw usageError(
      `${verb.command} needs job ids, or --state (with --queue, --name) for every matching job.`,
    );
  }
  const named = byFilter ? [] : jobIds(context.args, verb.command);
  if (byFilter) assertConfirmable(context, verb.command);
  await using store = await context.store.open('use');
  const ids = byFilter ? await matchingIds(store, filter) : named;
  if (byFilter) {
    if (ids.length === 0) {
      if (context.json) context.io.out(formatJson({ results: [] }));
      else context.io.out(`No ${describeFilter(filter, 0).slice(2)}.\n`);
      return ExitCode.ok;
    }
    if (!(await confirmed(context, `${verb.verb} ${describeFilter(filter, ids.length)}?`))) {
      return ExitCode.failure;
    }
  }
  const bar = new ProgressBar(context.io, verb.label, ids.length, !context.json && ids.length >= 20);
  const results: BulkResult[] = [];
  for (const id of ids) {
    results.push(await action(store, id));
    bar.update(results.length);
  }
  bar.finish();
  if (context.json) {
    context.io.out(formatJson({ results: results.map(({ id, outcome }) => ({ id, outcome })) }));
  } else if (byFilter) {
    const changed = results.filter((r) => r.changed).length;
    context.io.out(`${verb.past} ${changed} of ${ids.length} job${ids.length === 1 ? '' : 's'}.\n`);
    for (const r of results) if (!r.changed) context.io.out(`${r.id}: ${r.detail}\n`);
  } else {
    for (const r of results) context.io.out(`${r.id}: ${r.detail}\n`);
  }
  return results.every((r) => r.changed) ? ExitCode.ok : ExitCode.failure;
}

/** `12 dead jobs of queue emails named send-email`. */
function describeFilter(filter: JobFilter, count: number): string {
  return `${count} ${filter.state ?? ''} job${count === 1 ? '' : 's'}${filter.queue === undefined ? '' : ` of queue ${filter.queue}`}${filter.name === undefined ? '' : ` named ${filter.name}`}`;
}

/** A bulk action by filter asks first on a terminal; elsewhere it runs only with --yes. */
function assertConfirmable(context: CommandContext, command: string): void {
  if (context.values.yes !== true && !context.io.interactive) {
    throw usageError(
      `${command} acts on every matching job: add --yes to run it without a terminal to confirm on.`,
    );
  }
}

/** True with --yes, or when the user answers y. */
async function confirmed(context: CommandContext, question: string): Promise<boolean> {
  if (context.values.yes === true) return true;
  const answer = await context.io.ask(`${question} [y/N] `);
  if (/^y(es)?$/i.test(answer.trim())) return true;
  context.io.err('Nothing done.\n');
  return false;
}

/** The ids of every job matching the filter, newest first, read a page at a time. */
async function matchingIds(store: JobStore, filter: JobFilter): Promise<string[]> {
  const ids: string[] = [];
  let before: string | undefined;
  for (;;) {
    const page = await store.list({ ...filter, limit: 1000, ...(before === undefined ? {} : { before }) });
    for (const job of page) ids.push(job.id);
    if (page.length < 1000) return ids;
    before = page.at(-1)!.id;
  }
}

const retry: Command = {
  words: ['jobs', 'retry'],
  args: '<id>... | --state <state>',
  summary: 'Puts dead or cancelled jobs back in their queue with a fresh set of attempts.',
  details: `Give job ids, or --state dead|cancelled (with --queue, --name) to retry every matching job: that asks first on
a terminal, and runs without one only with --yes. Exits 1 when any job was not found or could not be retried (it
was not dead or cancelled, or a live job now holds its unique key).

Examples:
  hostwork jobs retry 42 43
  hostwork jobs retry --state dead --queue emails --yes`,
  options: ['state', 'queue', 'name', 'yes'],
  run: (context) =>
    bulk(
      context,
      {
        command: 'jobs retry',
        verb: 'Retry',
        label: 'Retrying',
        past: 'Retried',
        states: ['dead', 'cancelled'],
      },
      async (store, id) => {
        if (await store.retry(id, Date.now())) {
          return { id, outcome: 'retried', changed: true, detail: 'retried' };
        }
        const job = await store.get(id);
        if (job === undefined) return { id, outcome: 'not-found', changed: false, detail: 'not found' };
        const detail =
          job.state === 'dead' || job.state === 'cancelled'
            ? `not retried: a pending or running job holds its unique key ${JSON.stringify(job.uniqueKey)}`
            : `not retried: it is ${job.state} (only dead or cancelled jobs are retried)`;
        return { id, outcome: 'not-retryable', changed: false, detail };
      },
    ),
};

const CANCEL_DETAIL: Record<CancelOutcome, string> = {
  cancelled: 'cancelled (it will not run)',
  cancelling: 'cancelling: it is running; its worker aborts it at its next lease renewal',
  finished: 'not cancelled: it had already finished',
  'not-found': 'not found',
};

const cancel: Command = {
  words: ['jobs', 'cancel'],
  args: '<id>... | --state <state>',
  summary: 'Cancels pending jobs (they never run) and asks running ones to stop (they end cancelled).',
  details: `Give job ids, or --state pending|running (with --queue, --name) to cancel every matching job: that asks first
on a terminal, and runs without one only with --yes. Exits 1 when any job was not found or had already finished.

Examples:
  hostwork jobs cancel 42
  hostwork jobs cancel --state pending --name send-newsletter --yes`,
  options: ['state', 'queue', 'name', 'yes'],
  run: (context) =>
    bulk(
      context,
      {
        command: 'jobs cancel',
        verb: 'Cancel',
        label: 'Cancelling',
        past: 'Cancelled',
        states: ['pending', 'running'],
      },
      async (store, id) => {
        const outcome = await store.cancel(id, Date.now());
        return {
          id,
          outcome,
          changed: outcome === 'cancelled' || outcome === 'cancelling',
          detail: CANCEL_DETAIL[outcome],
        };
      },
    ),
};

/** Jobs deleted per statement by `jobs purge`. */
const PURGE_CHUNK = 1_000;

/** The states purge may delete: a running job belongs to a worker. */
const PURGEABLE: readonly JobState[] = ['pending', 'completed', 'dead', 'cancelled'];

const purge: Command = {
  words: ['jobs', 'purge'],
  args: '--state <state>',
  summary: 'Deletes jobs in a state (never running ones), optionally only of a queue or name.',
  details: `--state is required. On a terminal it asks before deleting; elsewhere (a script, a pipeline) it refuses to run
without --yes.

Example:
  hostwork jobs purge --state dead --queue emails --yes`,
  options: ['state', 'queue', 'name', 'yes'],
  async run(context) {
    noArgs(context, 'jobs purge');
    const filter = filterOf(context, PURGEABLE);
    const state = filter.state;
    if (state === undefined) {
      throw usageError(`jobs purge needs --state (one of ${PURGEABLE.join(', ')}).`);
    }
    assertConfirmable(context, 'jobs purge');
    await using store = await context.store.open('use');
    const count = await countMatching(store, filter);
    if (count === 0) {
      if (context.json) context.io.out(formatJson({ purged: 0 }));
      else context.io.out(`Nothing to purge: no ${describeFilter(filter, 0).slice(2)}.\n`);
      return ExitCode.ok;
    }
    if (!(await confirmed(context, `Purge ${describeFilter(filter, count)}?`))) return ExitCode.failure;
    // In chunks: each is a short statement, so workers sharing the database are never held up for long (on SQLite a
    // delete holds the one write lock), and the bar moves as they go.
    const bar = new ProgressBar(context.io, 'Purging', count, !context.json && count >= PURGE_CHUNK);
    bar.update(0);
    let purged = 0;
    for (let n = PURGE_CHUNK; n === PURGE_CHUNK; ) {
      n = await store.purge({ ...filter, limit: PURGE_CHUNK });
      purged += n;
      bar.update(purged);
    }
    bar.finish();
    if (context.json) context.io.out(formatJson({ purged }));
    else context.io.out(`Purged ${purged} job${purged === 1 ? '' : 's'}.\n`);
    return ExitCode.ok;
  },
};

/** How many jobs match: from the counts per queue and state, or by paging through the list when a name is given. */
async function countMatching(store: JobStore, filter: JobFilter): Promise<number> {
  if (filter.name === undefined) {
    return (await store.counts())
      .filter((c) => c.state === filter.state && (filter.queue === undefined || c.queue === filter.queue))
      .reduce((sum, c) => sum + c.count, 0);
  }
  let count = 0;
  let before: string | undefined;
  for (;;) {
    const page = await store.list({ ...filter, limit: 1000, ...(before === undefined ? {} : { before }) });
    count += page.length;
    if (page.length < 1000) return count;
    before = page.at(-1)!.id;
  }
}

/** The `jobs` commands. */
export const JOBS_COMMANDS: readonly Command[] = [list, show, retry, cancel, purge];
