import assert from 'node:assert/strict';
import type { ErrorCode } from '../../src/errors.ts';
import { HostworkError } from '../../src/errors.ts';

// Shared by every test folder: errors are asserted by code and by the fragments their message must name.

/** Asserts that `promise` rejects with a HostworkError of `code` whose message contains every fragment. */
export async function expectRejection(
  promise: Promise<unknown>,
  code: ErrorCode,
  ...fragments: string[]
): Promise<HostworkError> {
  const error = await promise.then(
    () => assert.fail(`expected a rejection with code ${code}, but the promise resolved`),
    (e: unknown) => e,
  );
  return checkError(error, code, fragments);
}

/** Asserts that `fn` throws a HostworkError of `code` whose message contains every fragment. */
export function expectThrow(fn: () => unknown, code: ErrorCode, ...fragments: string[]): HostworkError {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  assert.ok(error !== undefined, `expected an error with code ${code}, but nothing was thrown`);
  return checkError(error, code, fragments);
}

function checkError(error: unknown, code: ErrorCode, fragments: string[]): HostworkError {
  assert.ok(error instanceof HostworkError, `expected a HostworkError, got: ${String(error)}`);
  assert.equal(error.code, code, `wrong code; message: ${error.message}`);
  for (const fragment of fragments) {
    assert.ok(error.message.includes(fragment), `message should contain "${fragment}": ${error.message}`);
  }
  return error;
}
