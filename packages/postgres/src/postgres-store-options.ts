import { assertKnownKeys, ErrorCodes, HostworkError } from 'hostwork';
import type pg from 'pg';
import { assertSchemaName, DEFAULT_SCHEMA } from './schema-names.ts';
import type { PoolSource } from './store-pool.ts';
import type { WarningListener } from './warnings.ts';

/** How the PostgreSQL job store connects and behaves. Every option is optional. */
export interface PostgresStoreOptions {
  // `| undefined` on optional options: with exactOptionalPropertyTypes, `{ key: process.env.X }` still type-checks
  // (an undefined value means the default).
  /**
   * The database, as a URL (`postgres://user:password@host:5432/database`). Default: the `DATABASE_URL` environment
   * variable. Give either this or `pool`.
   */
  readonly connectionString?: string | undefined;
  /**
   * An existing node-postgres pool to use instead of creating one (e.g. the application's). The store does not end
   * it on close. Its connection settings also open the store's LISTEN connection.
   */
  readonly pool?: pg.Pool | undefined;
  /** The schema holding the store's tables, created by `migrate()` if missing. Default: `'hostwork'`. */
  readonly schema?: string | undefined;
  /** Connections of the pool the store creates (not allowed with `pool`). Default: 10. */
  readonly poolSize?: number | undefined;
  /**
   * While the LISTEN connection is down (and reconnecting), how often listeners are woken anyway, in ms, so workers
   * still find new jobs. Default: 1,000.
   */
  readonly pollIntervalMs?: number | undefined;
  /**
   * While a `JobClient.waitFor` of this process waits, how often the jobs it waits for are read again (one query for
   * all of them), in ms: the delay with which a job completed by another process is seen. Default: 250.
   */
  readonly settledPollIntervalMs?: number | undefined;
  /**
   * `true` (default): `migrate()` creates or upgrades the schema. `false`: it only checks that the schema is
   * current and fails otherwise, for databases whose schema a DBA applies (`hostwork migrate --sql`).
   */
  readonly migrate?: boolean | undefined;
  /**
   * Receives warnings about trouble the store recovers from by itself: a lost LISTEN connection, an idle pool
   * connection failing, a query waiting or running longer than `slowQueryWarningMs`, a clock far from the server's.
   * Default: in a host (`addJobs`), the host's logger, category `Hostwork.Postgres`, one structured line per warning;
   * outside a host, `process.emitWarning`. Given, it receives every warning, in a host too.
   */
  readonly onWarning?: WarningListener | undefined;
  /** How long a query may wait for a pool connection, or run, before a warning is raised, in ms. Default: 5,000. */
  readonly slowQueryWarningMs?: number | undefined;
}

/** The options with every default applied. */
export interface ResolvedPostgresStoreOptions {
  readonly source: PoolSource;
  readonly schema: string;
  readonly pollIntervalMs: number;
  readonly settledPollIntervalMs: number;
  readonly migrate: boolean;
  /** The application's listener, if it gave one. */
  readonly onWarning: WarningListener | undefined;
  readonly slowQueryWarningMs: number;
}

const KNOWN_KEYS = [
  'connectionString',
  'pool',
  'schema',
  'poolSize',
  'pollIntervalMs',
  'settledPollIntervalMs',
  'migrate',
  'onWarning',
  'slowQueryWarningMs',
];

const WHERE = 'postgresStore options';

/** Applies the defaults, refusing unknown keys and bad values with a message naming them. */
export function resolvePostgresStoreOptions(
  given: PostgresStoreOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): ResolvedPostgresStoreOptions {
  assertKnownKeys(WHERE, given, KNOWN_KEYS);
  const {
    connectionString,
    pool,
    schema = DEFAULT_SCHEMA,
    poolSize,
    pollIntervalMs = 1_000,
    settledPollIntervalMs = 250,
    migrate = true,
    onWarning,
    slowQueryWarningMs = 5_000,
  } = given;
  assertSchemaName(schema, WHERE);
  if (pool !== undefined && connectionString !== undefined) {
    throw invalid('give either connectionString or pool, not both');
  }
  if (pool !== undefined && poolSize !== undefined) {
    throw invalid('poolSize applies only to the pool the store creates; size your own pool instead');
  }
  if (pool !== undefined && (typeof pool !== 'object' || typeof pool.connect !== 'function')) {
    throw invalid('pool must be a pg.Pool');
  }
  if (poolSize !== undefined && !(Number.isInteger(poolSize) && poolSize >= 1)) {
    throw invalid(`poolSize must be an integer >= 1, got ${poolSize}`);
  }
  if (!(Number.isFinite(pollIntervalMs) && pollIntervalMs >= 1)) {
    throw invalid(`pollIntervalMs must be a number >= 1, got ${pollIntervalMs}`);
  }
  if (!(Number.isFinite(settledPollIntervalMs) && settledPollIntervalMs >= 1)) {
    throw invalid(`settledPollIntervalMs must be a number >= 1, got ${settledPollIntervalMs}`);
  }
  if (typeof migrate !== 'boolean') throw invalid(`migrate must be true or false, got ${String(migrate)}`);
  if (onWarning !== undefined && typeof onWarning !== 'function')
    throw invalid('onWarning must be a function (message, error?) => void');
  if (!(Number.isFinite(slowQueryWarningMs) && slowQueryWarningMs >= 1)) {
    throw invalid(`slowQueryWarningMs must be a number >= 1, got ${slowQueryWarningMs}`);
  }
  let source: PoolSource;
  if (pool !== undefined) {
    source = { kind: 'given', pool };
  } else {
    const url = connectionString ?? env.DATABASE_URL;
    if (typeof url !== 'string' || url.trim() === '') {
      throw invalid(
        connectionString === undefined
          ? 'no database given: pass connectionString or pool, or set the DATABASE_URL environment variable'
          : 'connectionString must be a non-empty string',
      );
    }
    source = { kind: 'own', connectionString: url, max: poolSize ?? 10 };
  }
  return {
    source,
    schema,
    pollIntervalMs,
    settledPollIntervalMs,
    migrate,
    onWarning,
    slowQueryWarningMs,
  };
}

function invalid(problem: string): HostworkError {
  return new HostworkError(ErrorCodes.INVALID_OPTION, `${WHERE}: ${problem}.`);
}
