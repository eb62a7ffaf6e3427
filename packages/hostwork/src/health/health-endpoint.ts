import type { IncomingMessage, ServerResponse } from 'node:http';
import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';
import type { HealthReport } from './health-check.ts';
import type { HealthCheckService } from './health-check-service.ts';

/** How the health endpoint answers. */
export interface HealthEndpointOptions {
  /** Where the probes live: `<basePath>`, `<basePath>/live`, `/ready`, `/startup`. Default '/healthz'. */
  readonly basePath?: string;
  /**
   * Whether the JSON body lists every check with its description, data, error and duration (true, the default), or
   * carries the overall status alone (false: for an endpoint reachable by people who should not see the figures).
   */
  readonly details?: boolean;
}

/** An answer of the endpoint, whatever server carries it. */
export interface HealthResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

const PROBES = ['live', 'ready', 'startup'] as const;
const OPTION_KEYS = ['basePath', 'details'] as const;

/** Checks the endpoint's options (HW_UNKNOWN_OPTION, HW_INVALID_OPTION) and gives the base path without a trailing '/'. */
export function resolveEndpointOptions(options: HealthEndpointOptions): { base: string; details: boolean } {
  assertKnownKeys('health endpoint options', options, OPTION_KEYS);
  const base = options.basePath ?? '/healthz';
  if (typeof base !== 'string' || !base.startsWith('/'))
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `Health endpoint: basePath must start with '/', got ${JSON.stringify(base)}.`,
    );
  if (options.details !== undefined && typeof options.details !== 'boolean')
    throw new HostworkError(ErrorCodes.INVALID_OPTION, 'Health endpoint: details must be true or false.');
  return { base: base.length > 1 ? base.replace(/\/+$/, '') : '', details: options.details ?? true };
}

/**
 * The health endpoint's routing, independent of the server: `GET <basePath>` runs every check, `<basePath>/live`,
 * `/ready` and `/startup` those tagged so; `?tag=a,b` (or `?tag=a&tag=b`) keeps the checks carrying one of those tags.
 * 200 for healthy and degraded, 503 for unhealthy (the status code is what probes read); JSON body; never cached.
 */
export class HealthEndpoint {
  readonly #service: HealthCheckService;
  readonly #base: string;
  readonly #details: boolean;

  constructor(service: HealthCheckService, options: HealthEndpointOptions = {}) {
    const { base, details } = resolveEndpointOptions(options);
    this.#service = service;
    this.#base = base;
    this.#details = details;
  }

  /** Answers `method` and `url` (path and query), or returns undefined for a path outside the endpoint. */
  async answer(method: string, url: string): Promise<HealthResponse | undefined> {
    const parsed = new URL(url, 'http://localhost');
    const path = parsed.pathname.replace(/\/+$/, '') || '/';
    let probe: string | undefined;
    if (path === (this.#base || '/')) probe = undefined;
    else {
      const rest = path.startsWith(`${this.#base}/`) ? path.slice(this.#base.length + 1) : undefined;
      if (rest === undefined || !(PROBES as readonly string[]).includes(rest)) return undefined;
      probe = rest;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      return {
        status: 405,
        headers: { allow: 'GET, HEAD', 'content-type': 'application/json', 'cache-control': 'no-store' },
        body: JSON.stringify({ error: `${method} is not allowed here: use GET` }),
      };
    }
    const tags = parsed.searchParams
      .getAll('tag')
      .flatMap((t) => t.split(','))
      .map((t) => t.trim())
      .filter((t) => t !== '');
    const report = await this.#service.check({ ...(probe === undefined ? {} : { probe }), tags });
    return {
      status: report.status === 'unhealthy' ? 503 : 200,
      headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store, max-age=0' },
      body: method === 'HEAD' ? '' : JSON.stringify(this.#body(report)),
    };
  }

  /**
   * A node:http listener: answers the endpoint's paths and returns true, or returns false (touching nothing) for any
   * other path, so an application's own server can mount it: `if (!(await handle(req, res))) app(req, res)`.
   */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const response = await this.answer(req.method ?? 'GET', req.url ?? '/');
    if (response === undefined) return false;
    res.writeHead(response.status, response.headers).end(response.body);
    return true;
  }

  /** A Fetch handler (Hono, Bun, Deno, workers): a Response for the endpoint's paths, undefined for any other. */
  async fetch(request: Request): Promise<Response | undefined> {
    const url = new URL(request.url);
    const response = await this.answer(request.method, `${url.pathname}${url.search}`);
    if (response === undefined) return undefined;
    return new Response(request.method === 'HEAD' ? null : response.body, {
      status: response.status,
      headers: response.headers,
    });
  }

  #body(report: HealthReport): unknown {
    return this.#details ? report : { status: report.status };
  }
}
