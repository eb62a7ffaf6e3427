/**
 * What every command of the `hostwork` CLI is made of: its words, its options (from one table, so an option means
 * the same everywhere), its help text and its action; and the checks that turn option text into values, refusing
 * bad ones as usage errors (exit 2) that name the option.
 */
import { ErrorCodes, HostworkError } from '../errors.ts';
import type { JobState } from '../jobs/job-record.ts';
import { JOB_STATES } from '../jobs/job-record.ts';
import type { CliIo } from './output.ts';
import type { StoreAccess } from './store-resolution.ts';

/** Exit codes: 0 success, 1 a failure (not found, pending migrations, an unreachable store), 2 bad usage. */
export const ExitCode = { ok: 0, failure: 1, usage: 2 } as const;

/** One option of the table below. */
interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** `--name <value>` in help; empty for a flag. */
  readonly value: string;
  readonly help: string;
}

/** Every option of every command. */
export const OPTIONS = {
  // Store selection and output, accepted by every command.
  sqlite: { type: 'string', value: '<path>', help: 'use the SQLite job database at this path' },
  'database-url': {
    type: 'string',
    value: '<url>',
    help: 'use the PostgreSQL database at this URL (postgres://user:password@host:5432/database)',
  },
  schema: {
    type: 'string',
    value: '<name>',
    help: 'the PostgreSQL schema of the job store (default: Jobs:Postgres:Schema, else hostwork)',
  },
  cwd: {
    type: 'string',
    value: '<dir>',
    help: "the application's folder: its hostwork.json is read, relative paths in it resolve here (default: .)",
  },
  environment: {
    type: 'string',
    value: '<name>',
    help: 'selects hostwork.<name>.json (default: HOSTWORK_ENVIRONMENT, else NODE_ENV, else Production)',
  },
  json: { type: 'boolean', value: '', help: 'print one JSON document for scripts instead of text' },
  help: { type: 'boolean', short: 'h', value: '', help: 'show help' },
  version: { type: 'boolean', value: '', help: "print the hostwork package's version" },
  // Command options.
  queue: { type: 'string', value: '<name>', help: 'only jobs of this queue' },
  state: { type: 'string', value: '<state>', help: `only jobs in this state (${JOB_STATES.join(', ')})` },
  name: { type: 'string', value: '<job>', help: 'only jobs of this name' },
  limit: { type: 'string', value: '<n>', help: 'at most this many (default 20, at most 1000)' },
  before: { type: 'string', value: '<id>', help: 'the next page: jobs older than this id' },
  yes: { type: 'boolean', short: 'y', value: '', help: 'do not ask for confirmation' },
  sql: { type: 'boolean', value: '', help: 'print the migration script instead of applying it' },
  payload: { type: 'string', value: '<json>', help: "the job's payload as JSON (required)" },
  priority: { type: 'string', value: '<n>', help: 'higher runs first (default 0)' },
  'run-at': { type: 'string', value: '<iso-time>', help: 'run no earlier than this time' },
  delay: { type: 'string', value: '<ms>', help: 'run no earlier than this many ms from now' },
  'max-attempts': { type: 'string', value: '<n>', help: 'attempts before the job goes dead (default 10)' },
  timeout: { type: 'string', value: '<ms>', help: 'per-attempt timeout in ms, 0 for none (default 0)' },
  port: { type: 'string', value: '<n>', help: 'the port to listen on, 0 for any free one (default 4000)' },
  host: { type: 'string', value: '<address>', help: 'the address to listen on (default 127.0.0.1)' },
  'base-path': {
    type: 'string',
    value: '<path>',
    help: 'serve under this path, e.g. /jobs (default: the root)',
  },
  'read-only': { type: 'boolean', value: '', help: 'refuse every request that changes something' },
  'no-auth': { type: 'boolean', value: '', help: 'no authentication: serve loopback clients only' },
  drop: { type: 'boolean', value: '', help: 'drop the index instead of creating it' },
  'unique-key': {
    type: 'string',
    value: '<key>',
    help: 'store nothing while a pending or running job holds this key',
  },
} as const satisfies Record<string, OptionSpec>;

