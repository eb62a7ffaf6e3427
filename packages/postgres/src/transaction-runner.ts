/**
 * Runs the store's statements through the application's own transaction, for transactional enqueue
 * (`insert(jobs, { tx })`) and `completeWithin(tx, ...)`: the writes commit or roll back with the application's.
 *
 * Two drivers are understood, recognized by shape (the application may load its own copy of either):
 * - node-postgres: a `pg.PoolClient` or `pg.Client` on which the application ran BEGIN (it has `query`);
 * - postgres.js: the `tx` that `sql.begin(async (tx) => ...)` passes (it has `unsafe` and `savepoint`).
 * Anything else is refused with an error that says what to pass, rather than written outside the transaction.
 */
import { ErrorCodes, HostworkError } from 'hostwork';
import { type Row, STORE_TYPES } from './rows.ts';
import type { Statement } from './statements.ts';

/** What a statement run through the application's transaction returns. */
export interface TransactionResult {
  readonly rows: readonly Row[];
}

/** Runs a statement inside the application's transaction. */
export type StatementRunner = (
  statement: Statement,
  values: readonly unknown[],
) => Promise<TransactionResult>;

/** The part of a node-postgres client the store uses. */
interface PgClientLike {
  query(config: { name: string; text: string; values: unknown[]; types: unknown }): Promise<{ rows: Row[] }>;
}

/** The part of a postgres.js transaction the store uses. */
interface PostgresJsTransactionLike {
  unsafe(text: string, values: unknown[], options: { prepare: boolean }): PromiseLike<Row[]>;
}

/** The runner for `tx`, or a HostworkError (INVALID_OPTION) saying why `tx` cannot be used. */
export function transactionRunner(tx: unknown, where: string): StatementRunner {
  const candidate = tx as Record<string, unknown> | null;
  const has = (key: string): boolean => typeof candidate?.[key] === 'function';
  if (candidate !== null && (typeof tx === 'object' || typeof tx === 'function')) {
    if (has('unsafe')) {
      // postgres.js: the root `sql` has `begin` but no `savepoint`; only a transaction (or savepoint) scope has both
      // `unsafe` and `savepoint`.
      if (!has('savepoint')) {
        throw invalid(
          where,
          'got the postgres.js `sql` object itself, which runs each statement in its own transaction. Pass the `tx` of `sql.begin(async (tx) => ...)`.',
        );
      }
      const scope = tx as PostgresJsTransactionLike;
      return async (statement, values) => ({
        rows: await scope.unsafe(statement.text, [...values], { prepare: true }),
      });
    }
    if (has('query')) {
      // A pg.Pool has `query` too, but hands each statement to whichever connection is free: not a transaction.
      if (has('connect') && 'totalCount' in candidate && 'idleCount' in candidate) {
        throw invalid(
          where,
          'got a pg Pool, which runs each statement on any free connection outside your transaction. Pass the client of the transaction: `const client = await pool.connect(); await client.query("BEGIN"); ...`.',
        );
      }
      const client = tx as PgClientLike;
      return (statement, values) =>
        client.query({ name: statement.name, text: statement.text, values: [...values], types: STORE_TYPES });
    }
  }
  throw invalid(
    where,
    `got ${describe(tx)}. Pass a node-postgres client inside a transaction (pg.PoolClient or pg.Client after BEGIN) or a postgres.js transaction (the \`tx\` of \`sql.begin(async (tx) => ...)\`).`,
  );
}

function invalid(where: string, problem: string): HostworkError {
  return new HostworkError(ErrorCodes.INVALID_OPTION, `${where}: tx ${problem}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object')
    return `an object without query() or unsafe() (${value.constructor?.name ?? 'Object'})`;
  return `a ${typeof value}`;
}
