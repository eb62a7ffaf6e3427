/** `hostwork dashboard`: the CLI of the hostwork package serving this package, on a real SQLite file. */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sqliteStore } from 'hostwork';
import { seed } from './support/seed.ts';
import { ensureAssets } from './support/server.ts';

const BIN = fileURLToPath(new URL('../../hostwork/src/cli/main.ts', import.meta.url));
const TOKEN = 'cli-test-token-0123456789';
let dir: string;
let db: string;

before(async () => {
  ensureAssets();
  dir = mkdtempSync(join(tmpdir(), 'hostwork-dashboard-cli-'));
  db = join(dir, 'jobs.db');
  const store = sqliteStore({ path: db });
  await store.migrate();
  await seed(store);
  await store.close();
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A clean environment for the child plus `env`. */
function childEnv(env: Record<string, string>): Record<string, string> {
  const clean: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(NODE_OPTIONS|NODE_TEST_CONTEXT|HOSTWORK_DASHBOARD_.*)$/.test(key))
      clean[key] = value;
  }
  return { ...clean, ...env };
}

function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=hostwork-source', BIN, ...args],
      { env: childEnv(env), cwd: dir, encoding: 'utf8', timeout: 60_000 },
      (error, out, err) => resolve({ code: error === null ? 0 : Number(error.code ?? -1), out, err }),
    );
  });
}

describe('hostwork dashboard', () => {
  it('serves the store with the token from the environment until SIGTERM, then exits 0', async () => {
    const child = spawn(
      process.execPath,
      [
        '--conditions=hostwork-source',
        BIN,
        'dashboard',
        '--sqlite',
        db,
        '--port',
        '0',
        '--base-path',
        '/ops',
        '--json',
      ],
      { env: childEnv({ HOSTWORK_DASHBOARD_TOKEN: TOKEN }), cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0]!);
        });
        child.once('exit', () => reject(new Error(`exited before listening: ${err}`)));
      });
      const { url, auth } = JSON.parse(line) as { url: string; auth: string };
      assert.equal(auth, 'bearer');
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/ops\/$/);
      assert.equal((await fetch(`${url}api/overview`)).status, 401);
      const overview = await fetch(`${url}api/overview`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(overview.status, 200);
      const body = (await overview.json()) as { queues: { queue: string }[] };
      assert.deepEqual(
        body.queues.map((q) => q.queue),
        ['billing', 'emails', 'reports'],
      );
      child.kill('SIGTERM');
      assert.equal(await exited, 0, err);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('refuses to start without authentication, and --no-auth away from loopback', async () => {
    const none = await run(['dashboard', '--sqlite', db, '--port', '0']);
    assert.equal(none.code, 2, none.err);
    assert.match(none.err, /refuses to start without authentication.*HOSTWORK_DASHBOARD_TOKEN/s);
    const open = await run(['dashboard', '--sqlite', db, '--port', '0', '--no-auth', '--host', '0.0.0.0']);
    assert.equal(open.code, 2, open.err);
    assert.match(open.err, /--no-auth serves loopback clients only/);
  });

  it('is listed in the help', async () => {
    const help = await run(['--help']);
    assert.match(help.out, /dashboard\s+Serves the web dashboard/);
  });
});
