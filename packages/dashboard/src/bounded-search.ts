/**
 * The job list's bounded search: a filter no index serves is read newest first in windows of ids, within a time
 * budget, so that no page walks the whole table to find few or no matches.
 */
import type { JobFilter, JobId, JobInfo, JobStore } from 'hostwork';

/** A filter of the job list, by its query parameter. */
export type ListFilterName = 'queue' | 'state' | 'name' | 'from' | 'to' | 'payload';

/** How a page of the job list was searched, as the API answers it in `search`. */
export type ListSearch =
  /** Answered by an index (PostgreSQL's payload index): every job was searched. */
  | { readonly indexed: true }
  /**
   * Read in windows of ids without an index. `filters` names the filters no index served; `searchedTo` is the oldest
   * id searched when older jobs were not searched yet (null: every job was); `hint` says what would make it faster.
   */
  | {
      readonly indexed: false;
      readonly filters: readonly ListFilterName[];
      readonly searchedTo: JobId | null;
      readonly hint: string;
    };

/**
 * The filters of `filter` that the store's list would check row by row on a walk of the whole table when matches are
 * rare. The list statement of both stores is planned once for every filter (a null value matching everything), so
 * no index serves queue, state, name or the creation time; only the ids (a key lookup) and, on PostgreSQL with its
 * payload index, a payload filter (a statement planned with its values, which also lets the other filters use their
 * indexes) are answered directly.
 */
export function unindexedFilters(filter: JobFilter, payloadIndexed: boolean): ListFilterName[] {
  if (filter.ids !== undefined) return [];
  if (filter.payload !== undefined && payloadIndexed) return [];
  const names: ListFilterName[] = [];
  if (filter.queue !== undefined) names.push('queue');
  if (filter.state !== undefined) names.push('state');
  if (filter.name !== undefined) names.push('name');
  if (filter.createdAfter !== undefined) names.push('from');
  if (filter.createdBefore !== undefined) names.push('to');
  if (filter.payload !== undefined) names.push('payload');
  return names;
}

/** A page read by {@link boundedSearch}. */
export interface BoundedPage {
  /** Up to `limit` matching jobs, newest first. */
  readonly jobs: readonly JobInfo[];
  /** The `before` of the next page: after the last job of a full page, or where the search stopped; null at the end. */
  readonly next: JobId | null;
  /** The oldest id searched, when the page is not full and older jobs were not searched yet; else null. */
  readonly searchedTo: JobId | null;
}

/** The window and budget of {@link boundedSearch}. */
export interface BoundedSearchLimits {
  /** Ids per window. */
  readonly window: number;
  /** How long one page may read windows (ms): no window starts that would likely end after it. */
  readonly budgetMs: number;
}

/**
 * A page of jobs matching `filter` below `before`, read newest first in windows of ids (`after`..`before`), each a
 * bounded walk, until the page is full, the oldest job is passed, or the next window would likely end after the
 * budget. Ids grow with creation, so the windows go back in time; a filter matching the recent jobs fills the page
 * in the first window, as fast as the direct query.
 */
export async function boundedSearch(
  store: JobStore,
  filter: JobFilter,
  limit: number,
  before: JobId | undefined,
  { window, budgetMs }: BoundedSearchLimits,
): Promise<BoundedPage> {
  const started = performance.now();
  // The newest job bounds the first window.
  const top = before ?? (await store.list({ limit: 1 })).map((j) => String(BigInt(j.id) + 1n))[0];
  const found: JobInfo[] = [];
  let upper = top === undefined ? 0n : BigInt(top);
  // The slowest window so far: no window starts that would likely end past the budget.
  let slowest = 0;
  while (found.length <= limit && upper > 1n) {
    const windowStarted = performance.now();
    const lower = upper - BigInt(window) - 1n;
    // One more than shown tells whether another page follows.
    const page = await store.list({
      ...filter,
      limit: limit + 1 - found.length,
      before: String(upper),
      ...(lower > 0n ? { after: String(lower) } : {}),
    });
    found.push(...page);
    upper = lower > 0n ? lower + 1n : 0n;
    slowest = Math.max(slowest, performance.now() - windowStarted);
    if (performance.now() - started + slowest > budgetMs) break;
  }
  const jobs = found.slice(0, limit);
  const full = found.length > limit;
  // Not full, and older jobs left: they were not searched yet (the page says so, and offers to go on).
  const searchedTo = !full && upper > 1n ? String(upper) : null;
  return { jobs, next: full ? jobs.at(-1)!.id : searchedTo, searchedTo };
}
