/**
 * How the `hostwork` command finds the store (flags, then the application's configuration: hostwork.json,
 * hostwork.<Environment>.json, environment variables; else the default file), its help, and its errors: each names
 * what to fix and exits 1 (a failure) or 2 (bad usage). The real binary, on SQLite files; no database server needed.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { migrationSql } from '../../../postgres/src/migrations.ts';
import { assertExit, hostwork, hostworkJson, tempFolder } from './support.ts';

const T = { timeout: 60_000 };

/** An application folder with a hostwork.json and a migrated job database at `relative`. */
async function appFolder(relative: string, config: Record<string, unknown>): Promise<string> {
  const app = tempFolder();
  writeFileSync(join(app, 'hostwork.json'), JSON.stringify(config));
  assertExit(await hostwork(['migrate', '--sqlite', join(app, relative)]), 0);
  return app;
}

describe('the hostwork command finds the store as the application does', () => {
  it('Jobs:Sqlite:Path from hostwork.json, in the current folder or --cwd, relative to it', T, async () => {
    const app = await appFolder('data/app.db', { Jobs: { Sqlite: { Path: 'data/app.db' } } });
    assertExit(
      await hostwork(['enqueue', 'ping', '--payload', '{}', '--sqlite', join(app, 'data/app.db')]),
      0,
    );
    const [here, elsewhere] = await Promise.all([
      hostwork(['jobs', 'list'], { cwd: app }),
      hostwork(['jobs', 'list', '--cwd', app]),
    ]);
    for (const run of [here, elsewhere]) {
      assertExit(run, 0);
      assert.equal(
        run.err,
        `store: SQLite ${join(app, 'data/app.db')} (Jobs:Sqlite:Path from file ${join(app, 'hostwork.json')})\n`,
      );
      assert.match(run.out, /^1\s+ping\s+default\s+pending/m);
    }
  });

  it(
    'hostwork.<Environment>.json by HOSTWORK_ENVIRONMENT or --environment; environment variables over files',
    T,
    async () => {
      const app = await appFolder('base.db', { Jobs: { Sqlite: { Path: 'base.db' } } });
      writeFileSync(
        join(app, 'hostwork.Staging.json'),
        JSON.stringify({ Jobs: { Sqlite: { Path: 'staging.db' } } }),
      );
      for (const file of ['staging.db', 'env.db'])
        assertExit(await hostwork(['migrate', '--sqlite', join(app, file)]), 0);
      const [base, staging, flag, variable] = await Promise.all([
        hostwork(['queues'], { cwd: app }),
        hostwork(['queues'], { cwd: app, env: { HOSTWORK_ENVIRONMENT: 'Staging' } }),
        hostwork(['queues', '--environment', 'Staging'], { cwd: app }),
        hostwork(['queues'], {
          cwd: app,
          env: { HOSTWORK_ENVIRONMENT: 'Staging', JOBS__SQLITE__PATH: 'env.db' },
        }),
      ]);
      assert.match(base.err, /base\.db \(Jobs:Sqlite:Path from .*hostwork\.json\)/);
      assert.match(staging.err, /staging\.db \(Jobs:Sqlite:Path from .*hostwork\.Staging\.json\)/);
      assert.match(flag.err, /staging\.db/);
      assert.match(variable.err, /env\.db \(Jobs:Sqlite:Path from environment variable JOBS__SQLITE__PATH\)/);
      for (const run of [base, staging, flag, variable]) assertExit(run, 0);
    },
  );

  it(
    'Jobs:Postgres:ConnectionString selects PostgreSQL with Jobs:Postgres:Schema; the password is never printed',
    T,
    async () => {
      const app = tempFolder();
      writeFileSync(
        join(app, 'hostwork.json'),
        JSON.stringify({ Jobs: { Sqlite: { Path: 'x.db' }, Postgres: { Schema: 'app_jobs' } } }),
      );
      const url = 'postgres://app:s3cret@127.0.0.1:1/app';
      const run = await hostwork(['jobs', 'list'], {
        cwd: app,
        env: { JOBS__POSTGRES__CONNECTIONSTRING: url },
      });
      assertExit(run, 1);
      assert.match(
        run.err,
        /^store: PostgreSQL postgres:\/\/app:\*\*\*@127\.0\.0\.1:1\/app, schema "app_jobs" \(from environment variable JOBS__POSTGRES__CONNECTIONSTRING\)\n/,
      );
      // An unreachable database: the error names it and what to check.
      assert.match(
        run.err,
        /hostwork: Cannot use PostgreSQL .*ECONNREFUSED.*Fix: check the URL \(--database-url or Jobs:Postgres:ConnectionString\)/,
      );
      assert.doesNotMatch(run.err + run.out, /s3cret/);
      // --database-url takes the schema from the configuration too (an application whose URL is DATABASE_URL).
      const byFlag = await hostwork(['queues', '--database-url', 'postgres://app@127.0.0.1:1/app'], {
        cwd: app,
      });
      assertExit(byFlag, 1);
      assert.match(
        byFlag.err,
        /^store: PostgreSQL postgres:\/\/app@127\.0\.0\.1:1\/app, schema "app_jobs" \(from --database-url\)\n/,
      );
      // --sqlite wins over the configuration.
      const path = join(app, 'flag.db');
      assertExit(await hostwork(['migrate', '--sqlite', path], { cwd: app }), 0);
      const flag = await hostwork(['queues', '--sqlite', path], {
        cwd: app,
        env: { JOBS__POSTGRES__CONNECTIONSTRING: url },
      });
      assertExit(flag, 0);
      assert.equal(flag.err, `store: SQLite ${path} (--sqlite)\n`);
    },
  );

  it('the default file .data/hostwork-jobs.db; with --json nothing is printed on stderr', T, async () => {
    const app = tempFolder();
    assertExit(await hostwork(['migrate'], { cwd: app }), 0);
    assert.ok(existsSync(join(app, '.data', 'hostwork-jobs.db')));
    const run = await hostwork(['queues'], { cwd: app });
    assert.match(
      run.err,
      /^store: SQLite .*\.data\/hostwork-jobs\.db \(the default; no store configured\)$/m,
    );
    assert.deepEqual(await hostworkJson(['queues'], { cwd: app }), { queues: [] });
  });
});

