/**
 * Where the transport reports trouble it recovers from by itself (a lost connection, a reconnect, a publish sent
 * again, a consumer checked again) and what it cannot fix alone (a consumer near its `max_ack_pending`). In a host, the consumer engine attaches the host's logger
 * ({@link NatsTransport.attachLogger}) and each warning is one structured line of category `Hostwork.NATS`.
 * An application may pass `onWarning` instead (it then receives every warning, in a host too); a transport used
 * outside a host, with no `onWarning`, reports through `process.emitWarning`.
 */
import type { Logger } from 'hostwork';

/** The fields of a warning, for structured logs: `warning` names its kind; the others depend on it. */
export interface WarningDetails {
  /**
   * `connection-lost`, `reconnected`, `connection-error`, `connection-closed`, `reconnect-failed`, `slow-consumer`,
   * `publish-retried`, `resubscribe-failed`, `inbox-failed`, `consumer-deleted`, `pull-ended`,
   * `max-ack-pending-below-prefetch`, `ack-pending-high`, `ack-pending-full`, `close-timeout`.
   */
  readonly warning: string;
  readonly [field: string]: unknown;
}

/** Receives a warning: a full sentence, the error behind it when there is one, and its fields. */
export type WarningListener = (message: string, error?: unknown, details?: WarningDetails) => void;

/** The default outside a host: `process.emitWarning` with the type 'HostworkNatsWarning'. */
const emitProcessWarning: WarningListener = (message, error) => {
  const detail = error instanceof Error ? error.message : error === undefined ? undefined : String(error);
  process.emitWarning(detail === undefined ? message : `${message} (${detail})`, {
    type: 'HostworkNatsWarning',
  });
};

/**
 * Routes warnings: to the application's `onWarning` when it gave one, else to the logger attached by the host
 * (`warn` level, the details as fields, the error as `err`), else to `process.emitWarning`. A listener that throws
 * never breaks the code path reporting the warning.
 */
export class WarningRoute {
  readonly #given: WarningListener | undefined;
  #logger: Logger | undefined;

  constructor(given: WarningListener | undefined) {
    this.#given = given;
  }

  /** Sends later warnings to `logger` (unless the application gave `onWarning`). */
  attach(logger: Logger): void {
    this.#logger = logger;
  }

  /** The listener every part of the transport reports to. */
  readonly warn: WarningListener = (message, error, details) => {
    try {
      if (this.#given) return this.#given(message, error, details);
      const logger = this.#logger;
      if (!logger) return emitProcessWarning(message, error, details);
      logger.warn({ ...details, ...(error === undefined ? {} : { err: error }) }, message);
    } catch {
      // A warning must never become a failure of the operation that reported it.
    }
  };
}
