/**
 * Where the store reports trouble it recovers from by itself (a dropped notification connection, an idle pool
 * connection failing, a query stalled for seconds, a clock far from the server's). In a host, `addJobs` attaches the
 * host's logger and each warning is one structured line of category `Hostwork.Postgres`. An application may pass
 * `onWarning` instead (it then receives every warning, in a host too); a store used outside a host, with no
 * `onWarning`, reports through `process.emitWarning`, which Node prints to stderr once per message.
 */
import type { Logger } from 'hostwork';

/** The fields of a warning, for structured logs: `warning` names its kind; the others depend on it. */
export interface WarningDetails {
  /**
   * `pool-wait` (a query waited for a connection), `slow-query` (a query ran long), `clock-skew`, `listen-lost`,
   * `listen-failed` (the LISTEN connection for wake-ups), `idle-connection-failed`, `wake-listener-threw`.
   */
  readonly warning: string;
  readonly [field: string]: unknown;
}

/**
 * Receives a warning: a full sentence naming the store's schema, the error behind it when there is one, and its
 * fields (a listener written for `(message, error)` may ignore them).
 */
export type WarningListener = (message: string, error?: unknown, details?: WarningDetails) => void;

/** The default {@link WarningListener} outside a host: `process.emitWarning` with the type 'HostworkPostgresWarning'. */
export const emitProcessWarning: WarningListener = (message, error) => {
  const detail = error instanceof Error ? error.message : error === undefined ? undefined : String(error);
  process.emitWarning(detail === undefined ? message : `${message} (${detail})`, {
    type: 'HostworkPostgresWarning',
  });
};

/** Wraps a listener so that one that throws never breaks the code path reporting the warning. */
export function safeWarningListener(listener: WarningListener): WarningListener {
  return (message, error, details) => {
    try {
      listener(message, error, details);
    } catch {
      // A warning must never become a failure of the operation that reported it.
    }
  };
}

/**
 * Routes the store's warnings: to the application's `onWarning` when it gave one, else to the logger attached by the
 * host (`warn` level, the details as fields, the error as `err`), else to `process.emitWarning`.
 */
export class WarningRoute {
  readonly #given: WarningListener | undefined;
  readonly #schema: string;
  #logger: Logger | undefined;

  constructor(given: WarningListener | undefined, schema: string) {
    this.#given = given === undefined ? undefined : safeWarningListener(given);
    this.#schema = schema;
  }

  /** Sends later warnings to `logger` (unless the application gave `onWarning`). */
  attach(logger: Logger): void {
    this.#logger = logger;
  }

  /** The listener every part of the store reports to. */
  readonly warn: WarningListener = (message, error, details) => {
    if (this.#given) return this.#given(message, error, details);
    const logger = this.#logger;
    if (!logger) return emitProcessWarning(message, error, details);
    try {
      logger.warn(
        { schema: this.#schema, ...details, ...(error === undefined ? {} : { err: error }) },
        message,
      );
    } catch {
      // A warning must never become a failure of the operation that reported it.
    }
  };
}
