/** Authentication of every request, and the CSRF check of every request that changes something. */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { DashboardAuth } from './dashboard-options.ts';

/** What the handler knows of the connection beyond the Request: the client's address, when the server tells it. */
export interface ConnectionInfo {
  readonly remoteAddress?: string | undefined;
}

/** The outcome of authenticating a request. */
export type AuthOutcome =
  /** `ambient`: credentials a browser sends by itself (a cookie, Basic, a host session), so CSRF must be checked. */
  { readonly ok: true; readonly ambient: boolean } | { readonly ok: false };

/** The session cookie of bearer auth in a browser, and the CSRF cookie. */
export const SESSION_COOKIE = 'hostwork_dashboard_session';
export const CSRF_COOKIE = 'hostwork_dashboard_csrf';
/** The header the page sends its CSRF token in. */
export const CSRF_HEADER = 'x-hostwork-csrf';

/** Equal strings in time that does not depend on where they differ. */
export function safeEqual(a: string, b: string): boolean {
  const left = createHmac('sha256', 'compare').update(a).digest();
  const right = createHmac('sha256', 'compare').update(b).digest();
  return timingSafeEqual(left, right);
}

/** The session cookie's value for a bearer token: a MAC of it, so the cookie never holds the token itself. */
export function sessionValue(token: string): string {
  return createHmac('sha256', token).update('hostwork-dashboard-session').digest('base64url');
}

/** Whether `address` is a loopback address (IPv4 127/8, IPv6 ::1, or IPv4 mapped into IPv6). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4) || address === '::1';
}

/** The cookies of a request. */
export function cookies(request: Request): Map<string, string> {
  const found = new Map<string, string>();
  for (const part of (request.headers.get('cookie') ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0) found.set(part.slice(0, at).trim(), part.slice(at + 1).trim());
  }
  return found;
}

/** Checks the request's credentials against `auth`. */
export async function authenticate(
  request: Request,
  auth: DashboardAuth,
  info: ConnectionInfo,
): Promise<AuthOutcome> {
  const header = request.headers.get('authorization') ?? '';
  switch (auth.kind) {
    case 'basic': {
      const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
      if (match === null) return { ok: false };
      const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
      const ok = safeEqual(decoded, `${auth.username}:${auth.password}`);
      return ok ? { ok: true, ambient: true } : { ok: false };
    }
    case 'bearer': {
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      if (match !== null)
        return safeEqual(match[1]!, auth.token) ? { ok: true, ambient: false } : { ok: false };
      const session = cookies(request).get(SESSION_COOKIE);
      if (session !== undefined && safeEqual(session, sessionValue(auth.token)))
        return { ok: true, ambient: true };
      return { ok: false };
    }
    case 'callback':
      return (await auth.authenticate(request)) === true ? { ok: true, ambient: true } : { ok: false };
    case 'none':
      return isLoopback(info.remoteAddress) ? { ok: true, ambient: true } : { ok: false };
  }
}

/** A new CSRF token. */
export function newCsrfToken(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * The CSRF check of a request that changes something, sent with ambient credentials: the header must repeat the
 * HttpOnly cookie's token (double submit; the page reads its token from a meta tag, never from the cookie), and a
 * browser's `Sec-Fetch-Site`, when sent, must say same-origin. A cross-site form cannot set the header, and a
 * cross-site fetch with it needs a CORS preflight the dashboard never answers. Returns the problem, or undefined.
 */
export function csrfProblem(request: Request): string | undefined {
  const site = request.headers.get('sec-fetch-site');
  if (site !== null && site !== 'same-origin') return `a ${site} request may not change anything`;
  const expected = cookies(request).get(CSRF_COOKIE);
  const sent = request.headers.get(CSRF_HEADER);
  if (expected === undefined || sent === null || expected === '' || !safeEqual(expected, sent)) {
    return `the ${CSRF_HEADER} header must repeat the page's CSRF token (reload the page)`;
  }
  return undefined;
}
