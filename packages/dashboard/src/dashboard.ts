/**
 * The dashboard as a standard Fetch handler: `(request, info?) => Promise<Response>`. Everything else (node:http,
 * Express, Fastify, Hono, NestJS) adapts to this one function.
 */
import { ApiError, answerApi } from './api.ts';
import { ASSET_TYPES, readAsset } from './assets.ts';
import {
  authenticate,
  type ConnectionInfo,
  CSRF_COOKIE,
  cookies,
  csrfProblem,
  newCsrfToken,
  SESSION_COOKIE,
  safeEqual,
  sessionValue,
} from './auth.ts';
import { type DashboardOptions, type ResolvedOptions, resolveOptions } from './dashboard-options.ts';

/** The dashboard's Fetch handler. `info.remoteAddress` is needed only by `auth: { kind: 'none' }`. */
export type DashboardHandler = (request: Request, info?: ConnectionInfo) => Promise<Response>;

/**
 * The Content-Security-Policy of every answer: scripts, styles and requests from the dashboard's own origin only, no
 * inline script or style, no framing.
 */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** The largest JSON body the API reads. */
const MAX_BODY_BYTES = 64 * 1024;

function respond(
  status: number,
  body: string | Uint8Array<ArrayBuffer> | null,
  headers: Record<string, string>,
): Response {
  return new Response(body, {
    status,
    headers: { ...SECURITY_HEADERS, 'cache-control': 'no-store', ...headers },
  });
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return respond(status, JSON.stringify(body), {
    'content-type': 'application/json; charset=utf-8',
    ...headers,
  });
}

/** Text for HTML: every character that could open markup or an attribute is escaped. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function cookie(
  name: string,
  value: string,
  options: ResolvedOptions,
  secure: boolean,
  maxAge?: number,
): string {
  return [
    `${name}=${value}`,
    `Path=${options.basePath === '' ? '/' : options.basePath}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(secure ? ['Secure'] : []),
    ...(maxAge === undefined ? [] : [`Max-Age=${maxAge}`]),
  ].join('; ');
}

function page(options: ResolvedOptions, csrf: string): string {
  const base = escapeHtml(options.basePath);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${escapeHtml(options.title)}</title>
<meta name="hostwork-base" content="${base}">
<meta name="hostwork-csrf" content="${escapeHtml(csrf)}">
<meta name="hostwork-read-only" content="${options.readOnly ? 'true' : 'false'}">
<link rel="stylesheet" href="${base}/assets/dashboard.css">
<script type="module" src="${base}/assets/dashboard.js"></script>
</head>
<body><div id="app"><p class="loading">Loading…</p></div></body>
</html>
`;
}

function loginPage(options: ResolvedOptions, failed: boolean): string {
  const base = escapeHtml(options.basePath);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Sign in · ${escapeHtml(options.title)}</title>
<link rel="stylesheet" href="${base}/assets/dashboard.css">
</head>
<body>
<main class="login">
<h1>${escapeHtml(options.title)}</h1>
<form method="post" action="${base}/login">
<label>Dashboard token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
<button type="submit">Sign in</button>
${failed ? '<p class="error" role="alert">That token is not valid.</p>' : ''}
</form>
</main>
</body>
</html>
`;
}

/**
 * Creates the dashboard: a Fetch handler answering under `options.basePath` (404 elsewhere). Every request is
 * authenticated first (see {@link DashboardOptions.auth}); the login page and the stylesheet (which reveals nothing)
 * are the only exceptions.
 */
