import { ErrorCodes, HostworkError } from '../errors.ts';

/**
 * Internal: option checks shared by the services in this folder. Each throws HW_INVALID_OPTION naming where the
 * option was given, the option, what was expected and what was received.
 */

/** Throws unless `value` is an integer >= `min`. */
export function assertInteger(
  where: string,
  option: string,
  value: unknown,
  min: number,
): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `${where}: '${option}' must be an integer >= ${min}, got ${describe(value)}.`,
    );
  }
}

/** Throws unless `value` is a boolean. */
export function assertBoolean(where: string, option: string, value: unknown): asserts value is boolean {
  if (typeof value !== 'boolean') {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `${where}: '${option}' must be true or false, got ${describe(value)}.`,
    );
  }
}

/** Throws unless `value` is a function. */
export function assertFunction(where: string, option: string, value: unknown): void {
  if (typeof value !== 'function') {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `${where}: '${option}' must be a function, got ${describe(value)}.`,
    );
  }
}

/** Throws unless `value` is a plain options object (so `assertKnownKeys` can inspect it). */
export function assertObject(where: string, value: unknown): asserts value is object {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `${where}: options must be an object, got ${describe(value)}.`,
    );
  }
}

/** A short, unambiguous rendering of a bad value: `'1000' (a string)` rather than `1000`. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}' (a string)`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  if (typeof value === 'function') return 'a function';
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

/** A work function's name for logs; arrow functions assigned inline have none. */
export function functionName(fn: unknown): string {
  return typeof fn === 'function' && fn.name ? fn.name : '(anonymous)';
}
