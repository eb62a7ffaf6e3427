import { createToken } from '../di/token.ts';
import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';

/** How the host starts and stops its services. Every default is in {@link hostOptionDefaults}. */
export interface HostOptions {
  /** The budget for the whole stop sequence, in ms. Services still stopping when it runs out are left behind. */
  readonly shutdownTimeout: number;
  /** Fail start-up if it takes longer than this many ms; `0` means no limit. */
  readonly startupTimeout: number;
  /** Start services concurrently instead of one after another in registration order. */
  readonly servicesStartConcurrently: boolean;
  /** Stop services concurrently instead of one after another in reverse registration order. */
  readonly servicesStopConcurrently: boolean;
  /** What a crash of a BackgroundService does: stop the host (non-zero exit) or only log it. */
  readonly backgroundServiceExceptionBehavior: 'stopHost' | 'ignore';
}

/** The defaults, in one place. */
export const hostOptionDefaults: HostOptions = {
  shutdownTimeout: 30_000,
  startupTimeout: 0,
  servicesStartConcurrently: false,
  servicesStopConcurrently: false,
  backgroundServiceExceptionBehavior: 'stopHost',
};

/** Merges options over the defaults, refusing unknown keys and out-of-range values with a message naming them. */
export function resolveHostOptions(given: Partial<HostOptions>): HostOptions {
  assertKnownKeys('HostOptions', given, Object.keys(hostOptionDefaults));
  const options = { ...hostOptionDefaults, ...given };
  for (const key of ['shutdownTimeout', 'startupTimeout'] as const) {
    const value = options[key];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `HostOptions.${key} must be a number of milliseconds >= 0, got ${JSON.stringify(value)}.`,
      );
    }
  }
  if (!['stopHost', 'ignore'].includes(options.backgroundServiceExceptionBehavior)) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `HostOptions.backgroundServiceExceptionBehavior must be 'stopHost' or 'ignore', got ${JSON.stringify(options.backgroundServiceExceptionBehavior)}.`,
    );
  }
  return options;
}

/** The key of the resolved {@link HostOptions}. */
export const HostOptions = createToken<HostOptions>('HostOptions');
