import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { ErrorCodes, HostworkError } from '../../src/errors.ts';
import { type HostedService, HostServiceCollection } from '../../src/hosting/index.ts';
import { addPeriodicService, type PeriodicOptions } from '../../src/services/index.ts';
import { aborted, Levels, ScopedProbe, testBuilder, waitFor, within } from './helpers.ts';

describe('PeriodicService', () => {
  beforeEach(() => ScopedProbe.reset());

  test('runs never overlap, even when a run is slower than the interval', async () => {
    const { builder } = testBuilder();
    const events: string[] = [];
    let active = 0;
    let maxActive = 0;
    const key = addPeriodicService(builder.services, 'slow', {
      interval: 10,
      run: async ({ run }) => {
        active++;
        maxActive = Math.max(maxActive, active);
        events.push(`start ${run}`);
        await delay(60); // ignores the signal on purpose: stop must wait for it
        events.push(`end ${run}`);
        active--;
      },
    });
    const host = builder.build();
    const service = host.services.get(key);
    await host.start();
    await waitFor(() => service.runs >= 4, 'four runs');
    await host.stop();

    assert.equal(maxActive, 1);
    const expected = Array.from({ length: service.runs }, (_, i) => [
      `start ${i + 1}`,
      `end ${i + 1}`,
    ]).flat();
    assert.deepEqual(events, expected, 'each run ends before the next starts, and the last one was awaited');
    assert.equal(host.exitCode, 0);
  });

  test('schedules from the start of a run: at once after an overrun, no catch-up burst', async () => {
    const { builder } = testBuilder();
    const interval = 400;
    const starts: number[] = [];
    let runsShortlyAfterFirstEnded: number | undefined;
    const key = addPeriodicService(builder.services, 'timed', {
      interval,
      run: async ({ run }) => {
        starts.push(performance.now());
        if (run === 1) {
          await delay(interval * 2 + 200); // overruns two intervals
          // Observed after the run returns: the next run must already have started, and only one.
          setTimeout(() => {
            runsShortlyAfterFirstEnded = service.runs;
          }, 50);
        }
        if (run === 2) await delay(interval + 100); // overruns by 100 ms
        if (run === 3) await delay(interval * 0.9); // shorter than the interval
      },
    });
    const host = builder.build();
    const service = host.services.get(key);
    await host.start();
    await waitFor(() => service.runs >= 4, 'four runs', 15_000);
    await host.stop();

    assert.equal(runsShortlyAfterFirstEnded, 2, 'an overrun is followed by exactly one immediate run');
    const [, s2 = 0, s3 = 0, s4 = 0] = starts;
    // Lower bounds only depend on timers never firing early, so they hold on a loaded machine.
    assert.ok(s3 - s2 >= interval + 100 - 5, `run 3 waited for run 2 (${s3 - s2} ms)`);
    assert.ok(s4 - s3 >= interval - 5, `run 4 came one interval after run 3 started (${s4 - s3} ms)`);
    // Scheduling from the end of run 3 would put run 4 at 1.9 intervals; a generous upper bound tells them apart.
    assert.ok(s4 - s3 < interval * 1.75, `run 4 is scheduled from run 3's start (${s4 - s3} ms)`);
  });

  test('runOnStart: false waits one interval before the first run', async () => {
    const { builder } = testBuilder();
    const interval = 300;
    let firstRunAt = 0;
    const key = addPeriodicService(builder.services, 'later', {
      interval,
      runOnStart: false,
      run: () => {
        firstRunAt ||= performance.now();
      },
    });
    const host = builder.build();
    const service = host.services.get(key);
    await host.start();
    const startedAt = performance.now();
    await waitFor(() => service.runs >= 1, 'the first run');
    await host.stop();
    assert.ok(firstRunAt - startedAt >= interval - 50, `first run after ${firstRunAt - startedAt} ms`);
  });

  test('each run gets a fresh DI scope, disposed when the run ends', async () => {
    const { builder } = testBuilder();
    builder.services.addScoped(ScopedProbe);
    const seen: { id: number; sameWithinRun: boolean; disposedBefore: number }[] = [];
    const key = addPeriodicService(builder.services, 'scoped', {
      interval: 10,
      run: ({ services }) => {
        const a = services.get(ScopedProbe);
        const b = services.get(ScopedProbe);
        seen.push({ id: a.id, sameWithinRun: a === b, disposedBefore: ScopedProbe.disposed });
      },
    });
    const host = builder.build();
    const service = host.services.get(key);
    await host.start();
    await waitFor(() => service.runs >= 3 && !service.running, 'three finished runs');
    await host.stop();

    assert.ok(
      seen.every((s) => s.sameWithinRun),
      'one instance per run',
    );
    assert.equal(new Set(seen.map((s) => s.id)).size, seen.length, 'a new instance every run');
    assert.deepEqual(
      seen.map((s) => s.disposedBefore),
      seen.map((_, i) => i),
      "each run's scope is disposed before the next run starts",
    );
    assert.equal(ScopedProbe.created, service.runs);
    assert.equal(ScopedProbe.disposed, service.runs);
  });

  test('the signal aborts when the host stops, and the run in progress is awaited', async () => {
    const { builder, logs } = testBuilder();
    const steps: string[] = [];
    const key = addPeriodicService(builder.services, 'patient', {
      interval: 10,
      run: async ({ signal }) => {
        steps.push('started');
        await aborted(signal);
        steps.push('saw abort');
        await delay(100); // cleanup after the abort: stop must wait for it
        steps.push('cleaned up');
        throw signal.reason; // honouring the signal is not a failure
      },
    });
    const host = builder.build();
    const service = host.services.get(key);
    await host.start();
    await waitFor(() => service.running, 'the run to start');
    await host.stop();

    assert.deepEqual(steps, ['started', 'saw abort', 'cleaned up']);
    assert.equal(service.runs, 1, 'no run starts once stopping began');
    assert.equal(service.failures, 0);
    assert.deepEqual(host.servicesLeftBehind, []);
    assert.equal(host.exitCode, 0);
    assert.ok(
      logs.some((l) => l.level === Levels.info && /run 1 cancelled: the host is stopping/.test(l.msg)),
    );
  });

  test('starts no run once the host begins stopping, even while other services are still stopping', async () => {
    const { builder } = testBuilder();
    const key = addPeriodicService(builder.services, 'frequent', { interval: 10, run: () => delay(2) });
    let runsWhenStopBegan = -1;
    // Registered after the periodic service, so the host stops it first (reverse order) and waits for it.
    class SlowToStop implements HostedService {
      start(): void {}
      async stop(): Promise<void> {
        runsWhenStopBegan = service.runs;
        await delay(300);
      }
    }
    builder.services.addHostedService(SlowToStop);
    const host = builder.build();
    const service = host.services.get(key);
    await host.start();
    await waitFor(() => service.runs >= 2, 'two runs');
    await host.stop();

    assert.ok(runsWhenStopBegan >= 2);
    assert.equal(service.runs, runsWhenStopBegan, 'no run started while SlowToStop was stopping');
    assert.equal(host.exitCode, 0);
  });

  test('a failed run is logged with its stack and counted, and the schedule goes on', async () => {
    const { builder, logs } = testBuilder();
    const key = addPeriodicService(builder.services, 'flaky', {
      interval: 10,
      run: ({ run }) => {
        if (run <= 2) throw new Error(`boom ${run}`);
      },
    });
    const host = builder.build();
    const service = host.services.get(key);
    await host.start();
    await waitFor(() => service.runs >= 4, 'four runs');
    assert.equal(host.lifetime.stopReason, undefined, 'failures alone do not stop the host by default');
    await host.stop();

    assert.equal(service.failures, 2);
    assert.equal(service.consecutiveFailures, 0, 'a success resets the streak');
    const errors = logs.filter((l) => l.level === Levels.error && l.category === 'Hostwork.PeriodicService');
    assert.deepEqual(
      errors.map((l) => l.err?.message),
      ['boom 1', 'boom 2'],
    );
    for (const line of errors) {
      assert.match(
        line.err?.stack ?? '',
        /periodic-service\.test\.ts/,
        'the stack points at the failing code',
      );
      assert.equal(line.periodic, 'flaky');
    }
    assert.equal(host.exitCode, 0);
  });

  test('stops the host with exit code 1 after maxConsecutiveFailures failures in a row', async () => {
    const { builder, logs } = testBuilder();
    const key = addPeriodicService(builder.services, 'broken', {
      interval: 10,
      maxConsecutiveFailures: 3,
      // fail, succeed (resets the streak), then fail for good
      run: ({ run }) => {
        if (run !== 2) throw new Error(`failure ${run}`);
      },
    });
    const host = builder.build();
    const service = host.services.get(key);
    await host.start();
    const reason = await within(host.lifetime.stopRequested, 'the service to stop the host');
    await host.stop();

    assert.match(reason, /'broken' failed 3 consecutive runs/);
    assert.equal(service.runs, 5, 'no run after the stop request');
    assert.equal(service.failures, 4);
    assert.equal(host.exitCode, 1);
    assert.ok(logs.some((l) => l.level === Levels.error && /stopping the host/.test(l.msg)));
  });

  test('validates its options at registration', () => {
    const services = new HostServiceCollection();
    const run = () => {};
    const invalid = (options: unknown, code: string, message: RegExp) =>
      assert.throws(
        () => addPeriodicService(services, 'job', options as PeriodicOptions),
        (e: unknown) => e instanceof HostworkError && e.code === code && message.test(e.message),
      );
    invalid(
      { interval: 1000, run, runOnstart: false },
      ErrorCodes.UNKNOWN_OPTION,
      /'runOnstart'.*Did you mean 'runOnStart'/,
    );
    for (const interval of [0, -5, Number.NaN, Number.POSITIVE_INFINITY, '1000', undefined]) {
      invalid(
        { interval, run },
        ErrorCodes.INVALID_OPTION,
        /'job': 'interval' must be a positive, finite number/,
      );
    }
    invalid({ interval: 10 }, ErrorCodes.INVALID_OPTION, /'run' must be a function/);
    invalid(
      { interval: 10, run, maxConsecutiveFailures: -1 },
      ErrorCodes.INVALID_OPTION,
      /maxConsecutiveFailures/,
    );
    invalid(
      { interval: 10, run, maxConsecutiveFailures: 1.5 },
      ErrorCodes.INVALID_OPTION,
      /maxConsecutiveFailures/,
    );
    invalid(
      { interval: 10, run, runOnStart: 'no' },
      ErrorCodes.INVALID_OPTION,
      /'runOnStart' must be true or false/,
    );
    assert.throws(() => addPeriodicService(services, '', { interval: 10, run }), /non-empty string/);

    addPeriodicService(services, 'job', { interval: 10, run });
    assert.throws(() => addPeriodicService(services, 'job', { interval: 20, run }), /already registered/);
  });
});
