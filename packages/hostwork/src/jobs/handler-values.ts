import { ErrorCodes, HostworkError } from '../errors.ts';

/**
 * Checks of the values user code hands to the engine while a job runs (a snooze delay, a progress value, what a
 * backoff function returns). They are checked where they are handed over, so a bad one fails there with an error
 * naming it, instead of reaching the store as a write that can never succeed.
 */

/** The latest time a `Date` can hold (ms since the epoch): no run time may be later. */
export const LATEST_TIME = 8_640_000_000_000_000;

/** Why `delayMs` is not a delay the store can hold, or undefined when it is one (a negative delay means now). */
export function delayProblem(delayMs: unknown, now: number): string | undefined {
  if (typeof delayMs !== 'number' || !Number.isFinite(delayMs))
    return 'must be a finite number of ms (0 or less means now)';
  if (now + delayMs > LATEST_TIME)
    return `must keep the run time within the range of a Date (at most ${LATEST_TIME - now} ms from now)`;
  return undefined;
}

/** The delay, at least 0; throws HW_JOB_INVALID_HANDLER_VALUE unless `delayMs` is a storable delay. */
export function checkDelay(where: string, delayMs: unknown, now: number): number {
  const problem = delayProblem(delayMs, now);
  if (problem === undefined) return Math.max(0, delayMs as number);
  throw new HostworkError(
    ErrorCodes.JOB_INVALID_HANDLER_VALUE,
    `${where}: the delay ${problem}; got ${show(delayMs)}. The attempt fails; nothing was scheduled.`,
  );
}

/**
 * A progress value as stored JSON. Throws HW_JOB_INVALID_HANDLER_VALUE for a value JSON cannot hold (a BigInt, a
 * cycle, a throwing `toJSON`). Any string is fine: JSON.stringify escapes NUL and lone surrogates.
 */
export function progressJson(value: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    throw new HostworkError(
      ErrorCodes.JOB_INVALID_HANDLER_VALUE,
      `ctx.progress(): the value cannot be stored as JSON (${error instanceof Error ? error.message : 'JSON.stringify threw'}). Pass plain data: numbers, strings, arrays, objects.`,
    );
  }
  return json ?? 'null';
}

/** A value for an error message: numbers as JavaScript prints them (NaN, Infinity), the rest as JSON. */
function show(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return typeof value;
  }
}
