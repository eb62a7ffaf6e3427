/** The prebuilt front end (dist/assets/, built by scripts/build-assets.ts), read once and kept in memory. */
import { readFile } from 'node:fs/promises';
import { ErrorCodes, HostworkError } from 'hostwork';

/** One asset, ready to send. */
export interface Asset {
  readonly body: Uint8Array;
  readonly type: string;
}

/** The files the page loads, by name under `<base>/assets/`. */
export const ASSET_TYPES: Readonly<Record<string, string>> = {
  'dashboard.js': 'text/javascript; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
};

/** dist/assets beside the built module (dist/), or from the sources (src/) in this repository. */
const CANDIDATES = [new URL('./assets/', import.meta.url), new URL('../dist/assets/', import.meta.url)];

const cache = new Map<string, Promise<Asset>>();

/** The asset `name` (one of {@link ASSET_TYPES}). */
export function readAsset(name: string): Promise<Asset> {
  let found = cache.get(name);
  if (found === undefined) {
    found = load(name);
    cache.set(name, found);
    found.catch(() => cache.delete(name));
  }
  return found;
}

async function load(name: string): Promise<Asset> {
  const type = ASSET_TYPES[name];
  if (type === undefined) throw new Error(`unknown asset ${name}`);
  for (const dir of CANDIDATES) {
    try {
      return { body: new Uint8Array(await readFile(new URL(name, dir))), type };
    } catch {
      // try the next place
    }
  }
  throw new HostworkError(
    ErrorCodes.INVALID_OPTION,
    `dashboard: the front end (${name}) is missing from dist/assets; run 'npm run build' in packages/dashboard.`,
  );
}
