/**
 * The JSON API under `<base>/api/`: every read and action of the dashboard goes through the store's `JobStore`
 * methods (the ones the `hostwork` CLI uses), nothing else.
 */
import {
  JOB_STATES,
  type JobFilter,
  type JobId,
  type JobInfo,
  type JobState,
  type JobStore,
  nextStoredTick,
  parsePayloadFilter,
} from 'hostwork';
import { boundedSearch, type ListFilterName, type ListSearch, unindexedFilters } from './bounded-search.ts';
import type { ResolvedOptions } from './dashboard-options.ts';

/** An answer of the API: a status and a JSON body. */
export interface ApiAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** A request the API refuses, with the status and the message the page shows. */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** The actions on jobs, one by one or in bulk. */
export const JOB_ACTIONS = ['retry', 'cancel', 'delete', 'run-now'] as const;
/** One of {@link JOB_ACTIONS}. */
export type JobAction = (typeof JOB_ACTIONS)[number];

const ok = (body: unknown): ApiAnswer => ({ status: 200, body });
const bad = (message: string) => new ApiError(400, message);

/** A job as a row of the list: no payload or history, the last error's first line. */
function jobSummary(job: JobInfo) {
  const last = job.errors.at(-1);
  return {
    id: job.id,
    name: job.name,
    queue: job.queue,
    state: job.state,
    attempt: job.attempt,
    maxAttempts: job.maxAttempts,
    priority: job.priority,
    runAt: job.runAt,
    createdAt: job.createdAt,
    finishedAt: job.finishedAt,
    cancelRequested: job.cancelRequested,
    lastError: last === undefined ? null : last.message.split('\n')[0]!.slice(0, 200),
  };
}

/** A time in a query: ms since the epoch, or an ISO date the browser's datetime-local input gives. */
function timeParam(params: URLSearchParams, name: string): number | undefined {
  const text = params.get(name);
  if (text === null || text === '') return undefined;
  const value = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(value))
    throw bad(`${name} must be a time (ISO 8601 or ms), got ${JSON.stringify(text)}.`);
  return value;
}

/** The job filter of a query string (or of a bulk request's `filter` object, as strings). */
export function filterOf(params: URLSearchParams): JobFilter {
  const filter: { -readonly [K in keyof JobFilter]: JobFilter[K] } = {};
  for (const key of ['queue', 'name'] as const) {
    const value = params.get(key);
    if (value !== null && value !== '') filter[key] = value;
  }
  const state = params.get('state');
  if (state !== null && state !== '') {
    if (!(JOB_STATES as readonly string[]).includes(state)) {
      throw bad(`state must be one of ${JOB_STATES.join(', ')}, got ${JSON.stringify(state)}.`);
    }
    filter.state = state as JobState;
  }
  const from = timeParam(params, 'from');
  if (from !== undefined) filter.createdAfter = from;
  const to = timeParam(params, 'to');
  if (to !== undefined) filter.createdBefore = to;
  const payload = params.get('payload');
  if (payload !== null && payload !== '') {
    const parsed = parsePayloadFilter(payload);
    if (parsed === undefined || parsed.path.some((s) => s.includes('"'))) {
      throw bad(`payload must be path=value (customer.id=42), got ${JSON.stringify(payload)}.`);
    }
    filter.payload = parsed;
  }
  return filter;
}

function limitParam(text: string | null, fallback: number, max: number, name = 'limit'): number {
  if (text === null || text === '') return fallback;
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw bad(`${name} must be a whole number from 1 to ${max}, got ${JSON.stringify(text)}.`);
  }
  return value;
}

function idParam(text: string | null | undefined, name = 'id'): JobId {
  if (text === null || text === undefined || !/^\d{1,18}$/.test(text)) {
    throw bad(`${name} must be a job id (a whole number), got ${JSON.stringify(text ?? null)}.`);
  }
  return text;
}

