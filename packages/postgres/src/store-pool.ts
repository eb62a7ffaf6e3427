/**
 * The store's connection pool: runs each statement on a pooled connection, prepared under its name, with the
 * store's type parsers, under the {@link SlowQueryWatch}. It also keeps an idle connection's failure (the server
 * restarted, a proxy cut it) from crashing the process: node-postgres re-emits it on the pool, where an unhandled
 * 'error' event would throw.
 */
import pg from 'pg';
import { type Row, STORE_TYPES } from './rows.ts';
import { SlowQueryWatch } from './slow-query-watch.ts';
import type { Statement } from './statements.ts';
import type { WarningListener } from './warnings.ts';

/** How {@link StorePool} gets its pool. */
export type PoolSource =
  | { readonly kind: 'own'; readonly connectionString: string; readonly max: number }
  | { readonly kind: 'given'; readonly pool: pg.Pool };

export class StorePool {
  readonly pool: pg.Pool;
  /** Whether the store created the pool (and so ends it on close); a pool the application gave is left open. */
  readonly #owned: boolean;
  readonly #watch: SlowQueryWatch;
  readonly #where: string;
  readonly #warn: WarningListener;
  readonly #guarded = new WeakSet<pg.Client>();
  #ended: Promise<void> | undefined;

  constructor(source: PoolSource, where: string, warn: WarningListener, slowQueryMs: number) {
    this.#where = where;
    this.#warn = warn;
    this.#owned = source.kind === 'own';
    this.pool =
      source.kind === 'own'
        ? new pg.Pool({
            connectionString: source.connectionString,
            max: source.max,
            application_name: 'hostwork',
            // Notices a connection silently dropped by the network (e.g. a NAT timeout) instead of waiting forever.
            keepAlive: true,
          })
        : source.pool;
    this.pool.on('error', this.#onIdleError);
    // 'connect' is emitted synchronously before the new connection is handed out: the only moment early enough.
    this.pool.on('connect', this.#guard);
    this.#watch = new SlowQueryWatch(slowQueryMs, where, warn, () => ({
      totalCount: this.pool.totalCount,
      idleCount: this.pool.idleCount,
      waitingCount: this.pool.waitingCount,
      max: this.pool.options.max,
    }));
  }

  /** Runs a prepared statement and returns its rows as objects. */
  async query<R = Row>(statement: Statement, values: readonly unknown[]): Promise<pg.QueryResult<R & Row>> {
    return this.#run(statement.label, (client) =>
      client.query<R & Row>({
        // '': the unnamed statement, planned with the values of this run.
        ...(statement.name === '' ? {} : { name: statement.name }),
        text: statement.text,
        values: values as unknown[],
        types: STORE_TYPES,
      }),
    );
  }

  /** Runs a prepared statement and returns its rows as arrays (cheaper to build than objects, for hot paths). */
  async queryArrays<R>(statement: Statement, values: readonly unknown[]): Promise<{ readonly rows: R[] }> {
    return this.#run(statement.label, (client) =>
      client.query<R & unknown[]>({
        ...(statement.name === '' ? {} : { name: statement.name }),
        text: statement.text,
        values: values as unknown[],
        types: STORE_TYPES,
        rowMode: 'array',
      }),
    );
  }

  /**
   * Runs a script of several statements without parameters (`SET LOCAL …; SELECT …`) in one round trip, and returns
   * the rows of the last. The simple query protocol runs them in one implicit transaction, so a `SET LOCAL` holds
   * for the statements after it and ends with the script; nothing is prepared (the last statement is planned each
   * time).
   */
  async queryScript<R = Row>(statement: Statement): Promise<R[]> {
    return this.#run(statement.label, async (client) => {
      // Without values the driver sends a simple query, and answers a script with one result per statement.
      const results = (await client.query({ text: statement.text, types: STORE_TYPES })) as unknown as
        | pg.QueryResult<R & Row>
        | pg.QueryResult<R & Row>[];
      return (Array.isArray(results) ? results.at(-1)!.rows : results.rows) as R[];
    });
  }

  /** Runs `work` on one connection of the pool (for a multi-statement script or a session-level command). */
  withClient<T>(label: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.#run(label, work);
  }

  /** Ends the pool if the store created it; detaches from a pool the application gave. Idempotent. */
  end(): Promise<void> {
    this.#ended ??= (async () => {
      this.#watch.close();
      if (this.#owned) await this.pool.end();
      // After end: an idle connection may still report its closing error, and it must stay handled.
      this.pool.off('error', this.#onIdleError);
      this.pool.off('connect', this.#guard);
    })();
    return this.#ended;
  }

  async #run<T>(label: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const watched = this.#watch.waiting(label);
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      this.#watch.done(watched);
      throw error;
    }
    this.#watch.running(watched);
    this.#guard(client);
    let broken: Error | undefined;
    try {
      return await work(client);
    } catch (error) {
      // An SQL error leaves the connection usable; anything else (a cut connection, a protocol error) may not, nor
      // does a FATAL one (the server is ending this session): handing it back with the error makes the pool discard
      // it rather than give a dying connection to the next query.
      if (!(error instanceof pg.DatabaseError) || error.severity === 'FATAL')
        broken = error instanceof Error ? error : new Error(String(error));
      throw error;
    } finally {
      this.#watch.done(watched);
      client.release(broken);
    }
  }

  /**
   * Gives a connection an 'error' listener of its own, for good. pg-pool listens for errors only while a connection
   * is idle; while it is checked out, a server ending the session (a restart, pg_terminate_backend) makes the client
   * emit 'error' (the FATAL message, or the socket closing), possibly before the query's rejection has released it,
   * or, for a new connection, in the same network read that completed the connection, before anyone could listen.
   * An 'error' event nobody listens to crashes the process. This listener only keeps it alive: the query in flight
   * rejects with the error anyway, and the pool discards the broken connection when it is released.
   */
  #guard = (client: pg.Client): void => {
    if (this.#guarded.has(client)) return;
    this.#guarded.add(client);
    client.on('error', ignoreCheckedOutError);
  };

  #onIdleError = (error: Error): void => {
    this.#warn(
      `${this.#where}: an idle pool connection failed; the pool replaces it on the next query.`,
      error,
      { warning: 'idle-connection-failed' },
    );
  };
}

/** See StorePool's guard: the error reaches whoever uses the connection through its query; nothing to do here. */
function ignoreCheckedOutError(): void {}
