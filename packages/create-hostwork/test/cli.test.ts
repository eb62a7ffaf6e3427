/** create-hostwork's command, in process: what it writes, what it refuses, its exit codes. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCreate } from '../src/cli.ts';

const root = mkdtempSync(join(tmpdir(), 'create-hostwork-cli-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function create(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCreate(args, {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    interactive: false,
    cwd: root,
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

function filesOf(dir: string): string[] {
  return (
    readdirSync(dir, { recursive: true, withFileTypes: true }) as {
      isFile(): boolean;
      parentPath: string;
      name: string;
    }[]
  )
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

describe('create-hostwork', () => {
  it('writes the worker template with SQLite by default', async () => {
    const r = await create(['import-worker']);
    assert.equal(r.code, 0, r.err);
    const dir = join(root, 'import-worker');
    assert.deepEqual(filesOf(dir), [
      '.dockerignore',
      '.gitignore',
      'Dockerfile',
      'README.md',
      'hostwork.json',
      'package.json',
      'src/app.ts',
      'src/jobs.ts',
      'src/main.ts',
      'src/options.ts',
      'src/worker.ts',
      'test/worker.test.ts',
      'tsconfig.json',
    ]);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    assert.equal(pkg.name, 'import-worker');
    assert.deepEqual(Object.keys(pkg.dependencies), ['hostwork', 'zod']);
    assert.match(pkg.scripts.start, /^exec /, 'npm start execs node, so SIGTERM reaches it');
    assert.match(readFileSync(join(dir, 'Dockerfile'), 'utf8'), /^CMD \["node", "src\/main.ts"\]$/m);
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    assert.match(readme, /^# import-worker$/m);
    assert.doesNotMatch(readme, /__[A-Z_]+__/);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'hostwork.json'), 'utf8')).Jobs, {
      Sqlite: { Path: '.data/jobs.db' },
    });
    assert.match(readFileSync(join(dir, 'src/main.ts'), 'utf8'), /configure\(builder\);/);
    assert.match(r.out, /cd import-worker\n {2}npm install\n {2}npm start/);
  });

  it('writes the api template on PostgreSQL', async () => {
    const r = await create(['report-api', '--template', 'api', '--store', 'postgres', '--yes']);
    assert.equal(r.code, 0, r.err);
    const dir = join(root, 'report-api');
    const files = filesOf(dir);
    assert.ok(files.includes('src/http-server.ts'));
    assert.ok(!files.includes('src/worker.ts'));
    assert.ok(!files.some((f) => /\.(sqlite|postgres)\.ts$/.test(f)), 'no store variant left over');
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    assert.deepEqual(Object.keys(pkg.dependencies), ['@hostwork/postgres', 'hostwork', 'zod']);
    assert.match(readFileSync(join(dir, 'src/main.ts'), 'utf8'), /postgresStore\(/);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'hostwork.json'), 'utf8')).Jobs, {
      Postgres: { Schema: 'hostwork' },
    });
  });

  it('refuses a folder that exists and is not empty, and writes nothing', async () => {
    const dir = join(root, 'taken');
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const r = await create(['taken', '--yes']);
    assert.equal(r.code, 1);
    assert.match(r.err, /taken exists and is not empty; nothing was written\. Choose another project name/);
    assert.deepEqual(readdirSync(dir), ['notes.txt']);
  });

  it('accepts an existing empty folder', async () => {
    mkdirSync(join(root, 'empty'));
    assert.equal((await create(['empty'])).code, 0);
  });

  it('refuses a folder whose name is not a package name, naming the rule', async () => {
    const r = await create(['My Worker']);
    assert.equal(r.code, 1);
    assert.match(r.err, /'My Worker' is not a valid npm package name: use lowercase letters/);
  });

  it('without a terminal and without a folder, says how to give one', async () => {
    const r = await create(['--template', 'api']);
    assert.equal(r.code, 1);
    assert.match(r.err, /Give the project folder: npm create hostwork@latest my-worker/);
  });

  it('exits 2 with the usage on a bad flag or value', async () => {
    for (const args of [
      ['x', '--template', 'cron'],
      ['x', '--store', 'mongo'],
      ['x', '--colour'],
      ['a', 'b'],
    ]) {
      const r = await create(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.err, /Usage: npm create hostwork@latest/);
    }
    assert.match(
      (await create(['x', '--store', 'mongo'])).err,
      /--store mongo: choose one of sqlite, postgres/,
    );
  });

  it('--help prints the usage and exits 0', async () => {
    const r = await create(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.out, /--template <name>/);
  });
});
