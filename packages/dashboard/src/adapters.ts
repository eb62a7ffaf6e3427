/**
 * Thin adapters for web frameworks. Each mounts the dashboard with its full base path (the adapters read the path
 * the client asked for, not the one a router strips), so `basePath` is given once, in the options.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createDashboard, type DashboardHandler } from './dashboard.ts';
import type { DashboardOptions } from './dashboard-options.ts';
import { type NodeDashboardHandler, nodeHandler, toFetchRequest, writeResponse } from './node-handler.ts';

/** Creates the dashboard as a node:http listener: `http.createServer(createNodeDashboard({ ... }))`. */
export function createNodeDashboard(options: DashboardOptions): NodeDashboardHandler {
  return nodeHandler(createDashboard(options), { basePath: options.basePath ?? '' });
}

/**
 * Express (4 and 5) middleware: `app.use(expressDashboard({ basePath: '/admin/jobs', ... }))`. Requests outside the
 * base path go on to the next middleware. A body parsed by `express.json()` before it is used as it is.
 */
export function expressDashboard(
  options: DashboardOptions,
): (request: IncomingMessage, response: ServerResponse, next: (error?: unknown) => void) => void {
  return createNodeDashboard(options);
}

/**
 * A Fastify instance, as far as the dashboard needs one (no dependency on fastify's types, whose generic
 * `register` no small structural type matches): its `register`, called with a plugin that gets a
 * {@link FastifyScopeLike}.
 */
export interface FastifyLike {
  readonly register: (...args: never[]) => unknown;
}
/** The part of an encapsulated Fastify instance (a plugin's scope) the dashboard uses. */
export interface FastifyScopeLike {
  all(
    path: string,
    handler: (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<void>,
  ): unknown;
  addContentTypeParser(
    contentType: string,
    options: { parseAs: 'string' },
    parser: (request: unknown, body: string, done: (error: Error | null, body?: unknown) => void) => void,
  ): unknown;
}
/** The part of a Fastify request the dashboard uses. */
export interface FastifyRequestLike {
  readonly raw: IncomingMessage;
  readonly body?: unknown;
}
/** The part of a Fastify reply the dashboard uses. */
export interface FastifyReplyLike {
  readonly raw: ServerResponse;
  hijack(): void;
}

/**
 * Registers the dashboard on a Fastify instance: `fastifyDashboard(app, { basePath: '/admin/jobs', ... })`, before
 * `listen`. Its routes live in a plugin scope of their own, where any body is read as text (the sign-in form), so
 * the application's content-type parsers are left as they are.
 */
export function fastifyDashboard(app: FastifyLike, options: DashboardOptions): void {
  const dashboard = createDashboard(options);
  const base = options.basePath ?? '';
  const handle = async (request: FastifyRequestLike, reply: FastifyReplyLike) => {
    reply.hijack();
    const answer = await dashboard(toFetchRequest(request.raw, request.body), {
      remoteAddress: request.raw.socket.remoteAddress,
    });
    await writeResponse(answer, reply.raw);
  };
  const register = app.register as unknown as (
    this: FastifyLike,
    plugin: (scope: FastifyScopeLike) => Promise<void>,
  ) => unknown;
  register.call(app, async (scope) => {
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
    scope.all(base === '' ? '/' : base, handle);
    scope.all(`${base}/*`, handle);
  });
}

/**
 * A Hono handler (Hono is Fetch-based): `app.all('/admin/jobs/*', honoDashboard({ basePath: '/admin/jobs', ... }))`
 * and the same for '/admin/jobs'. The client address is read from Hono's node server when present.
 */
export function honoDashboard(
  options: DashboardOptions,
): (context: { req: { raw: Request }; env?: unknown }) => Promise<Response> {
  const dashboard = createDashboard(options);
  return (context) => {
    const incoming = (context.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    return dashboard(context.req.raw, { remoteAddress: incoming?.socket.remoteAddress });
  };
}

/**
 * NestJS: the dashboard as middleware for `consumer.apply(nestDashboard({ basePath: '/admin/jobs', ... }))
 * .forRoutes({ path: 'admin/jobs{/*rest}', method: RequestMethod.ALL })` in a module's `configure`, on Nest's default
 * Express platform.
 */
export function nestDashboard(
  options: DashboardOptions,
): (request: IncomingMessage, response: ServerResponse, next: (error?: unknown) => void) => void {
  return createNodeDashboard(options);
}

export type { DashboardHandler };
