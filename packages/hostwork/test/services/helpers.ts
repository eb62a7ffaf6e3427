import { setTimeout as delay } from 'node:timers/promises';
import { createHostBuilder, type HostBuilder } from '../../src/hosting/index.ts';

/** One JSON log line as pino writes it. */
export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly category?: string;
  readonly err?: { readonly message: string; readonly stack: string; readonly type: string };
  readonly [field: string]: unknown;
}

/** pino's numeric levels. */
export const Levels = { debug: 20, info: 30, warn: 40, error: 50 } as const;

/** A pino destination that keeps every line, parsed. */
export function captureLogs(): {
  readonly destination: { write(line: string): void };
  readonly lines: LogLine[];
} {
  const lines: LogLine[] = [];
  return {
    lines,
    destination: {
      write(chunk: string) {
        for (const line of chunk.split('\n')) if (line.trim()) lines.push(JSON.parse(line) as LogLine);
      },
    },
  };
}

/** A builder isolated from the machine: no env, no args, no config files, logs captured at debug level. */
export function testBuilder(shutdownTimeout = 5_000): {
  readonly builder: HostBuilder;
  readonly logs: LogLine[];
} {
  const { destination, lines } = captureLogs();
  const builder = createHostBuilder({
    env: {},
    args: [],
    contentRoot: import.meta.dirname,
    logging: { destination, level: 'debug', pretty: false },
    host: { shutdownTimeout },
  });
  return { builder, logs: lines };
}

/** Polls `condition` until it holds; fails with `what` after `timeoutMs` (generous: machines are loaded). */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(5);
  }
}

/** Rejects if `promise` does not settle within `timeoutMs`. */
export async function within<T>(promise: Promise<T>, what: string, timeoutMs = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves when `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** A promise with its resolve function outside: a gate a test opens. */
export function gate(): { readonly promise: Promise<void>; readonly open: () => void } {
  const { promise, resolve } = Promise.withResolvers<void>();
  return { promise, open: () => resolve() };
}

/** A scoped service that counts instances and disposals, to observe scope boundaries. */
export class ScopedProbe implements Disposable {
  static created = 0;
  static disposed = 0;
  readonly id: number;
  disposed = false;

  constructor() {
    ScopedProbe.created++;
    this.id = ScopedProbe.created;
  }

  static reset(): void {
    ScopedProbe.created = 0;
    ScopedProbe.disposed = 0;
  }

  [Symbol.dispose](): void {
    this.disposed = true;
    ScopedProbe.disposed++;
  }
}