/** Counts per queue, with the badge of a backlog no live worker consumes (when the store announces workers). */
async function overview(options: ResolvedOptions): Promise<ApiAnswer> {
  const { store } = options;
  const now = options.now();
  const [counts, live, workers] = await Promise.all([
    store.counts(),
    store.liveQueues ? store.liveQueues(now) : Promise.resolve(undefined),
    store.listWorkers ? store.listWorkers(now) : Promise.resolve(undefined),
  ]);
  const liveSet = live === undefined ? undefined : new Set(live);
  const byQueue = new Map<string, Record<JobState, number>>();
  for (const { queue, state, count } of counts) {
    let row = byQueue.get(queue);
    if (row === undefined) {
      row = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
      byQueue.set(queue, row);
    }
    row[state] += count;
  }
  for (const queue of live ?? []) {
    if (!byQueue.has(queue)) byQueue.set(queue, Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as never);
  }
  const queues = [...byQueue]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([queue, c]) => ({
      queue,
      counts: c,
      total: JOB_STATES.reduce((sum, s) => sum + c[s], 0),
      workers: liveSet === undefined ? null : liveSet.has(queue),
      backlogWithoutWorker: liveSet !== undefined && c.pending > 0 && !liveSet.has(queue),
    }));
  return ok({
    title: options.title,
    readOnly: options.readOnly,
    now,
    queues,
    workers: workers === undefined ? null : workers.length,
    features: {
      runNow: typeof store.runNow === 'function',
      workers: typeof store.listWorkers === 'function',
      throughput: typeof store.throughput === 'function',
    },
  });
}

async function listJobs(options: ResolvedOptions, params: URLSearchParams): Promise<ApiAnswer> {
  const filter = filterOf(params);
  const limit = limitParam(params.get('limit'), 50, 500);
  const beforeText = params.get('before');
  const before = beforeText === null || beforeText === '' ? undefined : idParam(beforeText, 'before');
  const payloadIndexed = filter.payload !== undefined && (await isPayloadIndexed(options.store));
  const unindexed = unindexedFilters(filter, payloadIndexed);
  if (unindexed.length > 0) {
    const page = await boundedSearch(options.store, filter, limit, before, {
      window: options.scanWindow,
      budgetMs: options.scanMs,
    });
    const search: ListSearch = {
      indexed: false,
      filters: unindexed,
      searchedTo: page.searchedTo,
      hint: hintFor(options.store.kind, unindexed),
    };
    return ok({
      jobs: page.jobs.map(jobSummary),
      next: page.next,
      search,
      ...legacyPayloadSearch(filter, search),
    });
  }
  // One more than shown tells whether another page follows.
  const found = await options.store.list({
    ...filter,
    limit: limit + 1,
    ...(before === undefined ? {} : { before }),
  });
  const jobs = found.slice(0, limit);
  const search: ListSearch | undefined = payloadIndexed ? { indexed: true } : undefined;
  return ok({
    jobs: jobs.map(jobSummary),
    next: found.length > limit ? jobs.at(-1)!.id : null,
    ...(search === undefined ? {} : { search, ...legacyPayloadSearch(filter, search) }),
  });
}

/**
 * `payloadSearch`, the name `search` had when only a payload filter was searched in windows: kept for scripts that
 * read it, with a payload filter only. Deprecated: read `search`.
 */
function legacyPayloadSearch(filter: JobFilter, search: ListSearch) {
  if (filter.payload === undefined) return {};
  return {
    payloadSearch: search.indexed
      ? { indexed: true }
      : { indexed: false, searchedTo: search.searchedTo, hint: search.hint },
  };
}

/** Whether the store says an index serves its payload filter (PostgreSQL with its payload index). */
async function isPayloadIndexed(store: JobStore): Promise<boolean> {
  return store.payloadFilterIndexed === undefined ? false : await store.payloadFilterIndexed();
}

/** What to do when a search reads windows without an index: per store kind for a payload filter (see docs/dashboard.md). */
function hintFor(kind: string, filters: readonly ListFilterName[]): string {
  if (filters.includes('payload')) return PAYLOAD_INDEX_HINT[kind] ?? PAYLOAD_INDEX_HINT.default!;
  return 'No index serves these filters: each page reads the jobs newest first, a window of ids at a time. A filter that matches recent jobs fills the page at once (see the dashboard docs, "Filters no index serves").';
}

/** What to do when a payload search is slow, per store kind (see docs/dashboard.md). */
const PAYLOAD_INDEX_HINT: Record<string, string> = {
  postgres:
    'No payload index: each page reads the payloads one by one. Create it once with `hostwork dashboard index-payloads` (see the dashboard docs, "Searching by payload").',
  sqlite:
    'SQLite has no index for every payload field: each page reads the payloads one by one. Narrow by queue, state or time, or index the field you search most (see the dashboard docs, "Searching by payload").',
  default: 'No index serves the payload filter: each page reads the payloads one by one.',
};

