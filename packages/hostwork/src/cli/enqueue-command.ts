/** `hostwork enqueue <name> --payload <json>`: stores a job from the command line. */
import { jobDefaults } from '../jobs/job-definition.ts';
import type { NewJob } from '../jobs/job-record.ts';
import { type Command, ExitCode, integerOption, textOption, usageError } from './command.ts';
import { formatJson, isoTime } from './output.ts';

const enqueue: Command = {
  words: ['enqueue'],
  args: '<name>',
  summary: 'Stores a job with a payload given as JSON, for a worker of the application to run.',
  details: `The command does not know the application's job definitions, so:
- the payload is not checked against the job's schema here: the worker validates it before the handler runs, and
  a payload the schema refuses sends the job to dead (see it with \`hostwork jobs show <id>\`);
- the definition's defaults (queue, priority, maxAttempts, timeout) are not known: give --queue, --priority,
  --max-attempts and --timeout when the definition sets its own; otherwise Hostwork's defaults apply
  (queue default, priority 0, 10 attempts, no timeout, the default backoff).

Example:
  hostwork enqueue send-email --payload '{"to":"ada@example.com","subject":"Hi"}' --queue emails`,
  options: ['payload', 'queue', 'priority', 'run-at', 'delay', 'max-attempts', 'timeout', 'unique-key'],
  async run(context) {
    const { values } = context;
    if (context.args.length !== 1) {
      throw usageError(
        `enqueue takes one job name, got ${context.args.length === 0 ? 'none' : context.args.join(' ')}.`,
      );
    }
    const name = context.args[0]!;
    if (name.trim() === '') throw usageError('The job name must not be empty.');
    const payloadText = values.payload;
    if (payloadText === undefined) {
      throw usageError(`enqueue needs --payload <json>, the job's payload (e.g. --payload '{}').`);
    }
    let payload: unknown;
    try {
      payload = JSON.parse(payloadText);
    } catch (error) {
      throw usageError(
        `--payload is not valid JSON (${(error as Error).message}). Quote it for the shell: --payload '{"to":"ada@example.com"}'.`,
      );
    }
    if (values['run-at'] !== undefined && values.delay !== undefined) {
      throw usageError('Give either --run-at or --delay, not both.');
    }
    const now = Date.now();
    let runAt = now;
    if (values['run-at'] !== undefined) {
      runAt = Date.parse(values['run-at']);
      if (Number.isNaN(runAt)) {
        throw usageError(
          `--run-at must be an ISO 8601 time such as 2030-01-31T09:00:00Z, got ${JSON.stringify(values['run-at'])}.`,
        );
      }
    } else {
      runAt = now + (integerOption(values, 'delay', { min: 0 }) ?? 0);
    }
    const job: NewJob = {
      name,
      queue: textOption(values, 'queue') ?? jobDefaults.queue,
      payload: JSON.stringify(payload),
      priority:
        integerOption(values, 'priority', { min: -2_147_483_648, max: 2_147_483_647 }) ??
        jobDefaults.priority,
      runAt,
      maxAttempts:
        integerOption(values, 'max-attempts', { min: 1, max: 2_147_483_647 }) ?? jobDefaults.maxAttempts,
      timeoutMs: integerOption(values, 'timeout', { min: 0 }) ?? jobDefaults.timeout,
      uniqueKey: textOption(values, 'unique-key') ?? null,
      backoff: null,
    };
    await using store = await context.store.open('use');
    const [result] = await store.insert([job]);
    const { id, outcome } = result!;
    if (context.json) {
      context.io.out(formatJson({ id, outcome, name, queue: job.queue, runAt: isoTime(runAt) }));
    } else if (outcome === 'inserted') {
      context.io.out(`Enqueued job ${id} (${name}) in queue ${job.queue}, to run at ${isoTime(runAt)}.\n`);
    } else {
      context.io.out(
        `Not enqueued: job ${id} is pending or running with unique key ${JSON.stringify(job.uniqueKey)}.\n`,
      );
    }
    return ExitCode.ok;
  },
};

/** The `enqueue` command. */
export const ENQUEUE_COMMANDS: readonly Command[] = [enqueue];
