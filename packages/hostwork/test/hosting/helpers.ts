import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHostBuilder, type HostBuilder, type HostOptions } from '../../src/hosting/index.ts';

/** One parsed pino line. */
export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly category?: string;
  readonly service?: string;
  readonly err?: { readonly type: string; readonly message: string; readonly stack: string };
  readonly [key: string]: unknown;
}

/** pino's numeric levels. */
export const Level = { debug: 20, info: 30, warn: 40, error: 50 } as const;

/**
 * A Writable that parses the JSON lines pino writes into it. `write` is handled synchronously (the callback is
 * called at once), so a line is in `lines` as soon as the logging call returns: the order of `lines` relative to
 * events recorded by test services is the real order.
 */
export class LogCapture extends Writable {
  readonly lines: LogLine[] = [];
  readonly #onLine: ((line: LogLine) => void) | undefined;
  #partial = '';

  constructor(onLine?: (line: LogLine) => void) {
    super({ decodeStrings: false });
    this.#onLine = onLine;
  }

  override _write(
    chunk: string | Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    const text = this.#partial + chunk.toString();
    const parts = text.split('\n');
    this.#partial = parts.pop() ?? '';
    for (const part of parts) {
      if (!part.trim()) continue;
      const line = JSON.parse(part) as LogLine;
      this.lines.push(line);
      this.#onLine?.(line);
    }
    callback();
  }

  /** The messages, in order. */
  messages(): string[] {
    return this.lines.map((l) => l.msg);
  }

  /** The first line whose message contains `fragment`. */
  find(fragment: string): LogLine | undefined {
    return this.lines.find((l) => l.msg.includes(fragment));
  }

  /** Waits (polling) until a line whose message contains `fragment` has been written; fails after `timeoutMs`. */
  async waitFor(fragment: string, timeoutMs = 10_000): Promise<LogLine> {
    await waitUntil(
      () => this.find(fragment) !== undefined,
      `a log line containing "${fragment}"`,
      timeoutMs,
    );
    return this.find(fragment)!;
  }
}

/** Polls `condition` every 5 ms; fails naming `what` after `timeoutMs`. */
export async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** Settings of {@link testHost}. */
export interface TestHostSettings {
  readonly host?: Partial<HostOptions>;
  readonly env?: Record<string, string>;
  readonly configuration?: Record<string, unknown>;
  /** Receives every log line as it is written (e.g. to interleave it with recorded events). */
  readonly onLine?: (line: LogLine) => void;
}

/**
 * A host builder isolated from the machine: no process environment, no command line, a content root without
 * configuration files, and logs captured as parsed JSON lines at debug level.
 */
export function testHost(settings: TestHostSettings = {}): { builder: HostBuilder; logs: LogCapture } {
  const logs = new LogCapture(settings.onLine);
  const builder = createHostBuilder({
    env: settings.env ?? {},
    args: [],
    contentRoot: import.meta.dirname,
    configuration: settings.configuration ?? {},
    logging: { destination: logs, level: 'debug', pretty: false },
    host: settings.host ?? {},
  });
  return { builder, logs };
}

/** A promise with its resolve function. */
export function deferred<T = void>(): PromiseWithResolvers<T> {
  return Promise.withResolvers<T>();
}

/** Whether `promise` settles within `ms` (it is left running either way). */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const timeout = Symbol('timeout');
  const winner = await Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    sleep(ms, timeout, { ref: false }),
  ]);
  return winner !== timeout;
}

export { expectRejection, expectThrow } from '../support/errors.ts';

/**
 * Restores `process.exitCode` after `host.run()` set it, so that an expected non-zero code does not become the
 * exit code of the test process.
 */
