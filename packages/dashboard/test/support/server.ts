/** Starts the dashboard on a loopback port for a test, and builds the front end first when it is missing. */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildAssets } from '../../scripts/build-assets.ts';
import { createNodeDashboard } from '../../src/adapters.ts';
import { ASSET_TYPES, readAsset } from '../../src/assets.ts';
import type { DashboardOptions } from '../../src/dashboard-options.ts';

/** Builds dist/assets when it is missing or older than a source of the front end (ui/). */
export function ensureAssets(): void {
  const built = new URL('../../dist/assets/', import.meta.url);
  const ui = new URL('../../ui/', import.meta.url);
  const outputs = ['dashboard.js', 'dashboard.css'].map((name) => new URL(name, built));
  if (outputs.some((file) => !existsSync(file))) {
    buildAssets();
    return;
  }
  const oldest = Math.min(...outputs.map((file) => statSync(file).mtimeMs));
  const newest = Math.max(...readdirSync(ui).map((name) => statSync(new URL(name, ui)).mtimeMs));
  if (newest > oldest) buildAssets();
}

/**
 * Builds the front end when needed and reads it into the dashboard's in-memory cache, where it stays for this test
 * process. Retried: the packaging tests, running at the same time, rebuild the packages (`npm run build` empties
 * dist/ first), so dist/assets can be missing or half-built for a moment; once cached, that no longer matters.
 */
export async function loadAssets(): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      ensureAssets();
      for (const name of Object.keys(ASSET_TYPES)) await readAsset(name);
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/** A running dashboard: its origin (http://127.0.0.1:port) and URL (with the base path). */
export interface RunningDashboard {
  readonly origin: string;
  readonly url: string;
  close(): Promise<void>;
}

/** Serves a dashboard with `options` on 127.0.0.1 (an ephemeral port); the caller closes it. */
export async function serveDashboard(options: DashboardOptions): Promise<RunningDashboard> {
  await loadAssets();
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
