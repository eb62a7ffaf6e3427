/**
 * Turns a silent stall into a warning: every store query registers while it waits for a pool connection and while it
 * runs, and a single timer reports any that has waited or run longer than the threshold (once per phase), while it
 * is still stuck, so an operator sees "all 10 connections busy" or "a lock is held" instead of a worker gone quiet.
 */
import type { WarningListener } from './warnings.ts';

/** One query in flight. */
export interface WatchedQuery {
  label: string;
  phase: 'waiting' | 'running';
  since: number;
  warned: boolean;
}

/** What the watch reports about the pool in a "waiting" warning. */
export interface PoolStats {
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
}

export class SlowQueryWatch {
  readonly #thresholdMs: number;
  readonly #where: string;
  readonly #warn: WarningListener;
  readonly #pool: () => PoolStats & { readonly max: number };
  readonly #inFlight = new Set<WatchedQuery>();
  readonly #timer: ReturnType<typeof setInterval>;

  /**
   * @param thresholdMs how long a wait or a run may take before it is reported.
   * @param where names the store in messages (e.g. `PostgresStore (schema "hostwork")`).
   */
  constructor(
    thresholdMs: number,
    where: string,
    warn: WarningListener,
    pool: () => PoolStats & { readonly max: number },
  ) {
    this.#thresholdMs = thresholdMs;
    this.#where = where;
    this.#warn = warn;
    this.#pool = pool;
    // One timer for all queries (cheaper than one per query); unref'd so it never keeps the process alive.
    this.#timer = setInterval(this.#check, Math.max(10, Math.min(1_000, thresholdMs / 4)));
    this.#timer.unref();
  }

  /** Registers a query that now waits for a connection. */
  waiting(label: string): WatchedQuery {
    const query: WatchedQuery = { label, phase: 'waiting', since: Date.now(), warned: false };
    this.#inFlight.add(query);
    return query;
  }

  /** The query got its connection and runs now. */
  running(query: WatchedQuery): void {
    query.phase = 'running';
    query.since = Date.now();
    query.warned = false;
  }

  /** The query is over (whatever its outcome). */
  done(query: WatchedQuery): void {
    this.#inFlight.delete(query);
  }

  close(): void {
    clearInterval(this.#timer);
    this.#inFlight.clear();
  }

  #check = (): void => {
    if (this.#inFlight.size === 0) return;
    const now = Date.now();
    for (const query of this.#inFlight) {
      const elapsed = now - query.since;
      if (query.warned || elapsed < this.#thresholdMs) continue;
      query.warned = true;
      const seconds = (elapsed / 1000).toFixed(1);
      if (query.phase === 'waiting') {
        const pool = this.#pool();
        this.#warn(
          `${this.#where}: ${query.label} has waited ${seconds} s for a pool connection (${pool.totalCount} of ${pool.max} open, ${pool.idleCount} idle, ${pool.waitingCount} waiting). Raise poolSize, or look for work holding connections (long transactions, slow queries).`,
          undefined,
          {
            warning: 'pool-wait',
            query: query.label,
            waitedMs: elapsed,
            poolOpen: pool.totalCount,
            poolMax: pool.max,
            poolIdle: pool.idleCount,
            poolWaiting: pool.waitingCount,
          },
        );
      } else {
        this.#warn(
          `${this.#where}: ${query.label} has been running for ${seconds} s. The database may be overloaded, or a lock held by another session blocks it (see pg_stat_activity and pg_locks).`,
          undefined,
          { warning: 'slow-query', query: query.label, runningMs: elapsed },
        );
      }
    }
  };
}
