import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { ExitCodes } from '../../src/hosting/index.ts';
import { FixtureProcess, Level } from './helpers.ts';

// Real processes: each fixture in ./fixtures is a tiny host calling `await host.run()`, spawned with the Node that
// runs the tests and NODE_ENV=production (JSON logs on stdout). Timing bounds are loose: the machine may be loaded.

const T = { timeout: 20_000 };
const running: FixtureProcess[] = [];

function start(name: string, env?: Record<string, string>): FixtureProcess {
  const fixture = new FixtureProcess(name, env);
  running.push(fixture);
  return fixture;
}

afterEach(() => {
  for (const fixture of running.splice(0)) fixture.kill();
});

/** The host's own lines, each cut to what the test compares: the message up to the first detail. */
function hostMessages(fixture: FixtureProcess): string[] {
  return fixture.lines.filter((l) => l.category === 'Hostwork.Host').map((l) => l.msg);
}

function assertSequence(actual: readonly string[], expected: readonly string[], output: string): void {
  assert.equal(
    actual.length,
    expected.length,
    `expected ${expected.length} host lines, got ${actual.length}:\n${actual.join('\n')}\n${output}`,
  );
  expected.forEach((prefix, i) => {
    assert.ok(
      actual[i]!.startsWith(prefix),
      `line ${i}: expected "${prefix}...", got "${actual[i]}"\n${output}`,
    );
  });
}

describe('host.run() in a real process', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`stops gracefully on ${signal}: exit code 0, lifecycle lines in order, quickly`, T, async () => {
      const fixture = start('lifecycle');
      await fixture.waitFor('Host started');
      // Idle services hold no handle: the host itself must keep the process alive until the signal.
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(fixture.child.exitCode, null, `the host exited without a signal.\n${fixture.describe()}`);

      const sentAt = fixture.signal(signal);
      const exit = await fixture.exit();

      assert.deepEqual(
        { code: exit.code, signal: exit.signal },
        { code: 0, signal: null },
        fixture.describe(),
      );
      assert.ok(exit.at - sentAt < 5000, `took ${Math.round(exit.at - sentAt)} ms from ${signal} to exit`);
      assertSequence(
        hostMessages(fixture),
        [
          'Host starting',
          "Service 'A' started",
          "Service 'B' started",
          'Host started',
          `Received ${signal}`,
          'Host stopping',
          "Service 'B' stopped",
          "Service 'A' stopped",
          'Host stopped',
        ],
        fixture.describe(),
      );
      assert.equal(fixture.find('Host stopping')!.reason, signal);
      assert.equal(fixture.find('Host stopped')!.exitCode, 0);
      assert.equal(fixture.stderr, '');
      assert.deepEqual(fixture.otherStdout, []);
    });
  }

  it('exits at once with code 130 on a second signal during a slow stop, and logs it', T, async () => {
    const fixture = start('slow-stop');
    await fixture.waitFor('Host started');
    fixture.signal('SIGTERM');
    await fixture.waitFor('Slow stop began');
    const secondAt = fixture.signal('SIGTERM');
    const exit = await fixture.exit();

    assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: ExitCodes.forced, signal: null });
    // The slow stop would take 10 s; the forced exit must not wait for it.
    assert.ok(exit.at - secondAt < 5000, `took ${Math.round(exit.at - secondAt)} ms from the second signal`);
    const forced = fixture.find('Received SIGTERM again');
    assert.ok(forced, `no line about the second signal.\n${fixture.describe()}`);
    assert.equal(forced.level, Level.warn);
    assert.match(forced.msg, /forcing exit/);
    assert.equal(fixture.find('Host stopped'), undefined, 'the graceful stop cannot have finished');
  });
});

describe("the seed's common mistakes, in a real process", () => {
  it(
    '(1) a scoped service injected into a hosted service: non-zero exit before anything starts, naming both',
    T,
    async () => {
      // The fixture lets the build error propagate uncaught: Node prints it (with its code) on stderr, exit code 1.
      const fixture = start('scoped-in-singleton');
      const exit = await fixture.exit();

      assert.equal(exit.code, 1, fixture.describe());
      assert.match(fixture.stderr, /HW_DI_SCOPED_IN_SINGLETON/);
      assert.match(fixture.stderr, /Cannot consume scoped service 'DbContext' from singleton 'ReportWorker'/);
      assert.match(fixture.stderr, /ScopeFactory/, 'the message should give the fix');
      assert.deepEqual(fixture.otherStdout, [], 'no service may be constructed or started');
      assert.equal(fixture.find('Host starting'), undefined);
    },
  );

  it(
    '(2) a worker that ignores its signal: named in the log, exit code 3 within shutdownTimeout + 1 s',
    T,
    async () => {
      const fixture = start('stuck-worker');
      await fixture.waitFor('Host started');
      const sentAt = fixture.signal('SIGTERM');
      const exit = await fixture.exit();
      const elapsed = exit.at - sentAt;

      assert.equal(exit.code, ExitCodes.shutdownTimeout, fixture.describe());
      assert.ok(
        elapsed < 1000 + 1000,
        `took ${Math.round(elapsed)} ms from SIGTERM to exit (shutdownTimeout 1000)`,
      );
      assert.ok(
        elapsed >= 900,
        `exited after ${Math.round(elapsed)} ms: it cannot have waited for the budget`,
      );
      const leftBehind = fixture.lines.filter((l) =>
        l.msg.includes('did not stop within the shutdown timeout'),
      );
      assert.deepEqual(
        leftBehind.map((l) => [l.level, l.service]),
        [
          [Level.error, 'Hung'],
          [Level.error, 'StuckWorker'],
        ],
        fixture.describe(),
      );
      assert.ok(fixture.find("Service 'First' stopped"), 'the service after them is still stopped');
      assert.equal(fixture.find('Host stopped')!.exitCode, ExitCodes.shutdownTimeout);
    },
  );

  it(
    '(3) a background service that throws: error with stack logged, exit code 1, no signal needed',
    T,
    async () => {
      const fixture = start('crashing-worker');
      const exit = await fixture.exit();

      assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: ExitCodes.failure, signal: null });
      const failure = fixture.find("Background service 'Crasher' failed");
      assert.ok(failure, fixture.describe());
      assert.equal(failure.level, Level.error);
      assert.equal(failure.service, 'Crasher');
      assert.match(failure.msg, /database connection lost/);
      assert.match(failure.err!.stack, /database connection lost/);
      assert.match(failure.err!.stack, /at connectToDatabase/);
      assertSequence(
        hostMessages(fixture).filter((m) => !m.startsWith('Background service')),
        [
          'Host starting',
          "Service 'Steady' started",
          "Service 'Crasher' started",
          'Host started',
          'Host stopping',
          "Service 'Crasher' stopped",
          "Service 'Steady' stopped",
          'Host stopped',
        ],
        fixture.describe(),
      );
      assert.match(String(fixture.find('Host stopping')!.reason), /Crasher/);
      assert.equal(fixture.find('Host stopped')!.exitCode, ExitCodes.failure);
    },
  );
});
