/**
 * The `hostwork-postgres` command: applies or prints the job store's schema, for deployments where migrations run
 * as a release step or are applied by a DBA rather than by the application at start-up.
 */
import { parseArgs } from 'node:util';
import { HostworkError } from 'hostwork';
import { migrationSql, SCHEMA_VERSION } from './migrations.ts';
import { postgresStore } from './postgres-store.ts';
import { DEFAULT_SCHEMA } from './schema-names.ts';

export const USAGE = `Usage: hostwork-postgres <command> [options]

Commands:
  migrate   create or upgrade the job store's schema in the database (safe to run from several places at once)
  sql       print the migration script, to review or to apply yourself (e.g. | psql "$DATABASE_URL")

Options:
  --schema <name>         the schema of the store's tables (default: ${DEFAULT_SCHEMA})
  --database-url <url>    the database for migrate (default: the DATABASE_URL environment variable)
  --help                  this text
`;

/** Where the command writes. */
export interface CliOutput {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

/** Runs the command; resolves to the exit code (0 success, 1 failure, 2 bad usage). */
export async function runCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  io: CliOutput = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) },
): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        schema: { type: 'string', default: DEFAULT_SCHEMA },
        'database-url': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    });
  }
  try {
    parsed = parse();
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const [command, ...extra] = positionals;
  if (command === undefined || extra.length > 0 || (command !== 'migrate' && command !== 'sql')) {
    io.err(
      `${command === undefined ? 'No command given.' : `Unexpected: ${positionals.join(' ')}.`}\n\n${USAGE}`,
    );
    return 2;
  }
  try {
    if (command === 'sql') {
      io.out(migrationSql(values.schema));
      return 0;
    }
    const url = values['database-url'] ?? env.DATABASE_URL;
    if (url === undefined || url === '') {
      io.err(`No database: set DATABASE_URL or pass --database-url.\n\n${USAGE}`);
      return 2;
    }
    await using store = postgresStore({
      connectionString: url,
      schema: values.schema,
      onWarning: (message) => io.err(`warning: ${message}\n`),
    });
    await store.migrate();
    io.out(`Schema "${values.schema}" is at version ${SCHEMA_VERSION}.\n`);
    return 0;
  } catch (error) {
    io.err(
      `hostwork-postgres ${command} failed: ${error instanceof HostworkError || error instanceof Error ? error.message : String(error)}\n`,
    );
    return 1;
  }
}
