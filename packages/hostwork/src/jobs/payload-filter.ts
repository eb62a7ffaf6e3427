/** Checking and reading the payload filter of {@link JobFilter} (list and purge), shared by every store. */
import { ErrorCodes, HostworkError } from '../errors.ts';
import type { JobFilter, PayloadFilter } from './job-record.ts';

/** The deepest payload path a filter may name. */
const MAX_DEPTH = 16;
/** The most ids a filter may list. */
const MAX_IDS = 1000;

/**
 * Throws a HostworkError naming the fault when `filter.ids` is not at most 1000 whole-number ids, when `filter.payload` or the time bounds of `filter` are malformed: a path
 * must have 1 to 16 non-empty segments without `"` (SQLite's JSON path quotes keys with it) and `equals` must be a
 * string; times must be finite numbers.
 */
export function checkJobFilter(filter: JobFilter): void {
  if (filter.ids !== undefined) {
    if (!Array.isArray(filter.ids) || filter.ids.length > MAX_IDS) {
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `ids must be an array of at most ${MAX_IDS} job ids.`,
      );
    }
    for (const id of filter.ids) {
      if (typeof id !== 'string' || !/^\d{1,18}$/.test(id)) {
        throw new HostworkError(
          ErrorCodes.INVALID_OPTION,
          `ids: job ids are whole numbers, got ${JSON.stringify(id)}.`,
        );
      }
    }
  }
  for (const key of ['createdAfter', 'createdBefore'] as const) {
    const value = filter[key];
    if (value !== undefined && !Number.isFinite(value)) {
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `${key} must be a time in ms, got ${String(value)}.`,
      );
    }
  }
  const payload = filter.payload;
  if (payload === undefined) return;
  const { path, equals } = payload;
  if (!Array.isArray(path) || path.length === 0 || path.length > MAX_DEPTH) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `payload filter: path must list 1 to ${MAX_DEPTH} keys, got ${JSON.stringify(path)}.`,
    );
  }
  for (const segment of path) {
    if (typeof segment !== 'string' || segment === '' || segment.includes('"')) {
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `payload filter: every path key must be a non-empty string without '"', got ${JSON.stringify(segment)}.`,
      );
    }
  }
  if (typeof equals !== 'string') {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `payload filter: equals must be a string (the field's value as text), got ${typeof equals}.`,
    );
  }
}

/**
 * Reads `customer.id=42` (a dotted path, `=`, the value as text) as a {@link PayloadFilter}; undefined when there is
 * no `=` or no path. A segment of digits indexes an array (`items.0.sku=A1`).
 */
export function parsePayloadFilter(text: string): PayloadFilter | undefined {
  const at = text.indexOf('=');
  if (at <= 0) return undefined;
  const path = text.slice(0, at).trim().replace(/^\$\./, '').split('.');
  if (path.some((segment) => segment === '')) return undefined;
  return { path, equals: text.slice(at + 1) };
}

/**
 * The SQLite JSON path of a payload filter's `path`: `$."customer"."id"`, with `[n]` for a segment of digits. A key
 * is quoted as a JSON string, which SQLite unescapes: a key holding a backslash or a control character is found too.
 */
export function sqliteJsonPath(path: readonly string[]): string {
  return `$${path.map((segment) => (/^\d+$/.test(segment) ? `[${segment}]` : `.${JSON.stringify(segment)}`)).join('')}`;
}
