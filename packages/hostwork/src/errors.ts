/**
 * Hostwork's error catalogue. Every error Hostwork throws on purpose is a {@link HostworkError}
 * with one of these codes, so callers can branch on `err.code` instead of parsing messages.
 * Messages always name the thing at fault (the service, key, field or job) and the fix.
 */
export const ErrorCodes = {
  /** A service was asked for but never registered. */
  DI_MISSING: 'HW_DI_MISSING',
  /** Services depend on each other in a circle. */
  DI_CYCLE: 'HW_DI_CYCLE',
  /** A singleton (a hosted service included) depends on a scoped service. */
  DI_SCOPED_IN_SINGLETON: 'HW_DI_SCOPED_IN_SINGLETON',
  /** A scoped service was resolved from the root provider, outside any scope. */
  DI_SCOPED_FROM_ROOT: 'HW_DI_SCOPED_FROM_ROOT',
  /** A provider or scope was used after it was disposed. */
  DI_DISPOSED: 'HW_DI_DISPOSED',
  /** A registration is malformed (e.g. a class whose declared dependencies do not match). */
  DI_INVALID_REGISTRATION: 'HW_DI_INVALID_REGISTRATION',
  /** Configuration failed validation against its schema. */
  CONFIG_INVALID: 'HW_CONFIG_INVALID',
  /** A configuration file exists but cannot be read or parsed. */
  CONFIG_FILE: 'HW_CONFIG_FILE',
  /** The host was used in a state that does not allow the call (e.g. started twice). */
  HOST_STATE: 'HW_HOST_STATE',
  /** One or more hosted services failed to start. */
  HOST_START_FAILED: 'HW_HOST_START_FAILED',
  /** Start-up took longer than `HostOptions.startupTimeout`. */
  HOST_STARTUP_TIMEOUT: 'HW_HOST_STARTUP_TIMEOUT',
  /** An option object contained a key Hostwork does not know (usually a typo). */
  UNKNOWN_OPTION: 'HW_UNKNOWN_OPTION',
  /** An option had a value out of range or of the wrong type. */
  INVALID_OPTION: 'HW_INVALID_OPTION',
  /** The in-memory task queue is full and its full-mode is 'reject'. */
  QUEUE_FULL: 'HW_QUEUE_FULL',
  /** The in-memory task queue no longer accepts work because the host is stopping. */
  QUEUE_CLOSED: 'HW_QUEUE_CLOSED',
  /** A job payload failed its schema at enqueue; nothing was stored. */
  JOB_INVALID_PAYLOAD: 'HW_JOB_INVALID_PAYLOAD',
  /**
   * A running job's handler handed the engine a value it cannot store: a snooze delay that is not a finite number
   * of ms >= 0 (or past the latest Date), a progress value JSON cannot hold, a returned result JSON cannot hold or
   * larger than the worker's `maxResultBytes`. Thrown to the handler, or recorded for a result; the attempt fails.
   */
  JOB_INVALID_HANDLER_VALUE: 'HW_JOB_INVALID_HANDLER_VALUE',
  /**
   * A job's outcome was refused by the store for a reason retrying cannot cure; the attempt was recorded as failed
   * with this code and the store's reason instead (retried after the default backoff, or dead on its last attempt).
   */
  JOB_OUTCOME_UNWRITABLE: 'HW_JOB_OUTCOME_UNWRITABLE',
  /** No job with the given id is stored (never existed, purged, or removed at completion by retention 0). */
  JOB_NOT_FOUND: 'HW_JOB_NOT_FOUND',
  /** `JobClient.waitFor` gave up: the job did not finish within the timeout. The job itself is unchanged. */
  JOB_WAIT_TIMEOUT: 'HW_JOB_WAIT_TIMEOUT',
  /** A job name was enqueued or defined twice, or not registered with the client. */
  JOB_NOT_REGISTERED: 'HW_JOB_NOT_REGISTERED',
  /**
   * A process's worker consumes a queue whose job is registered there by its contract only (`defineJobContract`),
   * with no handler to run its jobs.
   */
  JOB_HANDLER_MISSING: 'HW_JOB_HANDLER_MISSING',
  /** A schedule is invalid (bad cron expression, time zone, unknown job). */
  SCHEDULE_INVALID: 'HW_SCHEDULE_INVALID',
  /** The job store cannot be opened or is not a Hostwork job store. */
  STORE_OPEN: 'HW_STORE_OPEN',
  /** A store operation failed (connection lost, constraint, ...). */
  STORE_FAILED: 'HW_STORE_FAILED',
  /** A message failed its definition's schema at `send`/`sendMany` (each failing field is named); nothing was published. */
  MESSAGE_INVALID_PAYLOAD: 'HW_MESSAGE_INVALID_PAYLOAD',
  /** A consumer or a `send` names a transport that `addMessaging` did not register (or names none where several are). */
  TRANSPORT_NOT_REGISTERED: 'HW_TRANSPORT_NOT_REGISTERED',
  /** The `hostwork` command was given an unknown command or option, or an option value it cannot use. */
  CLI_USAGE: 'HW_CLI_USAGE',
  /** A consumer's source (queue, subscription...) does not exist on the broker and Hostwork was not asked to declare it. */
  MESSAGE_SOURCE_MISSING: 'HW_MESSAGE_SOURCE_MISSING',
  /** A delivery was settled (ack, retry, dead letter, release) a second time. */
  DELIVERY_SETTLED: 'HW_DELIVERY_SETTLED',
  /**
   * A broker refused or failed an operation of a transport: a publish (or some of its entries) refused or never
   * confirmed, a declaration rejected, a settle call that kept failing; the message names the queue and the reason.
   */
  TRANSPORT_FAILED: 'HW_TRANSPORT_FAILED',
  /**
   * `send(..., { tx })` (the transactional outbox) cannot be used: no job store is registered (`addJobs`), the store
   * keeps no outbox, or `tx` is not a transaction the store can write through.
   */
  OUTBOX_UNAVAILABLE: 'HW_OUTBOX_UNAVAILABLE',
  /**
   * A consumer's inbox cannot be used: the consumer has `inbox` but the host has no job store that keeps one, or
   * `ctx.completeWithin(tx)` was called by a consumer without `inbox`.
   */
  INBOX_UNAVAILABLE: 'HW_INBOX_UNAVAILABLE',
} as const;

/** One of the codes of {@link ErrorCodes}. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** The base class of every error Hostwork throws on purpose. */
export class HostworkError extends Error {
  /** A stable code from {@link ErrorCodes}. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'HostworkError';
    this.code = code;
  }
}

/**
 * Rejects unknown keys in an options object, naming the key, the closest known key and where it was given.
 * Typos in option names are the most common silent misconfiguration; we refuse them loudly.
 */
export function assertKnownKeys(where: string, given: object, known: readonly string[]): void {
  for (const key of Object.keys(given)) {
    if (!known.includes(key)) {
      const hint = closest(key, known);
      throw new HostworkError(
        ErrorCodes.UNKNOWN_OPTION,
        `Unknown option '${key}' in ${where}.${hint ? ` Did you mean '${hint}'?` : ''} Known options: ${known.join(', ')}.`,
      );
    }
  }
}

function closest(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = distance(lower, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance; option names are short so the quadratic cost is nothing. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}
