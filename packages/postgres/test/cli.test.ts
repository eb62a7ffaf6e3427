/** The hostwork-postgres command, run as a user would: a child process on the bin file. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { migrationSql, SCHEMA_VERSION } from '../src/migrations.ts';
import { adminPool, DATABASE_URL, describeWithDatabase } from './support/database.ts';
import { useSchemas } from './support/stores.ts';

const BIN = fileURLToPath(new URL('../src/hostwork-postgres.ts', import.meta.url));

/** Runs the command; resolves with its exit code and output (never rejects on a non-zero exit). */
async function run(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; out: string; err: string }> {
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], {
      env: { ...inherited, ...env },
    });
    return { code: 0, out: stdout, err: stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout, err: e.stderr };
  }
}

it('hostwork-postgres sql prints the migration script of the schema; bad usage exits 2 with the usage', async () => {
  const usages = [[], ['drop'], ['sql', '--nope'], ['migrate', 'extra']];
  // Each run is a fresh Node process: started together, they take the time of one.
  const [printed, defaults, help, noDatabase, badSchema, ...bad] = await Promise.all([
    run(['sql', '--schema', 'reports_jobs']),
    run(['sql']),
    run(['--help']),
    run(['migrate']),
    run(['sql', '--schema', 'no-dashes']),
    ...usages.map((args) => run(args)),
  ]);
  assert.equal(printed!.code, 0, printed!.err);
  assert.equal(printed!.out, migrationSql('reports_jobs'));
  assert.equal(defaults!.out, migrationSql('hostwork'));
  assert.equal(help!.code, 0);
  assert.match(help!.out, /migrate .*\n.*sql /);
  assert.equal(noDatabase!.code, 2);
  assert.match(noDatabase!.err, /set DATABASE_URL or pass --database-url/);
  assert.equal(badSchema!.code, 1);
  assert.match(badSchema!.err, /schema must be/);
  for (const [i, result] of bad.entries()) {
    assert.equal(result.code, 2, `${usages[i]!.join(' ')}: ${result.err}`);
    assert.match(result.err, /Usage: hostwork-postgres/);
  }
});

await describeWithDatabase('hostwork-postgres migrate (PostgreSQL)', () => {
  const stores = useSchemas();

  it('applies the schema from DATABASE_URL or --database-url, idempotently', async () => {
    const schema = stores.schema();
    const first = await run(['migrate', '--schema', schema], { DATABASE_URL });
    assert.equal(first.code, 0, first.err);
    assert.equal(first.out, `Schema "${schema}" is at version ${SCHEMA_VERSION}.\n`);
    const again = await run(['migrate', '--schema', schema, '--database-url', DATABASE_URL]);
    assert.equal(again.code, 0, again.err);
    const { rows } = await adminPool().query(
      `SELECT max(version) AS version, count(*)::int AS applied FROM "${schema}".migrations`,
    );
    assert.deepEqual(rows, [{ version: SCHEMA_VERSION, applied: SCHEMA_VERSION }]);
  });

  it('exits 1 naming the failure when the database cannot be reached', async () => {
    const failed = await run(['migrate', '--database-url', 'postgres://nobody@127.0.0.1:1/none']);
    assert.equal(failed.code, 1);
    assert.match(failed.err, /hostwork-postgres migrate failed: .*ECONNREFUSED/);
  });
});
