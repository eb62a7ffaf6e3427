/**
 * `npm create hostwork` as a user runs it: create-hostwork is packed and run through `npm exec --package <tarball>`
 * (what `npm create` does with the registry's package), each template is generated into a temporary folder outside
 * the workspace, Hostwork is installed there from this repository's packed tarballs (the rest from the npm registry),
 * and the generated project's own tests and type-check run. Then it is started as its Dockerfile starts it (`node
 * src/main.ts`), does its work, gets SIGTERM, and must log the shutdown and exit 0.
 *
 * Needs the npm registry (and PostgreSQL for the PostgreSQL project): without them these tests are skipped with the
 * reason, except under HOSTWORK_REQUIRE_SERVICES=1 (CI), where they fail.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  isRegistryProblem,
  nodeAtFloor,
  npm,
  type PackageName,
  type PackResult,
  packAll,
  run,
  skipOrFail,
  userEnv,
} from '../../../test/packaging/support.ts';
import {
  DATABASE_URL,
  databaseProblem,
  dropSchema,
  freshSchemaName,
} from '../../postgres/test/support/database.ts';

const work = mkdtempSync(join(tmpdir(), 'create-hostwork-'));
const projects = join(work, 'projects');
let packed = new Map<PackageName, PackResult>();
let packProblem: string | undefined;

before(async () => {
  mkdirSync(projects);
  try {
    packed = await packAll(work);
  } catch (error) {
    packProblem = `packing failed: ${(error as Error).message.split('\n')[0]}`;
  }
});
after(() => rmSync(work, { recursive: true, force: true }));

const tarball = (name: PackageName) => join(work, packed.get(name)!.filename);

/** A generated project, started as its Dockerfile starts it; its JSON log lines as they come. */
class RunningProject {
  readonly child: ChildProcess;
  readonly lines: { msg: string; [key: string]: unknown }[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(dir: string, args: string[], env: Record<string, string>) {
    this.child = spawn(process.execPath, ['src/main.ts', ...args], {
      cwd: dir,
      env: userEnv(process.execPath, { HOSTWORK_ENVIRONMENT: 'Production', ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let partial = '';
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const part of parts) if (part.trim()) this.lines.push(JSON.parse(part));
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** Resolves with the first line whose message matches, or fails after `ms`. */
  async line(pattern: RegExp, ms = 20_000): Promise<{ msg: string; [key: string]: unknown }> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.lines.find((l) => pattern.test(l.msg));
      if (found) return found;
      if (Date.now() > deadline || this.child.exitCode !== null)
        assert.fail(
          `no log line matching ${pattern}; lines: ${this.lines.map((l) => l.msg).join(' | ')}; stderr: ${this.stderr}`,
        );
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Sends SIGTERM; resolves to the exit code and the shutdown lines. */
  async terminate(): Promise<{ code: number | null; shutdown: string[] }> {
    this.child.kill('SIGTERM');
    const code = await Promise.race([
      this.exited,
      new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 20_000)),
    ]);
    if (code === 'timeout') {
      this.child.kill('SIGKILL');
      assert.fail('the project did not exit within 20 s of SIGTERM');
    }
    const shutdown = this.lines
      .map((l) => l.msg)
      .filter((m) => /^(Received SIGTERM|Host stopp)/.test(m))
      .map((m) => m.replace(/;.*$/, '').replace(/ in \d+ ms.*$/, ''));
    return { code, shutdown };
  }
}

/** Generates a project through the packed create-hostwork, installs it from the tarballs; returns its folder. */
async function generate(name: string, args: string[]): Promise<string> {
  const out = await npm(
    ['exec', '--yes', `--package=${tarball('create-hostwork')}`, '--', 'create-hostwork', name, ...args],
    projects,
  );
  assert.match(out, new RegExp(`Created ${name} `));
  const dir = join(projects, name);
  const libraries = args.includes('postgres')
    ? [tarball('hostwork'), tarball('@hostwork/postgres')]
    : [tarball('hostwork')];
  await npm(['install', '--no-audit', '--no-fund', ...libraries], dir);
  return dir;
}

const CASES = [
  { name: 'import-worker', args: ['--template', 'worker', '--yes'], store: 'sqlite' },
  { name: 'report-api', args: ['--template', 'api', '--yes'], store: 'sqlite' },
  { name: 'pg-worker', args: ['--template', 'worker', '--store', 'postgres', '--yes'], store: 'postgres' },
] as const;

describe('npm create hostwork', () => {
  for (const c of CASES) {
    it(`${c.name} (${c.args.join(' ')}): its tests and type-check pass, it runs, and SIGTERM stops it with exit 0`, async (t) => {
      if (packProblem) return skipOrFail(t, packProblem);
      let schema: string | undefined;
      const env: Record<string, string> = {};
      const args: string[] = [];
      if (c.store === 'postgres') {
        const problem = await databaseProblem();
        if (problem) return skipOrFail(t, `${problem}; set DATABASE_URL to a reachable server`);
        schema = freshSchemaName();
        env.DATABASE_URL = DATABASE_URL;
        args.push(`--Jobs:Postgres:Schema=${schema}`);
      }
      let dir: string;
      try {
        dir = await generate(c.name, [...c.args]);
      } catch (error) {
        if (!isRegistryProblem(error)) throw error;
        return skipOrFail(t, `the npm registry is unreachable: ${(error as Error).message.split('\n')[0]}`);
      }
      try {
        await npm(['test'], dir);
        await npm(['run', 'typecheck'], dir);
        if (c.name === 'report-api') args.push('--Http:Port=0');
        if (c.name !== 'report-api') args.push('--Import:IntervalMs=50');
        const project = new RunningProject(dir, args, env);
        try {
          await project.line(/^Host started/);
          if (c.name === 'report-api') {
            const listening = await project.line(/^Listening on /);
            const base = /(http:\/\/\S+)/.exec(listening.msg)![1]!;
            const res = await fetch(`${base}/reports`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ customerId: 'c-9', month: '2026-12' }),
            });
            assert.equal(res.status, 202);
            const { status } = (await res.json()) as { status: string };
            await project.line(/^Report 2026-12 for c-9 generated$/);
            const state = ((await (await fetch(`${base}${status}`)).json()) as { state: string }).state;
            assert.match(state, /^(running|completed)$/);
          } else {
            await project.line(/^Imported file-2\.csv from inbox$/);
          }
          const { code, shutdown } = await project.terminate();
          assert.deepEqual(
            { code, shutdown },
            { code: 0, shutdown: ['Received SIGTERM', 'Host stopping', 'Host stopped'] },
            `stderr: ${project.stderr}`,
          );
          // The hostwork command, run in the project as its README says, finds the project's store and its jobs.
          const { stdout } = await run(
            'npx',
            ['--no-install', 'hostwork', 'queues', '--json', ...(schema ? ['--schema', schema] : [])],
            { cwd: dir, encoding: 'utf8', timeout: 60_000, env: userEnv(process.execPath, env) },
          );
          const { queues } = JSON.parse(stdout) as { queues: { queue: string; completed: number }[] };
          assert.ok(
            queues.some((q) => q.queue === 'default' && q.completed >= 1),
            `npx hostwork queues: ${stdout}`,
          );
        } finally {
          if (project.child.exitCode === null) project.child.kill('SIGKILL');
        }
      } finally {
        if (schema) await dropSchema(schema);
      }
    });
  }

  it('a generated project passes its tests on the oldest Node.js it allows', async (t) => {
    if (packProblem) return skipOrFail(t, packProblem);
    let node: string;
    try {
      node = await nodeAtFloor();
    } catch (error) {
      return skipOrFail(
        t,
        `the floor Node.js could not be installed: ${(error as Error).message.split('\n')[0]}`,
      );
    }
    const dir = await generate('floor-worker', ['--yes']);
    await npm(['test'], dir, node);
  });
});
