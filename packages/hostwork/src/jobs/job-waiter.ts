import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';
import type { JobEvents } from './job-events.ts';
import type { JobId, JobInfo, JobState } from './job-record.ts';
import type { JobStore } from './job-store.ts';

/** Options of {@link JobClient.waitFor}. */
export interface WaitOptions {
  /** Stops waiting when aborted: `waitFor` rejects with the signal's reason. The job itself is not touched. */
  readonly signal?: AbortSignal | undefined;
  /** The most ms to wait; then `waitFor` rejects with HW_JOB_WAIT_TIMEOUT. Default: no limit. */
  readonly timeout?: number | undefined;
}

/** The states a job does not leave by itself: waiting ends there. */
const FINISHED: ReadonlySet<JobState> = new Set(['completed', 'dead', 'cancelled']);

/**
 * Reads of the waited jobs started by the store's signal are at least this far apart: SQLite's signal follows every
 * write of other processes (every few ms during a drain), and one read per interval answers all of them.
 */
const MIN_READ_INTERVAL_MS = 20;
/** Stores without `onSettled`: the waited jobs are read this often. */
const POLL_MS = 1_000;
/** Stores with `onSettled`: a safety read this often, in case a signal was missed (a connection lost, say). */
const SAFETY_READ_MS = 10_000;
/** The largest delay a timer can hold (about 24.8 days). */
const MAX_TIMEOUT_MS = 2_147_483_647;

interface Waiter {
  readonly id: JobId;
  /** Whether the job was ever read (a missing job is then "gone", not "unknown"). */
  seen: boolean;
  /** The state last read, for the timeout's message. */
  last: JobInfo | undefined;
  resolve(info: JobInfo): void;
  reject(error: unknown): void;
}

/**
 * The waiting behind {@link JobClient.waitFor}, one per client. All waiters of a process share one read of their jobs
 * (`getMany`, one query), started by what may have finished them:
 * - a terminal job event (`completed`, `dead`, `cancelled`) of a worker in this process, at once;
 * - the store's `onSettled` signal: this store instance's own writes at once; other processes' writes as the store
 *   learns of them (SQLite: its few-ms `data_version` poll; PostgreSQL: a poll every `settledPollIntervalMs`);
 * - a slow safety read (or, for a store without `onSettled`, a poll every second).
 * While anyone waits, a timer keeps the process alive, so a script can `await` a job another process runs.
 */
export class JobWaiter {
  readonly #store: JobStore;
  readonly #events: JobEvents;
  readonly #ready: () => Promise<void>;
  readonly #waiters = new Map<JobId, Set<Waiter>>();
  /** Jobs this process saw complete: if one is gone when read, its worker keeps no completed jobs. */
  readonly #completedHere = new Set<JobId>();
  #unsubscribe: (() => void)[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #reading = false;
  #again = false;
  #lastRead = 0;
  #scheduled: ReturnType<typeof setTimeout> | undefined;
  #immediate = false;

  constructor(store: JobStore, events: JobEvents, ready: () => Promise<void>) {
    this.#store = store;
    this.#events = events;
    this.#ready = ready;
  }

  /** How many calls wait right now (for tests and diagnostics). */
  get waiting(): number {
    let n = 0;
    for (const set of this.#waiters.values()) n += set.size;
    return n;
  }

  /** See {@link JobClient.waitFor}. */
  waitFor(id: JobId, options: WaitOptions = {}): Promise<JobInfo> {
    let checked: ReturnType<typeof checkOptions>;
    try {
      checked = checkOptions(id, options);
    } catch (error) {
      return Promise.reject(error);
    }
    const { signal, timeout } = checked;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const { promise, resolve, reject } = Promise.withResolvers<JobInfo>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      this.#remove(waiter);
    };
    const waiter: Waiter = {
      id,
      seen: false,
      last: undefined,
      resolve: (info) => {
        done();
        resolve(info);
      },
      reject: (error) => {
        done();
        reject(error);
      },
    };
    const onAbort = (): void => waiter.reject(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeout !== undefined) timer = setTimeout(() => void this.#timedOut(waiter, timeout), timeout);
    // Listening first, reading second: a job finishing between the two is not missed.
    this.#add(waiter);
    void this.#first(waiter);
    return promise;
  }

  /** The first read of a waiter's job, on its own: an unknown id or a failing store rejects this call at once. */
  async #first(waiter: Waiter): Promise<void> {
    try {
      await this.#ready();
      const info = await this.#store.get(waiter.id);
      this.#apply(waiter, info);
    } catch (error) {
      waiter.reject(error);
    }
  }

