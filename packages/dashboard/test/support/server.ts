/** Starts the dashboard on a loopback port for a test, and builds the front end first when it is missing. */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildAssets } from '../../scripts/build-assets.ts';
import { createNodeDashboard } from '../../src/adapters.ts';
import type { DashboardOptions } from '../../src/dashboard-options.ts';

/** Builds dist/assets once if a test needs it and it is not there. */
export function ensureAssets(): void {
  const dir = new URL('../../dist/assets/', import.meta.url);
  if (!existsSync(new URL('dashboard.js', dir)) || !existsSync(new URL('dashboard.css', dir))) buildAssets();
}

/** A running dashboard: its origin (http://127.0.0.1:port) and URL (with the base path). */
export interface RunningDashboard {
  readonly origin: string;
  readonly url: string;
  close(): Promise<void>;
}

/** Serves a dashboard with `options` on 127.0.0.1 (an ephemeral port); the caller closes it. */
export async function serveDashboard(options: DashboardOptions): Promise<RunningDashboard> {
  ensureAssets();
  const server: Server = createServer(createNodeDashboard(options));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
    return closed;
  };
  return { origin, url: `${origin}${options.basePath ?? ''}`, close };
}
