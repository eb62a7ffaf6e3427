import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';

/**
 * The thresholds of a `consumer-lag:<consumer>` health check: for every consumer (`addMessaging({ health })`) or for
 * one (`defineConsumer({ health })`, which wins over addMessaging's, key by key).
 */
export interface LagThresholdOptions {
  /** More messages than this wait for the consumer: its `consumer-lag:<consumer>` check is degraded. Default 1,000. */
  readonly maxLag?: number;
  /**
   * The oldest message waiting for the consumer has waited longer than this, in ms: degraded (only where the broker
   * reports the age: the in-memory transport, Redis Streams). Default 300,000 (5 min), as the jobs' `maxDueAgeMs`.
   */
  readonly maxLagAgeMs?: number;
}

/** The thresholds one `consumer-lag:<consumer>` check applies, every layer resolved. */
export interface LagThresholds {
  readonly maxLag: number;
  readonly maxLagAgeMs: number;
}

const KEYS = ['maxLag', 'maxLagAgeMs'] as const;

/** The defaults of {@link LagThresholdOptions}, in one place. */
export const messagingHealthDefaults: LagThresholds = { maxLag: 1_000, maxLagAgeMs: 300_000 };

/**
 * Checks thresholds given at `where` (`addMessaging() health`, `defineConsumer('ship') health`) and returns the keys
 * given, with their values: bad values throw HW_INVALID_OPTION and unknown keys HW_UNKNOWN_OPTION, naming both.
 */
export function validateLagThresholds(given: unknown, where: string): LagThresholdOptions {
  if (given === undefined) return {};
  if (typeof given !== 'object' || given === null || Array.isArray(given))
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `${where} must be an object of thresholds ({ maxLag, maxLagAgeMs }), got ${JSON.stringify(given)}.`,
    );
  assertKnownKeys(where, given, KEYS);
  const { maxLag, maxLagAgeMs } = given as LagThresholdOptions;
  if (maxLag !== undefined && !(typeof maxLag === 'number' && Number.isInteger(maxLag) && maxLag >= 0))
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `${where}.maxLag must be a whole number of messages >= 0, got ${JSON.stringify(maxLag)}.`,
    );
  if (
    maxLagAgeMs !== undefined &&
    !(typeof maxLagAgeMs === 'number' && Number.isFinite(maxLagAgeMs) && maxLagAgeMs > 0)
  )
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `${where}.maxLagAgeMs must be a positive number of ms, got ${JSON.stringify(maxLagAgeMs)}.`,
    );
  return {
    ...(maxLag === undefined ? {} : { maxLag }),
    ...(maxLagAgeMs === undefined ? {} : { maxLagAgeMs }),
  };
}

/** A consumer's thresholds: its own, else addMessaging's, else the defaults (each key on its own). */
export function resolveLagThresholds(
  consumer: LagThresholdOptions | undefined,
  shared: LagThresholdOptions,
): LagThresholds {
  return {
    maxLag: consumer?.maxLag ?? shared.maxLag ?? messagingHealthDefaults.maxLag,
    maxLagAgeMs: consumer?.maxLagAgeMs ?? shared.maxLagAgeMs ?? messagingHealthDefaults.maxLagAgeMs,
  };
}
