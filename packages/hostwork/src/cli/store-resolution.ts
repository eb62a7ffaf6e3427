/**
 * How the `hostwork` command finds the job store: the way the application does, so that running it in the
 * application's folder reaches the application's jobs.
 *
 * The order: `--sqlite <path>` or `--database-url <url>`; else the configuration the application reads (hostwork.json,
 * hostwork.<Environment>.json, environment variables such as JOBS__POSTGRES__CONNECTIONSTRING), where
 * `Jobs:Postgres:ConnectionString` selects PostgreSQL (schema `Jobs:Postgres:Schema`), a `Jobs:Postgres` section without
 * a connection string selects PostgreSQL at `DATABASE_URL` (what the generated projects do), and otherwise
 * `Jobs:Sqlite:Path` the SQLite file; else the default SQLite file `.data/hostwork-jobs.db`.
 *
 * Only `migrate` changes a schema. Every other command refuses a SQLite file that does not exist (a mistyped path
 * must not create an empty database) and a store whose schema is missing, older or newer than this Hostwork's.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Configuration } from '../config/configuration.ts';
import { defaultConfigSources } from '../config/defaults.ts';
import { resolveEnvironmentName } from '../config/environment.ts';
import { ErrorCodes, HostworkError } from '../errors.ts';
import { DEFAULT_SQLITE_PATH } from '../jobs/add-jobs.ts';
import type { JobStore } from '../jobs/job-store.ts';
import type { MigrationStatus } from '../jobs/migration-status.ts';
import { sqliteStore } from '../stores/sqlite/sqlite-store.ts';
import { type OptionValues, usageError } from './command.ts';
import type { CliIo } from './output.ts';

/** The store the command uses, and where that choice came from (for messages). */
export type StoreChoice =
  | {
      readonly kind: 'sqlite';
      readonly path: string;
      readonly origin: string;
      /** Why PostgreSQL may have been meant, for the message when the file is missing. */
      readonly postgresHint?: string;
    }
  | {
      readonly kind: 'postgres';
      readonly url: string;
      readonly schema: string;
      readonly origin: string;
    };

/** A store with the one thing the command needs beyond {@link JobStore}. */
export type InspectableStore = JobStore & { migrationStatus(): Promise<MigrationStatus> };

/** What the command uses of `@hostwork/postgres`, loaded only when the store is PostgreSQL. */
interface PostgresModule {
  postgresStore(options: {
    connectionString: string;
    schema: string;
    migrate: boolean;
    poolSize: number;
    onWarning: (message: string) => void;
  }): InspectableStore;
  migrationSql(schema: string): string;
}

/** Held in a variable so that TypeScript does not resolve it: `@hostwork/postgres` is an optional peer. */
const POSTGRES_PACKAGE: string = '@hostwork/postgres';

/** Why the store is opened: `use` refuses anything but a current store; `migrate` may create or upgrade it. */
export type OpenPurpose = 'use' | 'migrate';

/** Finds, describes and opens the store for one command. */
export interface StoreAccess {
  /** Which store the command line and configuration select (connects to nothing). */
  choose(): StoreChoice;
  /** Opens the store; human output gets one line on stderr saying which. Close it with `await using`. */
  open(purpose: OpenPurpose): Promise<InspectableStore>;
  /** `@hostwork/postgres`, or an error saying to install it. */
  postgres(): Promise<PostgresModule>;
  /** The chosen store in words: `SQLite /srv/app/.data/jobs.db (from hostwork.json)`. */
  describe(): string;
}