export function createDashboard(options: DashboardOptions): DashboardHandler {
  const resolved = resolveOptions(options);
  const { basePath } = resolved;
  return async (request, info = {}) => {
    const url = new URL(request.url);
    const secure = url.protocol === 'https:';
    if (url.pathname !== basePath && !url.pathname.startsWith(`${basePath}/`)) {
      return json(404, { error: 'Not found.' });
    }
    const path = url.pathname.slice(basePath.length) || '/';
    const method = request.method.toUpperCase();
    const reading = method === 'GET' || method === 'HEAD';

    // What needs no credentials: the stylesheet (the login page uses it) and the login of bearer auth.
    if (reading && path === '/assets/dashboard.css') return asset('dashboard.css', method);
    if (path === '/login' && resolved.auth.kind === 'bearer') {
      return login(request, resolved, secure).catch((error: unknown) =>
        json(error instanceof ApiError ? error.status : 500, { error: String((error as Error).message) }),
      );
    }

    const auth = await authenticate(request, resolved.auth, info);
    if (!auth.ok) return refuse(resolved, path, reading);

    if (!reading) {
      if (resolved.readOnly) {
        return json(403, { error: 'This dashboard is read-only: it refuses every request that is not GET.' });
      }
      if (auth.ambient) {
        const problem = csrfProblem(request);
        if (problem !== undefined) return json(403, { error: `CSRF check failed: ${problem}.` });
      }
    }
    if (reading && (path === '/' || path === '/index.html')) {
      const existing = cookies(request).get(CSRF_COOKIE);
      const token =
        existing !== undefined && /^[A-Za-z0-9_-]{32}$/.test(existing) ? existing : newCsrfToken();
      const headers: Record<string, string> = { 'content-type': 'text/html; charset=utf-8' };
      if (token !== existing) headers['set-cookie'] = cookie(CSRF_COOKIE, token, resolved, secure);
      return respond(200, method === 'HEAD' ? null : page(resolved, token), headers);
    }
    if (path === '/' && method !== 'GET') return json(405, { error: 'Method not allowed.' });
    if (reading && path.startsWith('/assets/')) {
      const name = path.slice('/assets/'.length);
      if (ASSET_TYPES[name] !== undefined) return asset(name, method);
      return json(404, { error: 'Not found.' });
    }
    if (path.startsWith('/api/')) {
      try {
        const answer = await answerApi(
          resolved,
          method === 'HEAD' ? 'GET' : method,
          path.slice('/api'.length),
          url.searchParams,
          () => readJson(request),
        );
        return json(answer.status, answer.body);
      } catch (error) {
        if (error instanceof ApiError) return json(error.status, { error: error.message });
        // A store's own validation (HostworkError) is a bad request; anything else is the server's fault.
        const message = error instanceof Error ? error.message : String(error);
        const code = (error as { code?: unknown }).code;
        return json(code === 'HW_INVALID_OPTION' ? 400 : 500, { error: message });
      }
    }
    return json(404, { error: 'Not found.' });
  };
}

async function asset(name: string, method: string): Promise<Response> {
  const { body, type } = await readAsset(name);
  return respond(200, method === 'HEAD' ? null : body.slice(), {
    'content-type': type,
    // Revalidated each time: a new version of the package must not meet an old script in the cache.
    'cache-control': 'no-cache',
  });
}

function refuse(options: ResolvedOptions, path: string, reading: boolean): Response {
  const { auth } = options;
  if (auth.kind === 'bearer' && reading && !path.startsWith('/api/')) {
    return respond(303, null, { location: `${options.basePath}/login` });
  }
  const headers: Record<string, string> = {};
  if (auth.kind === 'basic')
    headers['www-authenticate'] = 'Basic realm="Hostwork dashboard", charset="UTF-8"';
  if (auth.kind === 'bearer') headers['www-authenticate'] = 'Bearer realm="Hostwork dashboard"';
  return json(401, { error: 'Authentication required.' }, headers);
}

async function login(request: Request, options: ResolvedOptions, secure: boolean): Promise<Response> {
  const html = { 'content-type': 'text/html; charset=utf-8' };
  const method = request.method.toUpperCase();
  if (method === 'GET' || method === 'HEAD')
    return respond(200, method === 'HEAD' ? null : loginPage(options, false), html);
  if (method !== 'POST') return json(405, { error: 'Method not allowed.' });
  const site = request.headers.get('sec-fetch-site');
  if (site !== null && site !== 'same-origin') return json(403, { error: `A ${site} sign-in is refused.` });
  const form = new URLSearchParams(await readText(request));
  const token = form.get('token') ?? '';
  if (options.auth.kind !== 'bearer' || !safeEqual(token, options.auth.token)) {
    return respond(401, loginPage(options, true), html);
  }
  return respond(303, null, {
    location: `${options.basePath}/`,
    'set-cookie': cookie(SESSION_COOKIE, sessionValue(token), options, secure, 12 * 3600),
  });
}

async function readText(request: Request): Promise<string> {
  const body = await request.arrayBuffer();
  if (body.byteLength > MAX_BODY_BYTES)
    throw new ApiError(413, `The body is larger than ${MAX_BODY_BYTES} bytes.`);
  return new TextDecoder().decode(body);
}

async function readJson(request: Request): Promise<unknown> {
  const text = await readText(request);
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ApiError(400, 'The body must be JSON.');
  }
}
