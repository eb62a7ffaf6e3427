import { DatabaseSync } from 'node:sqlite';
import { PostgresStore } from '@hostwork/postgres';
import { HostworkError, JobStore } from 'hostwork';
import type pg from 'pg';

/** An order as the demo keeps it, in its own table next to the job store's tables. */
export interface Order {
  readonly orderId: string;
  readonly amount: number;
  /** The ProcessOrder job that does the work. */
  readonly jobId: string;
  /** The OrderPlaced message, published through the outbox. */
  readonly messageId: string;
  readonly placedAt: string;
  /** When the warehouse consumer handled OrderPlaced (null until then). */
  readonly warehouseNotifiedAt: string | null;
  /** How many times the warehouse consumer's work committed: 1 however often the broker delivered the message. */
  readonly notifications: number;
}

/**
 * One application transaction on the job store's database: `handle` is what `send(…, { tx })`, `enqueue(…, { tx })`
 * and `ctx.completeWithin(tx)` take, `run` executes the demo's own statements in it.
 */
export interface OrderTransaction {
  readonly handle: unknown;
  run(statement: Statement, params: readonly (string | number)[]): Promise<number>;
}

type Statement = 'insert' | 'notified';

/** The demo's statements; SQLite and PostgreSQL differ in placeholders and the table's schema only. */
function statements(table: string, p: (n: number) => string): Record<Statement | 'create' | 'get', string> {
  return {
    create: `CREATE TABLE IF NOT EXISTS ${table} (
      order_id TEXT PRIMARY KEY, amount DOUBLE PRECISION NOT NULL, job_id TEXT NOT NULL, message_id TEXT NOT NULL,
      placed_at TEXT NOT NULL, warehouse_notified_at TEXT, notifications INTEGER NOT NULL DEFAULT 0)`,
    insert: `INSERT INTO ${table} (order_id, amount, job_id, message_id, placed_at)
      VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}) ON CONFLICT (order_id) DO NOTHING`,
    notified: `UPDATE ${table} SET warehouse_notified_at = ${p(2)}, notifications = notifications + 1
      WHERE order_id = ${p(1)}`,
    get: `SELECT order_id, amount, job_id, message_id, placed_at, warehouse_notified_at, notifications
      FROM ${table} WHERE order_id = ${p(1)}`,
  };
}

/**
 * The demo's orders, kept in the job store's own database (the SQLite file, or the PostgreSQL schema) so that an
 * order, its job and its OrderPlaced message commit in one transaction: the point of the transactional outbox.
 * A singleton: one SQLite connection of its own on the store's file, or the PostgreSQL store's pool.
 */
export class OrderBook implements AsyncDisposable {
  static readonly inject = [JobStore] as const;
  /** The SQLite file, opened on first use: the store creates it (and its folder) when the host starts. */
  readonly #sqlitePath: string | undefined;
  #sqliteDb: DatabaseSync | undefined;
  readonly #pool: pg.Pool | undefined;
  readonly #sql: ReturnType<typeof statements>;
  #created: Promise<void> | undefined;

  constructor(store: JobStore) {
    if (store instanceof PostgresStore) {
      this.#pool = store.pool;
      this.#sql = statements(`"${store.schema}".demo_orders`, (n) => `$${n}`);
    } else if ('path' in store && typeof store.path === 'string') {
      // The application's own connection on the store's file: the outbox and inbox write through it.
      this.#sqlitePath = store.path;
      this.#sql = statements('demo_orders', (n) => `?${n}`);
    } else {
      throw new HostworkError('HW_INVALID_OPTION', `The demo's orders need the SQLite or PostgreSQL store.`);
    }
  }

  /**
   * Runs `work` in one transaction and commits it, or rolls it back if `work` throws. On SQLite, `BEGIN IMMEDIATE`
   * takes the write lock at once, and `work` must not wait for other I/O while it holds it.
   */
  async transaction<T>(work: (tx: OrderTransaction) => Promise<T>): Promise<T> {
    await this.#ensureTable();
    const db = this.#sqlite;
    if (db) {
      const sql = this.#sql;
      db.exec('BEGIN IMMEDIATE');
      try {
        const result = await work({
          handle: db,
          run: async (statement, params) => Number(db.prepare(sql[statement]).run(...params).changes),
        });
        db.exec('COMMIT');
        return result;
      } catch (error) {
        db.exec('ROLLBACK');
        throw error;
      }
    }
    const client = await this.#pool!.connect();
    try {
      await client.query('BEGIN');
      const result = await work({
        handle: client,
        run: async (statement, params) =>
          (await client.query(this.#sql[statement], [...params])).rowCount ?? 0,
      });
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
  }

  /** The order, or undefined. */
  async get(orderId: string): Promise<Order | undefined> {
    await this.#ensureTable();
    const row = this.#sqlite
      ? (this.#sqlite.prepare(this.#sql.get).get(orderId) as Record<string, unknown> | undefined)
      : (await this.#pool!.query(this.#sql.get, [orderId])).rows[0];
    if (!row) return undefined;
    return {
      orderId: String(row.order_id),
      amount: Number(row.amount),
      jobId: String(row.job_id),
      messageId: String(row.message_id),
      placedAt: String(row.placed_at),
      warehouseNotifiedAt: row.warehouse_notified_at === null ? null : String(row.warehouse_notified_at),
      notifications: Number(row.notifications),
    };
  }

  #ensureTable(): Promise<void> {
    this.#created ??= this.#sqlite
      ? Promise.resolve().then(() => this.#sqlite!.exec(this.#sql.create))
      : this.#pool!.query(this.#sql.create).then(() => undefined);
    return this.#created;
  }

  get #sqlite(): DatabaseSync | undefined {
    if (this.#sqlitePath === undefined) return undefined;
    this.#sqliteDb ??= new DatabaseSync(this.#sqlitePath, { timeout: 5_000 });
    return this.#sqliteDb;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    // The pool belongs to the store, which closes it.
    this.#sqliteDb?.close();
  }
}