describe('the hostwork command explains what to fix', () => {
  it('a SQLite file that does not exist is refused, not created (except by migrate)', T, async () => {
    const folder = tempFolder();
    const path = join(folder, 'typo.db');
    const [run, withUrl] = await Promise.all([
      hostwork(['jobs', 'list', '--sqlite', path]),
      hostwork(['queues'], { cwd: folder, env: { DATABASE_URL: 'postgres://db/app' } }),
    ]);
    assertExit(run, 1);
    assert.match(
      run.err,
      new RegExp(`hostwork: No job database at ${path} \\(--sqlite\\)\\. Fix: .*hostwork migrate`),
    );
    assert.equal(existsSync(path), false);
    assertExit(withUrl, 1);
    assert.match(
      withUrl.err,
      /DATABASE_URL is set, but the configuration has no Jobs:Postgres section .* add --database-url "\$DATABASE_URL"/,
    );
    // An application whose configuration names only the PostgreSQL schema (its URL comes from elsewhere).
    const app = tempFolder();
    writeFileSync(join(app, 'hostwork.json'), JSON.stringify({ Jobs: { Postgres: { Schema: 'hostwork' } } }));
    const schemaOnly = await hostwork(['queues'], { cwd: app });
    assertExit(schemaOnly, 1);
    assert.match(
      schemaOnly.err,
      /a Jobs:Postgres section \(Jobs:Postgres:Schema\) but no Jobs:Postgres:ConnectionString, and DATABASE_URL is not set: for the PostgreSQL store, set DATABASE_URL or add --database-url <url>\./,
    );
    // With DATABASE_URL set, that application's store is PostgreSQL at that URL (as its main.ts reads it).
    const fromEnv = await hostwork(['migrate', 'status'], {
      cwd: app,
      env: { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' },
    });
    assertExit(fromEnv, 1);
    assert.match(
      fromEnv.err,
      /PostgreSQL postgres:\/\/nobody@127\.0\.0\.1:1\/none, schema "hostwork" \(from DATABASE_URL/,
    );
  });

  it('a PostgreSQL store without @hostwork/postgres installed says to install it', T, async () => {
    const hook = fileURLToPath(new URL('fixtures/without-postgres.ts', import.meta.url));
    const run = await hostwork(['queues', '--database-url', 'postgres://x@127.0.0.1:1/y'], {
      nodeArgs: ['--import', hook],
    });
    assertExit(run, 1);
    assert.match(
      run.err,
      /hostwork: The job store is PostgreSQL \(from --database-url\), which needs the package @hostwork\/postgres\. Fix: npm install @hostwork\/postgres\n$/,
    );
  });

  it(
    'a schema written by a newer Hostwork: status exits 1 saying so, and the other commands refuse it',
    T,
    async () => {
      const path = join(tempFolder(), 'jobs.db');
      assertExit(await hostwork(['migrate', '--sqlite', path]), 0);
      const db = new DatabaseSync(path);
      db.exec('PRAGMA user_version = 999');
      db.close();
      const [status, list, migrate] = await Promise.all([
        hostwork(['migrate', 'status', '--sqlite', path, '--json']),
        hostwork(['jobs', 'list', '--sqlite', path]),
        hostwork(['migrate', '--sqlite', path]),
      ]);
      assertExit(status, 1);
      assert.equal(JSON.parse(status.out).state, 'newer');
      assert.equal(JSON.parse(status.out).current, 999);
      assertExit(list, 1);
      assert.match(list.err, /is at schema version 999, written by a newer Hostwork; .*Fix: upgrade/);
      assertExit(migrate, 1);
      assert.match(migrate.err, /newer Hostwork/);
    },
  );

  it('a file that is not a job database is refused with the reason', T, async () => {
    const path = join(tempFolder(), 'notes.txt');
    writeFileSync(path, 'not a database, just text that is long enough to have a header '.repeat(4));
    const [use, status] = await Promise.all([
      hostwork(['jobs', 'list', '--sqlite', path]),
      hostwork(['migrate', 'status', '--sqlite', path]),
    ]);
    for (const run of [use, status]) {
      assertExit(run, 1);
      assert.match(run.err, /is not a SQLite database/);
    }
  });

  it('bad usage exits 2 naming the command, option or value at fault', T, async () => {
    const folder = tempFolder();
    const db = join(folder, 'jobs.db');
    assertExit(await hostwork(['migrate', '--sqlite', db]), 0);
    const cases: [string[], RegExp][] = [
      [[], /No command given\.\n\nUsage: hostwork <command>/],
      [['launch'], /Unknown command 'launch'\./],
      [['jobs'], /'jobs' needs a command: list, show, retry, cancel, purge\./],
      [['jobs', 'lst'], /Unknown command 'jobs lst'\./],
      [['jobs', 'list', '--stat', 'dead'], /Unknown option '--stat'\.\nSee 'hostwork jobs list --help'\./],
      [['queues', '--state', 'dead'], /--state is not an option of 'hostwork queues'\./],
      [
        ['jobs', 'list', '--state', 'done'],
        /--state must be one of pending, running, completed, dead, cancelled, got "done"\./,
      ],
      [['jobs', 'list', '--limit', '0'], /--limit must be a whole number from 1 to 1000, got "0"\./],
      [['jobs', 'show', 'abc'], /Job ids are whole numbers, got "abc"\./],
      [
        ['jobs', 'retry'],
        /jobs retry needs job ids, or --state \(with --queue, --name\) for every matching job\./,
      ],
      [
        ['enqueue', 'echo', '--payload', '{text:1}'],
        /--payload is not valid JSON \(.*\)\. Quote it for the shell/,
      ],
      [['enqueue', 'echo'], /enqueue needs --payload <json>/],
      [['enqueue', 'echo', '--payload', '{}', '--run-at', 'tomorrow'], /--run-at must be an ISO 8601 time/],
      [
        ['enqueue', 'echo', '--payload', '{}', '--run-at', '2030-01-01T00:00:00Z', '--delay', '5'],
        /either --run-at or --delay/,
      ],
      [['migrate', '--sql'], /migrate --sql prints the PostgreSQL script, but the store is SQLite/],
      [['queues', '--schema', 'x'], /--schema is for PostgreSQL, but the store is SQLite \(--sqlite\)/],
      [['queues', '--database-url', 'postgres://x/y'], /Give either --sqlite or --database-url, not both\./],
    ];
    const runs = await Promise.all(
      cases.map(([args]) => hostwork(args.length === 0 ? [] : [...args, '--sqlite', db], { cwd: folder })),
    );
    runs.forEach((run, i) => {
      const [args, message] = cases[i]!;
      assertExit(run, 2, `hostwork ${args.join(' ')}`);
      assert.match(run.err, message, `hostwork ${args.join(' ')}`);
      assert.equal(run.out, '');
    });
    // Nothing was enqueued by the refused enqueues.
    assert.deepEqual(await hostworkJson(['queues', '--sqlite', db]), { queues: [] });
  });

  it('--help on every level exits 0 and lists the commands or options', T, async () => {
    const [top, group, command, status, version] = await Promise.all([
      hostwork(['--help']),
      hostwork(['jobs', '--help']),
      hostwork(['jobs', 'purge', '-h']),
      hostwork(['migrate', 'status', '--help']),
      hostwork(['--version']),
    ]);
    assertExit(version, 0);
    assert.equal(
      version.out,
      `${JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version}\n`,
    );
    for (const run of [top, group, command, status]) assertExit(run, 0);
    for (const words of [
      'jobs list',
      'jobs show <id>',
      'queues',
      'schedules pause <name>...',
      'migrate status',
      'enqueue <name>',
    ]) {
      assert.ok(top.out.includes(`  ${words}`), `the main help lists ${words}`);
    }
    assert.match(group.out, /^Usage: hostwork jobs <command>/);
    assert.doesNotMatch(group.out, /schedules list/);
    assert.match(command.out, /^Usage: hostwork jobs purge --state <state> \[options\]/);
    assert.match(command.out, /-y, --yes\s+do not ask for confirmation/);
    assert.match(command.out, /--database-url <url>/);
    assert.match(status.out, /exit 1/);
  });

  it('migrate --sql prints the PostgreSQL script of the schema without connecting', T, async () => {
    const run = await hostwork([
      'migrate',
      '--sql',
      '--database-url',
      'postgres://nobody@127.0.0.1:1/none',
      '--schema',
      'reports_jobs',
    ]);
    assertExit(run, 0);
    assert.equal(run.out, migrationSql('reports_jobs'));
    const bad = await hostwork([
      'migrate',
      '--sql',
      '--database-url',
      'postgres://x@127.0.0.1:1/y',
      '--schema',
      'no-dashes',
    ]);
    assertExit(bad, 1);
    assert.match(bad.err, /schema must be/);
  });

  it('hostwork.json that is not JSON is named with the position', T, async () => {
    const app = tempFolder();
    writeFileSync(join(app, 'hostwork.json'), '{ "Jobs": ');
    const run = await hostwork(['queues'], { cwd: app });
    assertExit(run, 1);
    assert.match(run.err, /hostwork\.json/);
  });
});