async function oneJob(store: JobStore, id: JobId): Promise<ApiAnswer> {
  const job = await store.get(id);
  if (job === undefined) throw new ApiError(404, `No job with id ${id}.`);
  return ok({ job });
}

/** What one action did to one job: `done`, or why not. */
type ActionOutcome = 'done' | 'cancelling' | 'not-found' | 'not-applicable';

async function act(options: ResolvedOptions, action: JobAction, id: JobId): Promise<ActionOutcome> {
  const { store } = options;
  const now = options.now();
  switch (action) {
    case 'retry': {
      if (await store.retry(id, now)) return 'done';
      return (await store.get(id)) === undefined ? 'not-found' : 'not-applicable';
    }
    case 'cancel': {
      const outcome = await store.cancel(id, now);
      if (outcome === 'cancelled') return 'done';
      if (outcome === 'cancelling') return 'cancelling';
      return outcome === 'not-found' ? 'not-found' : 'not-applicable';
    }
    case 'delete': {
      if ((await store.purge({ ids: [id] })) === 1) return 'done';
      return (await store.get(id)) === undefined ? 'not-found' : 'not-applicable';
    }
    case 'run-now': {
      if (!store.runNow) throw new ApiError(501, `This store (${store.kind}) cannot run a job now.`);
      if (await store.runNow(id, now)) return 'done';
      return (await store.get(id)) === undefined ? 'not-found' : 'not-applicable';
    }
  }
}

/** Why an action did not apply, for the page. */
const WHY: Record<JobAction, string> = {
  retry: 'only a dead or cancelled job can be retried (and not while a live job holds its unique key)',
  cancel: 'the job has already finished',
  delete: 'a running job cannot be deleted: cancel it first',
  'run-now': 'only a pending job can be run now',
};

async function actOnOne(options: ResolvedOptions, action: JobAction, id: JobId): Promise<ApiAnswer> {
  const outcome = await act(options, action, id);
  if (outcome === 'not-found') throw new ApiError(404, `No job with id ${id}.`);
  if (outcome === 'not-applicable') throw new ApiError(409, `Cannot ${action} job ${id}: ${WHY[action]}.`);
  return ok({ id, action, outcome });
}

/** The ids of up to `limit` jobs matching `filter`, newest first, read a page at a time. */
async function matchingIds(store: JobStore, filter: JobFilter, limit: number): Promise<JobId[]> {
  const ids: JobId[] = [];
  let before: JobId | undefined;
  while (ids.length < limit) {
    const want = Math.min(1000, limit - ids.length);
    const page = await store.list({ ...filter, limit: want, ...(before === undefined ? {} : { before }) });
    for (const job of page) ids.push(job.id);
    if (page.length < want) break;
    before = page.at(-1)!.id;
  }
  return ids;
}

async function countMatching(options: ResolvedOptions, params: URLSearchParams): Promise<ApiAnswer> {
  const filter = filterOf(params);
  const limit = limitParam(params.get('limit'), options.maxBulk, options.maxBulk);
  const ids = await matchingIds(options.store, filter, limit + 1);
  return ok({ count: Math.min(ids.length, limit), more: ids.length > limit, limit });
}

/** A bulk request: `{ action, ids }` or `{ action, filter, limit, confirm: true }`. */
async function bulk(options: ResolvedOptions, body: unknown): Promise<ApiAnswer> {
  if (typeof body !== 'object' || body === null) throw bad('The body must be a JSON object.');
  const request = body as Record<string, unknown>;
  const action = request.action;
  if (typeof action !== 'string' || !(JOB_ACTIONS as readonly string[]).includes(action)) {
    throw bad(`action must be one of ${JOB_ACTIONS.join(', ')}.`);
  }
  let ids: JobId[];
  if (request.ids !== undefined) {
    if (!Array.isArray(request.ids) || request.ids.length === 0 || request.ids.length > 1000) {
      throw bad('ids must list 1 to 1000 job ids.');
    }
    ids = request.ids.map((id) => idParam(typeof id === 'string' ? id : String(id)));
  } else {
    const filterObject = request.filter;
    if (typeof filterObject !== 'object' || filterObject === null)
      throw bad('Give ids, or filter with a limit.');
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(filterObject)) {
      if (typeof value !== 'string') throw bad(`filter.${key} must be a string.`);
      params.set(key, value);
    }
    const limit = limitParam(
      typeof request.limit === 'number' ? String(request.limit) : null,
      Number.NaN,
      options.maxBulk,
    );
    if (Number.isNaN(limit))
      throw bad(`A bulk action over a filter needs a limit (1 to ${options.maxBulk}).`);
    if (request.confirm !== true) throw bad('A bulk action over a filter needs confirm: true.');
    ids = await matchingIds(options.store, filterOf(params), limit);
  }
  const tally: Record<ActionOutcome, number> = {
    done: 0,
    cancelling: 0,
    'not-found': 0,
    'not-applicable': 0,
  };
  if (action === 'delete') {
    // One statement per page of ids (running jobs are never deleted).
    for (let i = 0; i < ids.length; i += 1000) {
      const page = ids.slice(i, i + 1000);
      const deleted = await options.store.purge({ ids: page });
      tally.done += deleted;
      tally['not-applicable'] += page.length - deleted;
    }
  } else {
    for (const id of ids) tally[await act(options, action as JobAction, id)]++;
  }
  return ok({ action, matched: ids.length, ...tally });
}