export async function keepingExitCode<T>(fn: () => Promise<T>): Promise<T> {
  const saved = process.exitCode;
  try {
    return await fn();
  } finally {
    process.exitCode = saved;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Real processes

/** How a fixture process ended. */
export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** `performance.now()` when the process exited. */
  readonly at: number;
}

/** A running fixture program (see `fixtures/`), with its stdout parsed as JSON lines. */
export class FixtureProcess {
  readonly child: ChildProcess;
  /** Parsed JSON lines of stdout. */
  readonly lines: LogLine[] = [];
  /** Lines of stdout that were not JSON. */
  readonly otherStdout: string[] = [];
  stderr = '';
  /** Resolves once the process has exited and its output is complete. */
  readonly ended: Promise<Exit>;
  #partial = '';

  constructor(name: string, env: Record<string, string> = {}) {
    const childEnv: Record<string, string | undefined> = { ...process.env, NODE_ENV: 'production', ...env };
    // Nothing of the test runner's or the machine's Hostwork settings should leak into the fixture.
    delete childEnv.NODE_TEST_CONTEXT;
    // Nothing else the runner put there, but the condition that resolves Hostwork's packages to their sources.
    childEnv.NODE_OPTIONS = '--conditions=hostwork-source';
    delete childEnv.HOSTWORK_ENVIRONMENT;
    for (const key of Object.keys(childEnv)) {
      if (/^(HOST|LOGGING)__/i.test(key) && !(key in env)) delete childEnv[key];
    }
    this.child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', `${name}.ts`)], {
      env: childEnv,
      cwd: join(import.meta.dirname, 'fixtures'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => this.#onStdout(chunk));
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    const exited = new Promise<Exit>((resolve) => {
      this.child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() }));
    });
    const closed = new Promise<void>((resolve) => this.child.once('close', () => resolve()));
    this.ended = Promise.all([exited, closed]).then(([exit]) => {
      if (this.#partial) this.#onLine(this.#partial);
      return exit;
    });
  }

  /** The messages of the JSON lines, in order. */
  messages(): string[] {
    return this.lines.map((l) => l.msg);
  }

  find(fragment: string): LogLine | undefined {
    return this.lines.find((l) => l.msg.includes(fragment));
  }

  /** Waits for a JSON line whose message contains `fragment`; fails early (with the output) if the process ends. */
  async waitFor(fragment: string, timeoutMs = 15_000): Promise<LogLine> {
    let exited = false;
    void this.ended.then(() => {
      exited = true;
    });
    const deadline = performance.now() + timeoutMs;
    while (!this.find(fragment)) {
      if (exited) assert.fail(`the process ended before logging "${fragment}".\n${this.describe()}`);
      if (performance.now() > deadline) {
        assert.fail(`timed out after ${timeoutMs} ms waiting for "${fragment}".\n${this.describe()}`);
      }
      await sleep(10);
    }
    return this.find(fragment)!;
  }

  /** Sends a signal and returns `performance.now()` at the moment it was sent. */
  signal(signal: NodeJS.Signals): number {
    const at = performance.now();
    assert.ok(this.child.kill(signal), `could not send ${signal}`);
    return at;
  }

  /** Waits for the end of the process, killing it (and failing) after `timeoutMs`. */
  async exit(timeoutMs = 15_000): Promise<Exit> {
    const timeout = Symbol('timeout');
    const result = await Promise.race([this.ended, sleep(timeoutMs, timeout, { ref: false })]);
    if (result === timeout) {
      this.child.kill('SIGKILL');
      assert.fail(`the process did not exit within ${timeoutMs} ms.\n${this.describe()}`);
    }
    return result;
  }

  /** Makes sure the process is gone (for `after` hooks). */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  /** The output so far, for failure messages. */
  describe(): string {
    return `stdout:\n${[...this.messages(), ...this.otherStdout].join('\n')}\nstderr:\n${this.stderr}`;
  }

  #onStdout(chunk: string): void {
    const parts = (this.#partial + chunk).split('\n');
    this.#partial = parts.pop() ?? '';
    for (const part of parts) this.#onLine(part);
  }

  #onLine(text: string): void {
    if (!text.trim()) return;
    try {
      this.lines.push(JSON.parse(text) as LogLine);
    } catch {
      this.otherStdout.push(text);
    }
  }
}
