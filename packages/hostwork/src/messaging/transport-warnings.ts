/**
 * Where a transport reports trouble it recovers from by itself (a lost connection, a reconnect attempt that failed, a
 * settle that could not reach the broker). In a host, `addMessaging` attaches the host's logger (`attachLogger`) and
 * each warning is one structured line of the adapter's category (`Hostwork.RabbitMQ`, `Hostwork.NATS`...). An
 * application may pass `onWarning` instead (it then receives every warning, in a host too); a transport used outside
 * a host, with no `onWarning`, reports through `process.emitWarning`. Every adapter routes its warnings through this.
 */
import type { Logger } from '../logging/logger-factory.ts';

/** The fields of a warning, for structured logs: `warning` names its kind (each adapter lists its own); the rest depend on it. */
export interface TransportWarningDetails {
  readonly warning: string;
  readonly [field: string]: unknown;
}

/** Receives a warning: a full sentence, the error behind it when there is one, and its fields. */
export type TransportWarningListener = (
  message: string,
  error?: unknown,
  details?: TransportWarningDetails,
) => void;

/**
 * Routes warnings: to the application's `onWarning` when it gave one, else to the logger attached by the host
 * (`warn` level, the details as fields, the error as `err`), else to `process.emitWarning` with the adapter's warning
 * type (e.g. 'HostworkRabbitmqWarning'). A listener that throws never breaks the code path reporting the warning.
 */
export class TransportWarningRoute {
  readonly #given: TransportWarningListener | undefined;
  readonly #processWarningType: string;
  #logger: Logger | undefined;

  constructor(given: TransportWarningListener | undefined, processWarningType: string) {
    this.#given = given;
    this.#processWarningType = processWarningType;
  }

  /** Sends later warnings to `logger` (unless the application gave `onWarning`). */
  attach(logger: Logger): void {
    this.#logger = logger;
  }

  /** The listener every part of the transport reports to. */
  readonly warn: TransportWarningListener = (message, error, details) => {
    try {
      if (this.#given) return this.#given(message, error, details);
      const logger = this.#logger;
      if (logger) return logger.warn({ ...details, ...(error === undefined ? {} : { err: error }) }, message);
      const detail = error instanceof Error ? error.message : error === undefined ? undefined : String(error);
      process.emitWarning(detail === undefined ? message : `${message} (${detail})`, {
        type: this.#processWarningType,
      });
    } catch {
      // A warning must never become a failure of the operation that reported it.
    }
  };
}