/** The store access of one command run. */
export function storeAccess(
  values: OptionValues,
  env: Readonly<Record<string, string | undefined>>,
  io: CliIo,
): StoreAccess {
  let chosen: StoreChoice | undefined;
  const choose = (): StoreChoice => {
    chosen ??= chooseStore(values, env);
    return chosen;
  };
  const describe = () => describeChoice(choose());
  const postgres = () => loadPostgres(choose());
  return {
    choose,
    describe,
    postgres,
    async open(purpose) {
      const choice = choose();
      if (values.json !== true) io.err(`store: ${describe()}\n`);
      let store: InspectableStore;
      if (choice.kind === 'sqlite') {
        if (purpose === 'use' && !existsSync(choice.path)) throw missingDatabase(choice, env);
        store = sqliteStore({ path: choice.path });
      } else {
        const module = await postgres();
        store = module.postgresStore({
          connectionString: choice.url,
          schema: choice.schema,
          // Only `migrate` changes the schema: the other commands check it and refuse instead.
          migrate: purpose === 'migrate',
          poolSize: 2,
          onWarning: (message) => io.err(`warning: ${message}\n`),
        });
      }
      try {
        // The first round trip: it tells an unreachable database apart from everything later.
        const status = await readStatus(store, choice);
        if (purpose === 'use') assertCurrent(status, choice);
      } catch (error) {
        await store.close();
        throw error;
      }
      return store;
    },
  };
}

/** Applies the store discovery order (see the module comment). */
export function chooseStore(
  values: OptionValues,
  env: Readonly<Record<string, string | undefined>>,
): StoreChoice {
  const cwd = resolve(values.cwd ?? '.');
  if (values.sqlite !== undefined && values['database-url'] !== undefined) {
    throw usageError('Give either --sqlite or --database-url, not both.');
  }
  if (values.sqlite !== undefined) {
    if (values.sqlite.trim() === '') throw usageError('--sqlite must be a file path.');
    return withoutSchema(values, { kind: 'sqlite', path: resolve(values.sqlite), origin: '--sqlite' });
  }
  const configuration = Configuration.fromSources(
    defaultConfigSources({
      contentRoot: cwd,
      environmentName: values.environment ?? resolveEnvironmentName(env),
      env,
      // The command's own arguments are not configuration.
      args: [],
    }),
  );
  const configuredSchema = configuration.get('Jobs:Postgres:Schema');
  const schema =
    values.schema ??
    (typeof configuredSchema === 'string' && configuredSchema !== '' ? configuredSchema : 'hostwork');
  if (values['database-url'] !== undefined) {
    if (values['database-url'].trim() === '') throw usageError('--database-url must be a PostgreSQL URL.');
    return { kind: 'postgres', url: values['database-url'], schema, origin: '--database-url' };
  }
  const url = configuration.get('Jobs:Postgres:ConnectionString');
  if (typeof url === 'string' && url.trim() !== '') {
    return {
      kind: 'postgres',
      url,
      schema,
      origin: configuration.origin('Jobs:Postgres:ConnectionString') ?? 'configuration',
    };
  }
  // A Jobs:Postgres section without a connection string (the schema only): the application then takes the URL from
  // DATABASE_URL, as the projects `npm create hostwork` writes do, and so does this command.
  const databaseUrl = env.DATABASE_URL;
  if (configuration.has('Jobs:Postgres') && databaseUrl !== undefined && databaseUrl.trim() !== '') {
    return {
      kind: 'postgres',
      url: databaseUrl,
      schema,
      origin: 'DATABASE_URL, the configuration having a Jobs:Postgres section without a connection string',
    };
  }
  const postgresHint = configuration.has('Jobs:Postgres')
    ? ` The configuration has a Jobs:Postgres section (${configuration.keys().find((k) => k.toLowerCase().startsWith('jobs:postgres:')) ?? 'Jobs:Postgres'}) but no Jobs:Postgres:ConnectionString, and DATABASE_URL is not set: for the PostgreSQL store, set DATABASE_URL or add --database-url <url>.`
    : undefined;
  const path = configuration.get('Jobs:Sqlite:Path');
  if (typeof path === 'string' && path.trim() !== '') {
    return withoutSchema(values, {
      kind: 'sqlite',
      path: resolve(cwd, path),
      origin: `Jobs:Sqlite:Path from ${configuration.origin('Jobs:Sqlite:Path') ?? 'configuration'}`,
      ...(postgresHint === undefined ? {} : { postgresHint }),
    });
  }
  return withoutSchema(values, {
    kind: 'sqlite',
    path: resolve(cwd, DEFAULT_SQLITE_PATH),
    origin: 'the default; no store configured',
    ...(postgresHint === undefined ? {} : { postgresHint }),
  });
}

