/** The options of {@link createDashboard}, checked once: an unknown key or a bad value is refused with its fix. */
import { ErrorCodes, HostworkError, type JobStore } from 'hostwork';

/** Who may use the dashboard. Every request without valid credentials is refused (401). */
export type DashboardAuth =
  /** HTTP Basic: the browser asks for the user name and password. */
  | { readonly kind: 'basic'; readonly username: string; readonly password: string }
  /**
   * A bearer token: scripts send `Authorization: Bearer <token>`; a browser signs in once on `<base>/login` with the
   * token and gets an HttpOnly session cookie.
   */
  | { readonly kind: 'bearer'; readonly token: string }
  /** The host's own session: `authenticate` sees the request (its cookies and headers) and says whether it may pass. */
  | {
      readonly kind: 'callback';
      readonly authenticate: (request: Request) => boolean | Promise<boolean>;
    }
  /**
   * No authentication, for a dashboard on a developer machine only: requests from a loopback address (127.0.0.0/8,
   * ::1) pass, every other is refused. The Fetch handler must be told the client address (the node:http handler and
   * the framework adapters do); without it every request is refused.
   */
  | { readonly kind: 'none'; readonly loopbackOnly: true };

/** What {@link createDashboard} takes. */
export interface DashboardOptions {
  /** The job store to show and operate on. The dashboard does not close it. */
  readonly store: JobStore;
  /** Required: who may use the dashboard (there is no default, so a dashboard is never open by mistake). */
  readonly auth: DashboardAuth;
  /** The path the dashboard is mounted under: '' (the root) or '/admin/jobs' (no trailing slash). Default ''. */
  readonly basePath?: string;
  /** Refuse every request that is not GET or HEAD (403): look, do not touch. Default false. */
  readonly readOnly?: boolean;
  /** The most jobs one bulk action over a filter may change (each request names its own limit up to this). Default 10000. */
  readonly maxBulk?: number;
  /** The page title. Default 'Hostwork'. */
  readonly title?: string;
  /**
   * A job list whose filters no index serves (name, time, queue or state; a payload filter on SQLite and on
   * PostgreSQL without its payload index) reads the jobs newest first in windows of this many ids, and stops after
   * {@link DashboardOptions.scanMs}: the page then offers to search older jobs. Default 20000.
   */
  readonly scanWindow?: number;
  /** How long one page of a job list whose filters no index serves may read windows of jobs (ms). Default 120. */
  readonly scanMs?: number;
  /** @deprecated The former name of {@link DashboardOptions.scanWindow} (then for payload filters only). */
  readonly payloadScanWindow?: number;
  /** @deprecated The former name of {@link DashboardOptions.scanMs} (then for payload filters only). */
  readonly payloadScanMs?: number;
  /** The clock (ms since epoch), for tests. Default Date.now. */
  readonly now?: () => number;
}

/** The options with their defaults, checked. */
export interface ResolvedOptions {
  readonly store: JobStore;
  readonly auth: DashboardAuth;
  readonly basePath: string;
  readonly readOnly: boolean;
  readonly maxBulk: number;
  readonly title: string;
  readonly scanWindow: number;
  readonly scanMs: number;
  readonly now: () => number;
}

const KEYS = new Set([
  'store',
  'auth',
  'basePath',
  'readOnly',
  'maxBulk',
  'title',
  'scanWindow',
  'scanMs',
  'payloadScanWindow',
  'payloadScanMs',
  'now',
]);

function invalid(message: string): HostworkError {
  return new HostworkError(ErrorCodes.INVALID_OPTION, `dashboard: ${message}`);
}

/** Checks `options`, naming the key at fault and the fix. */
export function resolveOptions(options: DashboardOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw invalid('options must be an object.');
  for (const key of Object.keys(options)) {
    if (!KEYS.has(key)) throw invalid(`unknown option '${key}' (known: ${[...KEYS].join(', ')}).`);
  }
  const { store, auth } = options;
  if (typeof store !== 'object' || store === null || typeof store.list !== 'function') {
    throw invalid('store must be a JobStore (sqliteStore(...), postgresStore(...)).');
  }
  checkAuth(auth);
  const basePath = options.basePath ?? '';
  if (typeof basePath !== 'string' || (basePath !== '' && !/^(\/[A-Za-z0-9._~-]+)+$/.test(basePath))) {
    throw invalid(
      `basePath must be '' or a path like '/admin/jobs' (no trailing slash), got ${JSON.stringify(basePath)}.`,
    );
  }
  const maxBulk = options.maxBulk ?? 10_000;
  if (!Number.isSafeInteger(maxBulk) || maxBulk < 1) throw invalid('maxBulk must be a positive integer.');
  const windowKey =
    options.scanWindow === undefined && options.payloadScanWindow !== undefined
      ? 'payloadScanWindow'
      : 'scanWindow';
  const scanWindow = options.scanWindow ?? options.payloadScanWindow ?? 20_000;
  if (!Number.isSafeInteger(scanWindow) || scanWindow < 1) {
    throw invalid(`${windowKey} must be a positive integer (ids per window).`);
  }
  const msKey =
    options.scanMs === undefined && options.payloadScanMs !== undefined ? 'payloadScanMs' : 'scanMs';
  const scanMs = options.scanMs ?? options.payloadScanMs ?? 120;
  if (!Number.isFinite(scanMs) || scanMs < 0) {
    throw invalid(`${msKey} must be a number of milliseconds, 0 or more.`);
  }
  return {
    store,
    auth,
    basePath,
    readOnly: options.readOnly === true,
    maxBulk,
    title: options.title ?? 'Hostwork',
    scanWindow,
    scanMs,
    now: options.now ?? Date.now,
  };
}

function checkAuth(auth: DashboardAuth | undefined): void {
  const hint =
    "set auth to { kind: 'basic', username, password }, { kind: 'bearer', token }, { kind: 'callback', authenticate } or, on a developer machine, { kind: 'none', loopbackOnly: true }";
  if (typeof auth !== 'object' || auth === null) throw invalid(`auth is required: ${hint}.`);
  switch (auth.kind) {
    case 'basic':
      if (typeof auth.username !== 'string' || auth.username === '' || auth.username.includes(':')) {
        throw invalid('auth.username must be a non-empty string without ":".');
      }
      if (typeof auth.password !== 'string' || auth.password.length < 8) {
        throw invalid('auth.password must be a string of at least 8 characters.');
      }
      return;
    case 'bearer':
      if (typeof auth.token !== 'string' || auth.token.length < 16) {
        throw invalid('auth.token must be a string of at least 16 characters.');
      }
      return;
    case 'callback':
      if (typeof auth.authenticate !== 'function') throw invalid('auth.authenticate must be a function.');
      return;
    case 'none':
      if (auth.loopbackOnly !== true) {
        throw invalid(
          "auth { kind: 'none' } needs loopbackOnly: true: the dashboard is never open to the network.",
        );
      }
      return;
    default:
      throw invalid(`auth.kind must be basic, bearer, callback or none: ${hint}.`);
  }
}
