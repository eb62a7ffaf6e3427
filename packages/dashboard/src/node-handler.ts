/** The dashboard as a node:http request listener (and Connect-style middleware), on top of the Fetch handler. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { DashboardHandler } from './dashboard.ts';

/** A node:http listener; as middleware, `next` is called for requests outside the dashboard's base path. */
export type NodeDashboardHandler = (
  request: IncomingMessage,
  response: ServerResponse,
  next?: (error?: unknown) => void,
) => void;

/** What the node handler needs to know beyond the Fetch handler. */
export interface NodeHandlerOptions {
  /** The base path the Fetch handler answers under, to pass other requests to `next`. Default ''. */
  readonly basePath?: string;
}

/** The request's URL as the client sent it: Express strips the mount path from `req.url`, not from `originalUrl`. */
function requestUrl(request: IncomingMessage): URL {
  const path = (request as { originalUrl?: string }).originalUrl ?? request.url ?? '/';
  const encrypted = (request.socket as { encrypted?: boolean }).encrypted === true;
  const host = request.headers.host ?? 'localhost';
  return new URL(path, `${encrypted ? 'https' : 'http'}://${host}`);
}

/** A Fetch Request of a node:http request; the body is streamed for methods that have one. */
export function toFetchRequest(request: IncomingMessage, body?: unknown): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  const method = request.method ?? 'GET';
  const hasBody = method !== 'GET' && method !== 'HEAD';
  let init: RequestInit & { duplex?: 'half' } = { method, headers };
  if (hasBody) {
    // A framework that parsed the body already (Express's json(), Fastify) hands it over; otherwise stream it.
    if (body !== undefined) {
      init = { ...init, body: parsedBody(body, headers.get('content-type') ?? '') };
    } else {
      init = { ...init, body: Readable.toWeb(request) as ReadableStream<Uint8Array>, duplex: 'half' };
    }
  }
  return new Request(requestUrl(request), init);
}

/** A body a framework parsed, as text again: JSON, or a form (the sign-in page) as a form. */
function parsedBody(body: unknown, contentType: string): string | Uint8Array<ArrayBuffer> {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return new Uint8Array(body);
  if (
    contentType.startsWith('application/x-www-form-urlencoded') &&
    typeof body === 'object' &&
    body !== null
  ) {
    const form = new URLSearchParams();
    for (const [key, value] of Object.entries(body)) form.append(key, String(value));
    return form.toString();
  }
  return JSON.stringify(body);
}

/** Writes a Fetch Response to a node:http response. */
export async function writeResponse(response: Response, target: ServerResponse): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const setCookies = response.headers.getSetCookie();
  if (setCookies.length > 0) headers['set-cookie'] = setCookies;
  target.writeHead(response.status, headers);
  target.end(response.body === null ? undefined : Buffer.from(await response.arrayBuffer()));
}

/**
 * A node:http listener for `dashboard`. Outside `basePath` it calls `next` (as middleware) or answers 404. The
 * client's address is passed on, for `auth: { kind: 'none', loopbackOnly: true }`.
 */
export function nodeHandler(
  dashboard: DashboardHandler,
  options: NodeHandlerOptions = {},
): NodeDashboardHandler {
  const basePath = options.basePath ?? '';
  return (request, response, next) => {
    const url = requestUrl(request);
    if (next !== undefined && url.pathname !== basePath && !url.pathname.startsWith(`${basePath}/`)) {
      next();
      return;
    }
    const parsed = (request as { body?: unknown }).body;
    dashboard(toFetchRequest(request, parsed), { remoteAddress: request.socket.remoteAddress })
      .then((answer) => writeResponse(answer, response))
      .catch((error: unknown) => {
        if (next !== undefined) {
          next(error);
          return;
        }
        if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain' });
        response.end('Internal error');
      });
  };
}
