/** `hostwork migrate [--sql]` and `hostwork migrate status`: the job store's schema, for deploys and DBAs. */
import { type Command, ExitCode, usageError } from './command.ts';
import { formatJson } from './output.ts';

const migrate: Command = {
  words: ['migrate'],
  args: '',
  summary: "Creates or upgrades the job store's schema (safe to run from several places at once).",
  details: `With --sql it applies nothing and prints the migration script instead, for a DBA to review or apply
(PostgreSQL only: the SQLite store applies its schema itself). The script is idempotent; the store runs exactly it.

Examples:
  hostwork migrate
  hostwork migrate --database-url "$DATABASE_URL" --schema hostwork
  hostwork migrate --sql --database-url "$DATABASE_URL" > hostwork.sql`,
  options: ['sql'],
  async run(context) {
    if (context.args.length > 0)
      throw usageError(`migrate takes no arguments, got ${context.args.join(' ')}.`);
    if (context.values.sql === true) {
      const choice = context.store.choose();
      if (choice.kind !== 'postgres') {
        throw usageError(
          `migrate --sql prints the PostgreSQL script, but the store is SQLite (${choice.origin}); the SQLite store applies its schema itself (hostwork migrate). Fix: add --database-url <url> to print the PostgreSQL script.`,
        );
      }
      const { migrationSql } = await context.store.postgres();
      context.io.out(migrationSql(choice.schema));
      return ExitCode.ok;
    }
    await using store = await context.store.open('migrate');
    const before = await store.migrationStatus();
    await store.migrate();
    const after = await store.migrationStatus();
    if (context.json) {
      context.io.out(
        formatJson({ from: before.current, to: after.current, applied: before.current !== after.current }),
      );
    } else if (before.current === after.current) {
      context.io.out(`Already at schema version ${after.current}; nothing to apply.\n`);
    } else {
      context.io.out(`Migrated from schema version ${before.current} to ${after.current}.\n`);
    }
    return ExitCode.ok;
  },
};

const status: Command = {
  words: ['migrate', 'status'],
  args: '',
  summary: 'Tells whether migrations are pending (exit 1) or not (exit 0), applying nothing.',
  details: `For deploy pipelines: \`hostwork migrate status || hostwork migrate\`. A SQLite file that does not exist yet, or a
PostgreSQL schema that does not, is at version 0 (pending) and is not created.

Example:
  hostwork migrate status --database-url "$DATABASE_URL"`,
  options: [],
  async run(context) {
    if (context.args.length > 0)
      throw usageError(`migrate status takes no arguments, got ${context.args.join(' ')}.`);
    await using store = await context.store.open('migrate');
    const { current, latest } = await store.migrationStatus();
    const state = current === latest ? 'current' : current < latest ? 'pending' : 'newer';
    if (context.json) {
      context.io.out(formatJson({ current, latest, state }));
    } else if (state === 'current') {
      context.io.out(`Schema version ${current}: up to date.\n`);
    } else if (state === 'pending') {
      context.io.out(
        `Schema version ${current}, this Hostwork writes ${latest}: migrations are pending. Apply them with \`hostwork migrate\`.\n`,
      );
    } else {
      context.io.out(
        `Schema version ${current} was written by a newer Hostwork; this one understands up to ${latest}. Upgrade hostwork.\n`,
      );
    }
    return state === 'current' ? ExitCode.ok : ExitCode.failure;
  },
};

/** The `migrate` commands. */
export const MIGRATE_COMMANDS: readonly Command[] = [migrate, status];