async function schedules(store: JobStore): Promise<ApiAnswer> {
  return ok({ schedules: await store.listSchedules() });
}

async function pauseSchedule(options: ResolvedOptions, name: string, paused: boolean): Promise<ApiAnswer> {
  const { store } = options;
  const schedule = (await store.listSchedules()).find((s) => s.name === name);
  if (schedule === undefined) throw new ApiError(404, `No schedule named ${JSON.stringify(name)}.`);
  // Resuming starts from the next future tick, as the CLI and JobClient.resumeSchedule do.
  const next = paused ? undefined : nextStoredTick(schedule, options.now());
  await store.setSchedulePaused(name, paused, next);
  return ok({ name, paused, nextRunAt: paused ? schedule.nextRunAt : (next ?? null) });
}

async function workers(options: ResolvedOptions): Promise<ApiAnswer> {
  const { store } = options;
  if (!store.listWorkers) return ok({ supported: false, workers: [] });
  return ok({ supported: true, workers: await store.listWorkers(options.now()) });
}

/** Jobs finished per minute over the last hour. */
async function throughput(options: ResolvedOptions): Promise<ApiAnswer> {
  const { store } = options;
  const bucketMs = 60_000;
  const now = options.now();
  const since = Math.floor(now / bucketMs) * bucketMs - 59 * bucketMs;
  if (!store.throughput) return ok({ supported: false, since, bucketMs, buckets: [] });
  return ok({ supported: true, since, bucketMs, buckets: await store.throughput(since, bucketMs) });
}

/**
 * Answers `method path` under `<base>/api` (`path` without that prefix, e.g. `/jobs/42/retry`). `readBody` gives the
 * parsed JSON body of a POST.
 */
export async function answerApi(
  options: ResolvedOptions,
  method: string,
  path: string,
  params: URLSearchParams,
  readBody: () => Promise<unknown>,
): Promise<ApiAnswer> {
  let parts: string[];
  try {
    parts = path
      .split('/')
      .filter((p) => p !== '')
      .map(decodeURIComponent);
  } catch {
    throw bad(`The path ${path} is not valid URL encoding.`);
  }
  const route = `${method} /${parts.map((p, i) => (i === 1 && (parts[0] === 'jobs' || parts[0] === 'schedules') && p !== 'bulk' && p !== 'count' ? ':x' : p)).join('/')}`;
  switch (route) {
    case 'GET /overview':
      return overview(options);
    case 'GET /jobs':
      return listJobs(options, params);
    case 'GET /jobs/count':
      return countMatching(options, params);
    case 'GET /jobs/:x':
      return oneJob(options.store, idParam(parts[1]));
    case 'POST /jobs/bulk':
      return bulk(options, await readBody());
    case 'GET /schedules':
      return schedules(options.store);
    case 'GET /workers':
      return workers(options);
    case 'GET /throughput':
      return throughput(options);
  }
  if (method === 'POST' && parts[0] === 'jobs' && parts.length === 3) {
    const action = parts[2]!;
    if ((JOB_ACTIONS as readonly string[]).includes(action)) {
      return actOnOne(options, action as JobAction, idParam(parts[1]));
    }
  }
  if (method === 'POST' && parts[0] === 'schedules' && parts.length === 3) {
    if (parts[2] === 'pause') return pauseSchedule(options, parts[1]!, true);
    if (parts[2] === 'resume') return pauseSchedule(options, parts[1]!, false);
  }
  throw new ApiError(404, `No API route ${method} ${path}.`);
}