function withoutSchema(values: OptionValues, choice: StoreChoice): StoreChoice {
  if (values.schema !== undefined) {
    throw usageError(
      `--schema is for PostgreSQL, but the store is SQLite (${choice.origin}). Fix: add --database-url, or drop --schema.`,
    );
  }
  return choice;
}

/** The store in words, with the password of a URL hidden. */
export function describeChoice(choice: StoreChoice): string {
  return choice.kind === 'sqlite'
    ? `SQLite ${choice.path} (${choice.origin})`
    : `PostgreSQL ${redact(choice.url)}, schema "${choice.schema}" (from ${choice.origin})`;
}

function redact(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
}

async function loadPostgres(choice: StoreChoice): Promise<PostgresModule> {
  try {
    return (await import(POSTGRES_PACKAGE)) as PostgresModule;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String((error as Error).message).includes(POSTGRES_PACKAGE)) {
      throw new HostworkError(
        ErrorCodes.STORE_OPEN,
        `The job store is PostgreSQL (from ${choice.origin}), which needs the package ${POSTGRES_PACKAGE}. Fix: npm install ${POSTGRES_PACKAGE}`,
      );
    }
    throw error;
  }
}

function missingDatabase(
  choice: Extract<StoreChoice, { kind: 'sqlite' }>,
  env: Readonly<Record<string, string | undefined>>,
): HostworkError {
  let hint = choice.postgresHint ?? '';
  if (env.DATABASE_URL !== undefined && env.DATABASE_URL !== '') {
    hint +=
      ' DATABASE_URL is set, but the configuration has no Jobs:Postgres section (which would select it): add --database-url "$DATABASE_URL".';
  }
  return new HostworkError(
    ErrorCodes.STORE_OPEN,
    `No job database at ${choice.path} (${choice.origin}). Fix: run the command in the application's folder or pass --cwd <dir>, check --sqlite or Jobs:Sqlite:Path, or create the database with \`hostwork migrate\`.${hint}`,
  );
}

async function readStatus(store: InspectableStore, choice: StoreChoice): Promise<MigrationStatus> {
  try {
    return await store.migrationStatus();
  } catch (error) {
    if (error instanceof HostworkError || choice.kind !== 'postgres') throw error;
    const reason =
      error instanceof AggregateError && error.message === ''
        ? error.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))).join('; ')
        : (error as Error).message;
    throw new HostworkError(
      ErrorCodes.STORE_OPEN,
      `Cannot use ${describeChoice(choice)}: ${reason}. Fix: check the URL (--database-url or Jobs:Postgres:ConnectionString), that the server runs and this machine may connect to it.`,
      { cause: error },
    );
  }
}

/** Refuses a store that is missing, behind or ahead of this Hostwork: only `migrate` changes a schema. */
function assertCurrent(status: MigrationStatus, choice: StoreChoice): void {
  const where = describeChoice(choice);
  if (status.current === status.latest) return;
  if (status.current === 0) {
    const check = choice.kind === 'postgres' ? '--schema or Jobs:Postgres:Schema' : 'the path';
    throw new HostworkError(
      ErrorCodes.STORE_OPEN,
      `${where} holds no job store. Fix: check ${check}, or create the store with \`hostwork migrate\`.`,
    );
  }
  if (status.current < status.latest) {
    throw new HostworkError(
      ErrorCodes.STORE_OPEN,
      `${where} is at schema version ${status.current}; this Hostwork needs version ${status.latest}. Fix: apply the migrations with \`hostwork migrate\` (\`hostwork migrate status\` shows what is pending).`,
    );
  }
  throw new HostworkError(
    ErrorCodes.STORE_OPEN,
    `${where} is at schema version ${status.current}, written by a newer Hostwork; this one understands up to ${status.latest}. Fix: upgrade the hostwork package this command comes from.`,
  );
}
