/**
 * The one rule for tests that need a server (PostgreSQL, RabbitMQ, the SQS emulator): run them when it answers;
 * otherwise register one test that is skipped with the reason, or, under HOSTWORK_REQUIRE_SERVICES=1 (CI), fails.
 */
import { describe, it } from 'node:test';

const REQUIRED = process.env.HOSTWORK_REQUIRE_SERVICES === '1';

/**
 * Registers `body` (a describe block's body) as `what` when `problem` is undefined; otherwise one test named `what`,
 * skipped with `problem` and `hint` (what to set to run them), or failing under HOSTWORK_REQUIRE_SERVICES=1.
 */
export function describeWhenAvailable(
  what: string,
  problem: string | undefined,
  body: () => void,
  hint?: string,
): void {
  if (problem === undefined) {
    describe(what, body);
    return;
  }
  if (REQUIRED) {
    it(what, () => {
      throw new Error(`${problem} (HOSTWORK_REQUIRE_SERVICES=1, so this fails instead of being skipped)`);
    });
    return;
  }
  const reason = hint === undefined ? problem : `${problem}; ${hint}`;
  process.stdout.write(`# skipped: ${what}: ${reason}\n`);
  it(what, { skip: reason }, () => {});
}
