/**
 * Runs one of the framework examples (examples/<framework>/main.ts) as a real process, and checks what every example
 * promises: a job enqueued over HTTP completes, health and metrics answer on the app's port, the dashboard asks for
 * its basic auth, and on SIGTERM the server stops accepting before the running job is drained, then exit 0.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

/** One JSON log line. */
export interface LogLine {
  readonly msg: string;
  readonly [key: string]: unknown;
}

const USER = 'ops';
const PASSWORD = 'a test password';
const AUTH = { authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` };

/** The example running as a child process with JSON logs, on a free port and a job database of its own. */
export class ExampleProcess {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #waiters: Array<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];

  constructor(main: string) {
    const database = join(mkdtempSync(join(tmpdir(), 'hostwork-example-')), 'jobs.db');
    this.child = spawn(process.execPath, [main, '--Http:Port=0', `--Jobs:Sqlite:Path=${database}`], {
      env: {
        ...process.env,
        HOSTWORK_ENVIRONMENT: 'Production',
        NODE_ENV: 'production',
        DASHBOARD_USER: USER,
        DASHBOARD_PASSWORD: PASSWORD,
      },
      stdio: 'pipe',
    });
    createInterface({ input: this.child.stdout! }).on('line', (text) => {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        return;
      }
      this.lines.push(line);
      for (const w of [...this.#waiters]) {
        if (w.match(line)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    });
    createInterface({ input: this.child.stderr! }).on('line', (text) => this.stderr.push(text));
    this.exited = once(this.child, 'exit').then(([code, signal]) => ({
      code: code as number | null,
      signal: signal as NodeJS.Signals | null,
    }));
  }

  /** The first log line (past or future) matching `match`; rejects after `timeoutMs`. */
  waitFor(match: (l: LogLine) => boolean, what: string, timeoutMs = 30_000): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise<LogLine>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Timed out waiting for ${what}. stderr: ${this.stderr.join('\n')}`)),
        timeoutMs,
      );
      this.#waiters.push({
        match,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }

  /** Index of the first log line whose message matches. */
  indexOf(pattern: RegExp): number {
    return this.lines.findIndex((l) => pattern.test(l.msg));
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}

async function json(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, init);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function enqueue(base: string, payload: { label: string; ms: number }) {
  return json(`${base}/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  });
}

/** GET over a connection of its own: the status, or the connection error's code. */
function freshGet(port: number, path: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

/**
 * The whole check of one example (see the file's comment); `extra` runs the example's own checks once a job has
 * completed, before the shutdown.
 */
export async function exerciseExample(main: string, extra?: (base: string) => Promise<void>): Promise<void> {
  const app = new ExampleProcess(main);
  try {
    const listening = await app.waitFor(
      (l) => typeof l.port === 'number' && l.msg.startsWith('Listening'),
      'the HTTP port',
    );
    await app.waitFor((l) => l.msg.startsWith('Host started'), 'Host started');
    const base = `http://127.0.0.1:${listening.port as number}`;
    // The server listened only once every hosted service had started.
    assert.ok(
      app.indexOf(/^Service 'JobWorker' started/) < app.indexOf(/^Listening/),
      'listens after the job worker started',
    );

    // Health and metrics on the application's own port.
    const ready = await json(`${base}/healthz/ready`);
    assert.equal(ready.status, 200);
    assert.equal(ready.body.status, 'healthy');
    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /^# (HELP|TYPE) /m);

    // The dashboard under its base path, behind basic auth from the environment.
    assert.equal((await fetch(`${base}/admin/jobs/`)).status, 401);
    const page = await fetch(`${base}/admin/jobs/`, { headers: AUTH });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /hostwork-csrf/);

    // A job enqueued by a request handler completes.
    const quick = await enqueue(base, { label: 'quick', ms: 10 });
    assert.equal(quick.status, 202, JSON.stringify(quick.body));
    const id = String(quick.body.id);
    const deadline = Date.now() + 30_000;
    let state: unknown;
    while (Date.now() < deadline) {
      const job = await json(`${base}/jobs/${id}`);
      assert.equal(job.status, 200);
      state = job.body.state;
      if (state === 'completed') break;
      await sleep(50);
    }
    assert.equal(state, 'completed');
    await extra?.(base);

    // A payload the job's schema refuses: 400 from the example's error handler, nothing enqueued.
    const invalid = await enqueue(base, { label: '', ms: -1 });
    assert.equal(invalid.status, 400, JSON.stringify(invalid.body));
    assert.equal(invalid.body.code, 'HW_JOB_INVALID_PAYLOAD');

    // SIGTERM with a long job running: no new connection once the server stopped accepting, the job finishes,
    // exit 0.
    const long = await enqueue(base, { label: 'long', ms: 3_000 });
    assert.equal(long.status, 202);
    await app.waitFor((l) => l.msg === 'Job long started', 'the long job to start');
    app.child.kill('SIGTERM');
    await app.waitFor((l) => l.msg.startsWith('Stopped accepting'), 'the server to stop accepting');
    // A new connection (no pooled keep-alive socket, which the server closed as idle): refused.
    const refused = await freshGet(listening.port as number, '/healthz/ready');
    assert.ok(
      refused === 'ECONNREFUSED' || refused === 'ECONNRESET' || refused === 503,
      `a request after SIGTERM was answered with ${String(refused)}`,
    );
    const { code } = await app.exited;
    assert.equal(code, 0, `exit code; stderr: ${app.stderr.join('\n')}`);
    const stoppedAccepting = app.indexOf(/^Stopped accepting/);
    const jobDone = app.indexOf(/^Job long done/);
    const workerStopped = app.indexOf(/^Service 'JobWorker' stopped/);
    assert.ok(jobDone > stoppedAccepting, 'the running job completed after the server stopped accepting');
    assert.ok(workerStopped > jobDone, 'the worker stopped once the job was done');
    assert.ok(app.indexOf(/^Host stopped/) > workerStopped);
  } finally {
    await app.kill();
  }
}
