import { ErrorCodes, HostworkError } from '../errors.ts';

/**
 * How long to wait before retrying a failed attempt.
 * - `exponential` (the default): `base * 2^(attempt-1)` ms capped at `max`, spread by ±`jitter` so that jobs
 *   failing together (an outage) do not retry together.
 * - `fixed`: the same delay every time.
 * - a function of the attempt that just failed and its error (definition-level only: functions are not stored).
 */
export type Backoff =
  | { readonly type: 'exponential'; readonly base?: number; readonly max?: number; readonly jitter?: number }
  | { readonly type: 'fixed'; readonly delay: number }
  | ((attempt: number, error: unknown) => number);

/** A backoff that can be stored with a job (a per-enqueue override). */
export type StorableBackoff = Exclude<Backoff, (attempt: number, error: unknown) => number>;

/** The default: exponential from 2 s, doubling, capped at 1 h, ±20 % jitter (10 attempts span about 17 min). */
export const defaultBackoff = { type: 'exponential', base: 2_000, max: 3_600_000, jitter: 0.2 } as const;

/** The delay in ms before the attempt after `attempt` (the one that just failed). */
export function backoffDelay(backoff: Backoff, attempt: number, error: unknown): number {
  if (typeof backoff === 'function') return Math.max(0, backoff(attempt, error));
  if (backoff.type === 'fixed') return backoff.delay;
  const base = backoff.base ?? defaultBackoff.base;
  const max = backoff.max ?? defaultBackoff.max;
  const jitter = backoff.jitter ?? defaultBackoff.jitter;
  const delay = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(delay * (1 - jitter + Math.random() * 2 * jitter));
}

/** Checks a backoff given in options, naming the problem. */
export function validateBackoff(backoff: Backoff, where: string): void {
  if (typeof backoff === 'function') return;
  const bad = (what: string) =>
    new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `${where}: backoff ${what}, got ${JSON.stringify(backoff)}.`,
    );
  if (backoff.type === 'fixed') {
    if (!(Number.isFinite(backoff.delay) && backoff.delay >= 0))
      throw bad('delay must be a number of ms >= 0');
  } else if (backoff.type === 'exponential') {
    for (const key of ['base', 'max'] as const) {
      const v = backoff[key];
      if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw bad(`${key} must be a number of ms >= 0`);
    }
    if (backoff.jitter !== undefined && !(backoff.jitter >= 0 && backoff.jitter <= 1)) {
      throw bad('jitter must be between 0 and 1');
    }
  } else {
    throw bad("type must be 'exponential' or 'fixed' (or pass a function)");
  }
}
