import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

const MAIN = new URL('../main.ts', import.meta.url).pathname;
/** The repository root, where `npm start` runs the demo. */
const ROOT = new URL('../../../', import.meta.url).pathname;

/** One JSON log line of the demo. */
export interface LogLine {
  readonly msg: string;
  readonly level: number;
  readonly [key: string]: unknown;
}

/** How {@link DemoProcess} starts the demo. */
export interface DemoLaunch {
  /**
   * `node` (the default): main.ts under this test's Node, in Production. `npm-start`: `npm start` in the repository
   * root, exactly as a user or a process manager runs it (the script picks the environment and the Node), in its own
   * process group so that {@link DemoProcess.kill} also reaches a demo that `npm start` left behind.
   */
  readonly via?: 'node' | 'npm-start';
}

/** The demo running as a real child process with JSON logs, on a random port and its own job database. */
export class DemoProcess {
  /** The demo's node, or with `via: 'npm-start'` the npm process. */
  readonly child: ChildProcess;
  /** With `via: 'npm-start'`, the process group of npm and everything it started (npm's pid). */
  readonly processGroup: number | undefined;
  readonly lines: LogLine[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  readonly #waiters: Array<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];

  constructor(databasePath: string, extraArgs: string[] = [], launch: DemoLaunch = {}) {
    const args = [
      '--Demo:Port=0',
      `--Jobs:Sqlite:Path=${databasePath}`,
      '--Demo:CleanupIntervalMs=200',
      ...extraArgs,
    ];
    if (launch.via === 'npm-start') {
      // npm appends the arguments after `--` to the script's command. The script sets the Development environment,
      // whose logs are pretty; LOGGING__PRETTY=false keeps them JSON for `lines`. No stdin, as under a manager.
      this.child = spawn('npm', ['start', '--', ...args], {
        cwd: ROOT,
        env: { ...process.env, LOGGING__PRETTY: 'false' },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      this.processGroup = this.child.pid;
    } else {
      this.child = spawn(process.execPath, [MAIN, ...args], {
        env: { ...process.env, HOSTWORK_ENVIRONMENT: 'Production', NODE_ENV: 'production' },
        stdio: 'pipe',
      });
      this.processGroup = undefined;
    }
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
      at: performance.now(),
    }));
  }

  /** Resolves with the first log line (past or future) matching `match`, or rejects after `timeoutMs`. */
  waitFor(match: (l: LogLine) => boolean, what: string, timeoutMs = 15_000): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise<LogLine>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`Timed out waiting for ${what}. stderr: ${this.stderr.join('\n')}`));
      }, timeoutMs);
      this.#waiters.push({
        match,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }

  /** The HTTP base URL, once the server listens. */
  async baseUrl(): Promise<string> {
    const line = await this.waitFor(
      (l) => typeof l.port === 'number' && l.msg.startsWith('Listening'),
      'the HTTP port',
    );
    return `http://127.0.0.1:${line.port as number}`;
  }

  /** Makes sure the process is gone, with `via: 'npm-start'` every process of its group (for `finally` blocks). */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
    const group = this.processGroup;
    if (group === undefined) return;
    // An orphan is reaped by init (a zombie until then counts as alive): give up after a while rather than hide the
    // test's own failure behind one from `finally`.
    const deadline = Date.now() + 10_000;
    while (processGroupAlive(group) && Date.now() < deadline) {
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // Gone in the meantime.
      }
      await sleep(20);
    }
  }
}

/** True while any process of process group `group` lives (signal 0 checks without sending anything). */
export function processGroupAlive(group: number): boolean {
  try {
    process.kill(-group, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/**
 * A new job database path in a folder that does not exist yet, as `.data/` on a fresh clone: whatever the demo opens
 * before the store has created it fails the test the way it would fail `npm start`.
 */
export function tempDatabase(): string {
  return join(mkdtempSync(join(tmpdir(), 'hostwork-demo-')), 'data', 'jobs.db');
}

/** Sends a JSON request and returns status and body. */
export async function request(
  url: string,
  method = 'GET',
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: response.status, body: await response.json() };
}

/** A job as the demo's GET /jobs/:id shows it. */
export interface JobView {
  state: string;
  attempt: number;
  errors: Array<{ attempt: number; message: string; kind: string }>;
}

/** Polls the demo's GET /jobs/:id until the job reaches `state`. */
export async function waitForJob(
  base: string,
  id: string,
  state: string,
  timeoutMs = 20_000,
): Promise<JobView> {
  const deadline = Date.now() + timeoutMs;
  let last: JobView | undefined;
  while (Date.now() < deadline) {
    last = (await request(`${base}/jobs/${id}`)).body as JobView;
    if (last.state === state) return last;
    await sleep(50);
  }
  throw new Error(`job ${id} did not reach '${state}'; last seen ${JSON.stringify(last)}`);
}
