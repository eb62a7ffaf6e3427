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
 * A value as JSON text, or why JSON cannot hold it (a BigInt, a cycle, a throwing `toJSON`; at the top level a
 * function or a symbol, which JSON.stringify turns into nothing). The one serialiser of values a handler hands to the
 * engine (progress, a result). Any string is fine: JSON.stringify escapes NUL and lone surrogates.
 */
function jsonText(value: unknown): { readonly json: string } | { readonly problem: string } {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    return { problem: error instanceof Error ? error.message : 'JSON.stringify threw' };
  }
  return json === undefined ? { problem: `JSON has no value for a ${typeof value}` } : { json };
}

/** A progress value as stored JSON. Throws HW_JOB_INVALID_HANDLER_VALUE for a value JSON cannot hold. */
export function progressJson(value: unknown): string {
  // undefined (and a top-level function or symbol) is stored as null, as it always was for progress.
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return 'null';
  const text = jsonText(value);
  if ('json' in text) return text.json;
  throw new HostworkError(
    ErrorCodes.JOB_INVALID_HANDLER_VALUE,
    `ctx.progress(): the value cannot be stored as JSON (${text.problem}). Pass plain data: numbers, strings, arrays, objects.`,
  );
}

/** The default of the worker option `maxResultBytes`: 64 KiB of JSON per job result. */
export const DEFAULT_MAX_RESULT_BYTES = 65_536;

/**
 * What a handler returned, as the job's stored result (JSON text), or null for `undefined` (no result). Throws
 * HW_JOB_INVALID_HANDLER_VALUE, naming the job, for a value JSON cannot hold or one longer than `maxBytes` as UTF-8
 * JSON: the attempt then fails like any other.
 */
export function resultJson(
  job: { readonly name: string; readonly id: string },
  value: unknown,
  maxBytes: number,
): string | null {
  if (value === undefined) return null;
  const text = jsonText(value);
  if (!('json' in text)) {
    throw new HostworkError(
      ErrorCodes.JOB_INVALID_HANDLER_VALUE,
      `Job ${job.name}#${job.id} returned a value that cannot be stored as its result: ${text.problem}. Return plain data (numbers, strings, arrays, objects), or nothing.`,
    );
  }
  // A UTF-8 character takes at most 3 bytes per UTF-16 unit: short text needs no count.
  const bytes = text.json.length * 3 <= maxBytes ? 0 : Buffer.byteLength(text.json, 'utf8');
  if (bytes > maxBytes) {
    throw new HostworkError(
      ErrorCodes.JOB_INVALID_HANDLER_VALUE,
      `Job ${job.name}#${job.id} returned a result of ${bytes} bytes as JSON, over the limit of ${maxBytes} bytes (worker option maxResultBytes). Fix: store large results elsewhere (a file, a table, object storage) and return a reference to them, or raise maxResultBytes.`,
    );
  }
  return text.json;
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