  /** Resolves or rejects a waiter from what was read of its job, or notes its state. */
  #apply(waiter: Waiter, info: JobInfo | undefined): void {
    if (info === undefined) {
      waiter.reject(this.#notFound(waiter));
      return;
    }
    waiter.seen = true;
    waiter.last = info;
    if (FINISHED.has(info.state)) waiter.resolve(info);
  }

  async #timedOut(waiter: Waiter, timeout: number): Promise<void> {
    let info = waiter.last;
    try {
      // The current state for the message; a job that has just finished resolves instead.
      info = await this.#store.get(waiter.id);
      if (info === undefined || FINISHED.has(info.state)) {
        this.#apply(waiter, info);
        return;
      }
    } catch {
      // The store cannot be read: report the state last read.
    }
    const state = info
      ? `it is ${info.state}${info.state === 'pending' ? ` in queue '${info.queue}'` : ''}`
      : 'its state could not be read';
    waiter.reject(
      new HostworkError(
        ErrorCodes.JOB_WAIT_TIMEOUT,
        `Job ${info ? `${info.name}#` : ''}${waiter.id} did not finish within the timeout of ${timeout} ms (${state}). Fix: wait longer (option timeout), or check that a worker consumes its queue; the job itself is unchanged.`,
      ),
    );
  }

  #notFound(waiter: Waiter): HostworkError {
    if (!waiter.seen) {
      return new HostworkError(
        ErrorCodes.JOB_NOT_FOUND,
        `No job with id '${waiter.id}' is stored: it never existed, or it was purged, or it completed under a worker that keeps no completed jobs (completedRetentionMs or maxCompletedJobs 0). Fix: pass an id returned by enqueue, and keep completed jobs to wait for them.`,
      );
    }
    const why = this.#completedHere.has(waiter.id)
      ? 'it completed, and its worker keeps no completed jobs (completedRetentionMs or maxCompletedJobs is 0), so there is no result to read'
      : 'it was purged, or it completed under a worker that keeps no completed jobs (completedRetentionMs or maxCompletedJobs 0)';
    return new HostworkError(
      ErrorCodes.JOB_NOT_FOUND,
      `Job '${waiter.id}' is no longer stored: ${why}. Fix: keep completed jobs (completedRetentionMs > 0) to wait for them and read their results.`,
    );
  }

  #add(waiter: Waiter): void {
    let set = this.#waiters.get(waiter.id);
    if (set === undefined) {
      set = new Set();
      this.#waiters.set(waiter.id, set);
    }
    set.add(waiter);
    if (this.#timer === undefined) this.#listen();
  }

  #remove(waiter: Waiter): void {
    const set = this.#waiters.get(waiter.id);
    if (set === undefined || !set.delete(waiter)) return;
    if (set.size === 0) {
      this.#waiters.delete(waiter.id);
      this.#completedHere.delete(waiter.id);
    }
    if (this.#waiters.size === 0) this.#stopListening();
  }

  /** Starts listening for what may finish jobs: job events, the store's signal, and the timer. */
  #listen(): void {
    const onEvent = (event: { readonly id: JobId }): void => {
      if (this.#waiters.has(event.id)) this.#readSoon(true);
    };
    this.#unsubscribe = [
      this.#events.on('completed', (event) => {
        if (this.#waiters.has(event.id)) this.#completedHere.add(event.id);
        onEvent(event);
      }),
      this.#events.on('dead', onEvent),
      this.#events.on('cancelled', onEvent),
    ];
    const onSettled = this.#store.onSettled?.bind(this.#store);
    if (onSettled) this.#unsubscribe.push(onSettled(() => this.#readSoon(false)));
    // Not unref'd: a process whose only work left is this wait stays alive for it.
    this.#timer = setInterval(() => this.#readSoon(false), onSettled ? SAFETY_READ_MS : POLL_MS);
  }

  #stopListening(): void {
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    this.#unsubscribe = [];
    clearInterval(this.#timer);
    this.#timer = undefined;
    clearTimeout(this.#scheduled);
    this.#scheduled = undefined;
    this.#immediate = false;
  }

  /**
   * Reads the waited jobs soon, coalescing requests: one read at a time, and reads started by the store's signal at
   * least MIN_READ_INTERVAL_MS apart. A job event of this process (`urgent`) reads on the next turn of the event loop.
   */
  #readSoon(urgent: boolean): void {
    if (this.#waiters.size === 0) return;
    if (this.#reading) {
      this.#again = true;
      return;
    }
    if (urgent) {
      if (this.#immediate) return;
      this.#immediate = true;
      clearTimeout(this.#scheduled);
      this.#scheduled = undefined;
      setImmediate(() => {
        this.#immediate = false;
        void this.#read();
      });
      return;
    }
    if (this.#scheduled !== undefined || this.#immediate) return;
    const wait = Math.max(0, this.#lastRead + MIN_READ_INTERVAL_MS - Date.now());
    this.#scheduled = setTimeout(() => {
      this.#scheduled = undefined;
      void this.#read();
    }, wait);
  }

  /** One read of every waited job; resolves the finished ones, rejects the ones gone. */
  async #read(): Promise<void> {
    if (this.#reading || this.#waiters.size === 0) return;
    this.#reading = true;
    this.#again = false;
    this.#lastRead = Date.now();
    const ids = [...this.#waiters.keys()];
    try {
      const infos = this.#store.getMany
        ? await this.#store.getMany(ids)
        : (await Promise.all(ids.map((id) => this.#store.get(id)))).filter((i) => i !== undefined);
      const byId = new Map(infos.map((info) => [info.id, info]));
      for (const id of ids) {
        const info = byId.get(id);
        for (const waiter of [...(this.#waiters.get(id) ?? [])]) {
          // A waiter whose own first read has not returned yet learns from that read whether the id is known.
          if (info === undefined && !waiter.seen) continue;
          this.#apply(waiter, info);
        }
      }
    } catch (error) {
      // A closed store never answers again; any other failure may pass, and the next signal reads again.
      if (error instanceof HostworkError && error.code === ErrorCodes.HOST_STATE) {
        for (const set of [...this.#waiters.values()]) for (const waiter of [...set]) waiter.reject(error);
      }
    } finally {
      this.#reading = false;
    }
    if (this.#again) this.#readSoon(false);
  }
}

/** The options, checked: a timeout a timer can hold, a signal that is an AbortSignal. */
function checkOptions(
  id: JobId,
  options: WaitOptions,
): { signal: AbortSignal | undefined; timeout: number | undefined } {
  const where = `waitFor('${id}')`;
  if (typeof options !== 'object' || options === null) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `${where}: options must be an object { signal?, timeout? }.`,
    );
  }
  assertKnownKeys(`${where} options`, options, ['signal', 'timeout']);
  const { signal, timeout } = options;
  if (timeout !== undefined && !(Number.isFinite(timeout) && timeout >= 0 && timeout <= MAX_TIMEOUT_MS)) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `${where}: timeout must be a number of ms from 0 to ${MAX_TIMEOUT_MS} (or left out to wait without limit), got ${String(timeout)}.`,
    );
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new HostworkError(ErrorCodes.INVALID_OPTION, `${where}: signal must be an AbortSignal.`);
  }
  return { signal, timeout };
}
