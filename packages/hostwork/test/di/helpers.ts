import assert from 'node:assert/strict';
import { type ErrorCode, HostworkError } from '../../src/errors.ts';

/** Asserts that `fn` throws a HostworkError with `code` whose message contains every fragment; returns it. */
export function expectError(fn: () => unknown, code: ErrorCode, ...fragments: string[]): HostworkError {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  return check(thrown, code, fragments);
}

function check(thrown: unknown, code: ErrorCode, fragments: string[]): HostworkError {
  assert.ok(thrown !== undefined, `expected an error with code ${code}, but nothing was thrown`);
  assert.ok(thrown instanceof HostworkError, `expected a HostworkError, got: ${String(thrown)}`);
  assert.equal(thrown.code, code, `wrong code; message: ${thrown.message}`);
  assert.equal(thrown.name, 'HostworkError');
  for (const fragment of fragments) {
    assert.ok(thrown.message.includes(fragment), `message should contain "${fragment}": ${thrown.message}`);
  }
  return thrown;
}

/** Records what happened, in order. */
export class Log {
  readonly entries: string[] = [];
  add(entry: string): void {
    this.entries.push(entry);
  }
}

/** An object disposed through `Symbol.dispose` that records its disposal. */
export function syncDisposable(log: Log, name: string): Disposable & { name: string } {
  return {
    name,
    [Symbol.dispose]() {
      log.add(name);
    },
  };
}

/** An object disposed through `Symbol.asyncDispose`, after a macrotask, that records its disposal. */
export function asyncDisposable(log: Log, name: string): AsyncDisposable & { name: string } {
  return {
    name,
    async [Symbol.asyncDispose]() {
      await new Promise((resolve) => setTimeout(resolve, 1));
      log.add(name);
    },
  };
}
