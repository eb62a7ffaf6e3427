/**
 * `hostwork dashboard`: serves the web dashboard of the job store until stopped (Ctrl-C, SIGTERM). The dashboard is
 * the package @hostwork/dashboard, loaded only here and only when installed: hostwork does not depend on it.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCodes, HostworkError } from '../errors.ts';
import type { JobStore } from '../jobs/job-store.ts';
import { type Command, ExitCode, integerOption, textOption, usageError } from './command.ts';

/** The package, typed as a plain string so that TypeScript does not resolve it (hostwork does not depend on it). */
const DASHBOARD_PACKAGE: string = '@hostwork/dashboard';

/** What the command uses of @hostwork/dashboard. */
interface DashboardModule {
  createNodeDashboard(options: {
    store: JobStore;
    auth: DashboardAuthOption;
    basePath?: string;
    readOnly?: boolean;
  }): (request: IncomingMessage, response: ServerResponse) => void;
}

type DashboardAuthOption =
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'bearer'; token: string }
  | { kind: 'none'; loopbackOnly: true };

async function loadDashboard(): Promise<DashboardModule> {
  try {
    return (await import(DASHBOARD_PACKAGE)) as DashboardModule;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String((error as Error).message).includes(DASHBOARD_PACKAGE)) {
      throw new HostworkError(
        ErrorCodes.STORE_OPEN,
        `The dashboard is the package ${DASHBOARD_PACKAGE}, which is not installed. Fix: npm install ${DASHBOARD_PACKAGE}`,
      );
    }
    throw error;
  }
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/** The authentication from the environment (secrets never go on a command line, where `ps` shows them). */
function authFrom(
  env: Readonly<Record<string, string | undefined>>,
  noAuth: boolean,
  host: string,
): DashboardAuthOption {
  const token = env.HOSTWORK_DASHBOARD_TOKEN;
  const user = env.HOSTWORK_DASHBOARD_USER;
  const password = env.HOSTWORK_DASHBOARD_PASSWORD;
  if (noAuth) {
    if (!LOOPBACK.has(host)) {
      throw usageError(`--no-auth serves loopback clients only: use --host 127.0.0.1 (got --host ${host}).`);
    }
    return { kind: 'none', loopbackOnly: true };
  }
  if (token !== undefined && token !== '') return { kind: 'bearer', token };
  if (user !== undefined && user !== '' && password !== undefined) {
    return { kind: 'basic', username: user, password };
  }
  throw usageError(
    'The dashboard refuses to start without authentication. Set HOSTWORK_DASHBOARD_TOKEN (a bearer token, at least 16 characters; browsers sign in with it), or HOSTWORK_DASHBOARD_USER and HOSTWORK_DASHBOARD_PASSWORD (HTTP Basic), or pass --no-auth to serve loopback clients only.',
  );
}

const dashboard: Command = {
  words: ['dashboard'],
  args: '',
  summary: 'Serves the web dashboard of the job store (needs the package @hostwork/dashboard).',
  details: `Authentication comes from the environment: HOSTWORK_DASHBOARD_TOKEN (bearer; a browser signs in with it on
the page), or HOSTWORK_DASHBOARD_USER and HOSTWORK_DASHBOARD_PASSWORD (HTTP Basic). --no-auth serves clients on
the loopback address only. Runs until Ctrl-C or SIGTERM.

Example:
  HOSTWORK_DASHBOARD_TOKEN=$(openssl rand -hex 24) hostwork dashboard --port 4000`,
  options: ['port', 'host', 'base-path', 'read-only', 'no-auth'],
  async run(context) {
    if (context.args.length > 0)
      throw usageError(`dashboard takes no arguments, got ${context.args.join(' ')}.`);
    const port = integerOption(context.values, 'port', { min: 0, max: 65535 }) ?? 4000;
    const host = textOption(context.values, 'host') ?? '127.0.0.1';
    const basePath = textOption(context.values, 'base-path') ?? '';
    const readOnly = context.values['read-only'] === true;
    const auth = authFrom(context.env, context.values['no-auth'] === true, host);
    const module = await loadDashboard();
    const store = await context.store.open('use');
    let handler: (request: IncomingMessage, response: ServerResponse) => void;
    try {
      handler = module.createNodeDashboard({ store, auth, basePath, readOnly });
    } catch (error) {
      await store.close();
      throw error;
    }
    const server = createServer(handler);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, resolve);
      });
    } catch (error) {
      await store.close();
      throw new HostworkError(
        ErrorCodes.STORE_OPEN,
        `Cannot listen on ${host}:${port}: ${(error as Error).message}`,
      );
    }
    const address = server.address() as AddressInfo;
    const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `http://${shownHost}:${address.port}${basePath}/`;
    if (context.json) context.io.out(`${JSON.stringify({ url, auth: auth.kind, readOnly })}\n`);
    else {
      context.io.out(
        `Dashboard on ${url} (auth: ${auth.kind}${readOnly ? ', read-only' : ''}). Ctrl-C stops it.\n`,
      );
    }
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await store.close();
    return ExitCode.ok;
  },
};

const indexPayloads: Command = {
  words: ['dashboard', 'index-payloads'],
  args: '',
  summary: "Creates the index that makes the dashboard's search by payload field fast (PostgreSQL).",
  details: `PostgreSQL: creates a GIN index on the payloads (CONCURRENTLY: enqueues and workers go on while it builds,
about 10 s per million jobs) which serves the payload filter on any field. It is not created by \`hostwork migrate\`:
every enqueue writes it too (see the dashboard docs for the measured cost). --drop removes it. Without it, the
dashboard searches payloads in bounded windows and says so. SQLite has no such index (see the docs for indexing one field).

Examples:
  hostwork dashboard index-payloads --database-url "$DATABASE_URL"
  hostwork dashboard index-payloads --drop --database-url "$DATABASE_URL"`,
  options: ['drop'],
  async run(context) {
    if (context.args.length > 0)
      throw usageError(`dashboard index-payloads takes no arguments, got ${context.args.join(' ')}.`);
    const drop = context.values.drop === true;
    await using store = await context.store.open('use');
    if (store.createPayloadIndex === undefined || store.dropPayloadIndex === undefined) {
      throw usageError(
        `The ${store.kind} store has no index for every payload field: the dashboard searches payloads in bounded windows. To search one field fast, index it (see docs/dashboard.md, "Searching by payload").`,
      );
    }
    const started = performance.now();
    if (drop) await store.dropPayloadIndex();
    else await store.createPayloadIndex();
    const seconds = Number(((performance.now() - started) / 1000).toFixed(1));
    const indexed = (await store.payloadFilterIndexed?.()) ?? false;
    if (context.json) context.io.out(`${JSON.stringify({ indexed, seconds })}\n`);
    else {
      context.io.out(
        indexed
          ? `The payload index is in place (${seconds} s): the dashboard's payload search uses it.\n`
          : `No payload index (${seconds} s): the dashboard searches payloads in bounded windows.\n`,
      );
    }
    return ExitCode.ok;
  },
};

/** The `dashboard` commands. */
export const DASHBOARD_COMMANDS: readonly Command[] = [dashboard, indexPayloads];
