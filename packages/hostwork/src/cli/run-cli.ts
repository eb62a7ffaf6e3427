/**
 * The `hostwork` command: reads the command line (node:util parseArgs over one table of options), picks the
 * command, checks its options, runs it and turns what went wrong into a message that names the fix and an exit code
 * (0 ok, 1 failure, 2 bad usage).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ErrorCodes, HostworkError } from '../errors.ts';
import {
  type Command,
  commandHelp,
  ExitCode,
  GLOBAL_OPTIONS,
  OPTIONS,
  type OptionName,
  type OptionValues,
  usageError,
} from './command.ts';
import { DASHBOARD_COMMANDS } from './dashboard-command.ts';
import { ENQUEUE_COMMANDS } from './enqueue-command.ts';
import { JOBS_COMMANDS } from './jobs-commands.ts';
import { MIGRATE_COMMANDS } from './migrate-commands.ts';
import { type CliIo, processIo } from './output.ts';
import { QUEUES_COMMANDS } from './queues-command.ts';
import { SCHEDULES_COMMANDS } from './schedules-commands.ts';
import { storeAccess } from './store-resolution.ts';

/** Every command, in the order of the help. */
export const COMMANDS: readonly Command[] = [
  ...JOBS_COMMANDS,
  ...QUEUES_COMMANDS,
  ...SCHEDULES_COMMANDS,
  ...MIGRATE_COMMANDS,
  ...ENQUEUE_COMMANDS,
  ...DASHBOARD_COMMANDS,
];

function mainHelp(commands: readonly Command[] = COMMANDS, heading = '<command>'): string {
  const width = Math.max(...commands.map((c) => c.words.join(' ').length + (c.args ? c.args.length + 1 : 0)));
  const lines = commands.map(
    (c) => `  ${`${c.words.join(' ')}${c.args ? ` ${c.args}` : ''}`.padEnd(width)}  ${c.summary}`,
  );
  return `Usage: hostwork ${heading} [options]

Inspects and operates the job store of a Hostwork application.

Commands:
${lines.join('\n')}

The store: --sqlite <path> or --database-url <url> (with --schema <name>); otherwise the application's configuration
(hostwork.json, hostwork.<Environment>.json, environment variables) read from the current folder or --cwd <dir>:
Jobs:Postgres:ConnectionString and Jobs:Postgres:Schema, else Jobs:Sqlite:Path, else .data/hostwork-jobs.db.

--json prints one JSON document for scripts; --version the version. Exit codes: 0 ok, 1 failure (not found, pending migrations, store
unreachable), 2 bad usage. 'hostwork <command> --help' shows a command's options.
`;
}

/** Runs the command line `args`; resolves to the exit code. */
export async function runCli(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
  io: CliIo = processIo(),
): Promise<number> {
  // Until the command line is parsed, the words that look like a command name the help to point to.
  let command = findCommand(args.filter((a) => !a.startsWith('-')));
  try {
    const { values, positionals, tokens } = parse(args);
    if (values.version === true) {
      io.out(`${packageVersion()}\n`);
      return ExitCode.ok;
    }
    command = findCommand(positionals);
    if (command === undefined) {
      const group = COMMANDS.filter((c) => c.words[0] === positionals[0] && c.words.length > 1);
      if (values.help === true && positionals.length <= 1) {
        io.out(group.length > 0 ? mainHelp(group, `${positionals[0]} <command>`) : mainHelp());
        return ExitCode.ok;
      }
      let problem = 'No command given.';
      if (group.length > 0 && positionals.length === 1) {
        problem = `'${positionals[0]}' needs a command: ${group.map((c) => c.words[1]).join(', ')}.`;
      } else if (positionals.length > 0) {
        problem = `Unknown command '${positionals.slice(0, group.length > 0 ? 2 : 1).join(' ')}'.`;
      }
      io.err(
        `hostwork: ${problem}\n\n${group.length > 0 ? mainHelp(group, `${positionals[0]} <command>`) : mainHelp()}`,
      );
      return ExitCode.usage;
    }
    const allowed = new Set<string>([...command.options, ...GLOBAL_OPTIONS]);
    for (const token of tokens) {
      if (token.kind === 'option' && !allowed.has(token.name)) {
        throw usageError(`--${token.name} is not an option of 'hostwork ${command.words.join(' ')}'.`);
      }
    }
    if (values.help === true) {
      io.out(commandHelp(command));
      return ExitCode.ok;
    }
    return await command.run({
      io,
      values,
      args: positionals.slice(command.words.length),
      json: values.json === true,
      store: storeAccess(values, env, io),
      env,
    });
  } catch (error) {
    if (error instanceof HostworkError && error.code === ErrorCodes.CLI_USAGE) {
      const help = command ? `hostwork ${command.words.join(' ')} --help` : 'hostwork --help';
      io.err(`hostwork: ${error.message}\nSee '${help}'.\n`);
      return ExitCode.usage;
    }
    io.err(`hostwork: ${describeError(error)}\n`);
    return ExitCode.failure;
  }
}

function parse(args: readonly string[]) {
  const options = Object.fromEntries(
    Object.entries(OPTIONS).map(([name, spec]) => [
      name,
      { type: spec.type, ...('short' in spec ? { short: spec.short } : {}) },
    ]),
  ) as Record<OptionName, { type: 'string' | 'boolean'; short?: string }>;
  try {
    const parsed = parseArgs({
      args: [...args],
      options,
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
    return { ...parsed, values: parsed.values as OptionValues };
  } catch (error) {
    // parseArgs names the option at fault ("Unknown option '--stat'", "Option '--limit <value>' argument missing").
    throw usageError((error as Error).message.replace(/\. To specify a positional argument.*$/s, '.'));
  }
}

/** The version of the hostwork package this command belongs to (src/cli and dist/cli are both two levels down). */
function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

/** The command whose words start the positionals, the longest such (`migrate status` before `migrate`). */
function findCommand(positionals: readonly string[]): Command | undefined {
  let found: Command | undefined;
  for (const command of COMMANDS) {
    if (command.words.every((word, i) => positionals[i] === word)) {
      if (found === undefined || command.words.length > found.words.length) found = command;
    }
  }
  return found;
}

/** The message of an error, with what it wraps: a connection failure is often an AggregateError with no message. */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  let message = error.message;
  if (message === '' && error instanceof AggregateError) {
    message = error.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))).join('; ');
  }
  const cause = error.cause;
  if (cause instanceof Error && cause.message !== '' && !message.includes(cause.message)) {
    message += ` (${cause.message})`;
  }
  return message === '' ? error.name : message;
}