/** The name of an option of {@link OPTIONS}. */
export type OptionName = keyof typeof OPTIONS;

/** The options every command accepts. */
export const GLOBAL_OPTIONS: readonly OptionName[] = [
  'sqlite',
  'database-url',
  'schema',
  'cwd',
  'environment',
  'json',
  'help',
  'version',
];

/** The parsed option values: strings for value options, booleans for flags. */
export type OptionValues = {
  readonly [K in OptionName]?: (typeof OPTIONS)[K]['type'] extends 'string' ? string : boolean;
};

/** What a command's action gets. */
export interface CommandContext {
  readonly io: CliIo;
  readonly values: OptionValues;
  /** The words after the command's own. */
  readonly args: readonly string[];
  readonly json: boolean;
  /** Opens the job store the way the application finds it (see store-resolution.ts). */
  readonly store: StoreAccess;
  /** The environment the command runs in. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** One command: `hostwork <words...> [args] [options]`. */
export interface Command {
  readonly words: readonly string[];
  /** The arguments after the words, for the usage line: `<id>...`. */
  readonly args: string;
  readonly summary: string;
  /** More lines of help, shown by `--help`. */
  readonly details?: string;
  readonly options: readonly OptionName[];
  readonly run: (context: CommandContext) => Promise<number>;
}

/** A usage error: the command exits 2 and prints the usage of `command`. */
export function usageError(message: string): HostworkError {
  return new HostworkError(ErrorCodes.CLI_USAGE, message);
}

/** The help text of a command. */
export function commandHelp(command: Command): string {
  const options = [...command.options, ...GLOBAL_OPTIONS];
  const rows = options.map((name) => {
    const spec: OptionSpec = OPTIONS[name];
    const flag = `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.value ? ` ${spec.value}` : ''}`;
    return [flag, spec.help] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length));
  const lines = rows.map(([flag, help]) => `  ${flag.padEnd(width)}  ${help}`);
  return `Usage: hostwork ${command.words.join(' ')}${command.args ? ` ${command.args}` : ''} [options]

${command.summary}
${command.details ? `\n${command.details.trimEnd()}\n` : ''}
Options:
${lines.join('\n')}
`;
}

/** `--limit` and the like: an integer within bounds, or a usage error naming the option. */
export function integerOption(
  values: OptionValues,
  name: OptionName,
  bounds: { readonly min: number; readonly max?: number },
): number | undefined {
  const text = values[name];
  if (text === undefined || typeof text === 'boolean') return undefined;
  const value = /^-?\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  const max = bounds.max ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(value) || value < bounds.min || value > max) {
    throw usageError(
      `--${name} must be a whole number from ${bounds.min}${bounds.max === undefined ? ' up' : ` to ${bounds.max}`}, got ${JSON.stringify(text)}.`,
    );
  }
  return value;
}

/** A non-empty string option, or undefined when not given. */
export function textOption(values: OptionValues, name: OptionName): string | undefined {
  const text = values[name];
  if (text === undefined || typeof text === 'boolean') return undefined;
  if (text.trim() === '') throw usageError(`--${name} must not be empty.`);
  return text;
}

/** `--state`, checked against the states `allowed` (every state by default). */
export function stateOption(
  values: OptionValues,
  allowed: readonly JobState[] = JOB_STATES,
): JobState | undefined {
  const text = textOption(values, 'state');
  if (text === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(text)) {
    throw usageError(`--state must be one of ${allowed.join(', ')}, got ${JSON.stringify(text)}.`);
  }
  return text as JobState;
}

/** Job ids: whole numbers in both stores; anything else is refused before it reaches a database. */
export function jobIds(args: readonly string[], command: string): string[] {
  if (args.length === 0) throw usageError(`${command} needs at least one job id.`);
  for (const id of args) {
    if (!/^\d{1,18}$/.test(id)) throw usageError(`Job ids are whole numbers, got ${JSON.stringify(id)}.`);
  }
  return [...args];
}
