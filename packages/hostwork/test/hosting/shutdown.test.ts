import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createToken } from '../../src/di/index.ts';
import { ErrorCodes } from '../../src/errors.ts';
import {
  BackgroundService,
  ExitCodes,
  type HostedService,
  type HostedServiceWithHooks,
} from '../../src/hosting/index.ts';
import { expectRejection, Level, testHost } from './helpers.ts';

const T = { timeout: 20_000 };

function hosted(name: string) {
  return createToken<HostedService>(name);
}

/** Records its start and stop; `start` may fail or hang, `stop` may hang (ignoring its signal). */
function service(
  name: string,
  events: string[],
  behaviour: { startFails?: string; startHangs?: boolean; stopHangs?: boolean } = {},
): HostedServiceWithHooks {
  return {
    start(signal: AbortSignal) {
      events.push(`start ${name}`);
      if (behaviour.startFails) throw new Error(behaviour.startFails);
      if (behaviour.startHangs) {
        signal.addEventListener('abort', () => events.push(`start signal of ${name} aborted`), {
          once: true,
        });
        return new Promise<void>(() => {});
      }
    },
    stop(signal: AbortSignal) {
      events.push(`stop ${name}`);
      if (behaviour.stopHangs) {
        signal.addEventListener('abort', () => events.push(`stop signal of ${name} aborted`), { once: true });
        return new Promise<void>(() => {}); // ignores its signal
      }
    },
    stopped() {
      events.push(`stopped ${name}`);
    },
  };
}

describe('shutdown budget (shutdownTimeout)', () => {
  it(
    'names a service that does not stop in time, still stops the rest, and exits with code 3',
    T,
    async () => {
      const events: string[] = [];
      const { builder, logs } = testHost({ host: { shutdownTimeout: 500 } });
      builder.services
        .addHostedService(hosted('A'), { value: service('A', events) })
        .addHostedService(hosted('Stuck'), { value: service('Stuck', events, { stopHangs: true }) })
        .addHostedService(hosted('C'), { value: service('C', events) });
      const host = builder.build();
      host.lifetime.onStopped(() => events.push('lifetime stopped'));
      await host.start();

      const began = performance.now();
      await host.stop();
      const elapsed = performance.now() - began;

      assert.ok(
        elapsed >= 450,
        `stop returned after ${Math.round(elapsed)} ms: it did not wait for the budget`,
      );
      assert.ok(elapsed < 500 + 2000, `stop took ${Math.round(elapsed)} ms with shutdownTimeout 500`);
      assert.equal(host.exitCode, ExitCodes.shutdownTimeout);
      assert.deepEqual(host.servicesLeftBehind, ['Stuck']);
      const line = logs.find('did not stop within the shutdown timeout');
      assert.ok(line);
      assert.equal(line.level, Level.error);
      assert.equal(line.service, 'Stuck');
      assert.match(line.msg, /^Service 'Stuck' did not stop within the shutdown timeout \(500 ms\)/);
      // The stop order is C, Stuck, A: A comes after the stuck one and is still asked to stop.
      assert.deepEqual(events, [
        'start A',
        'start Stuck',
        'start C',
        'stop C',
        'stop Stuck',
        'stop signal of Stuck aborted',
        'stop A',
        'stopped C',
        'stopped Stuck',
        'stopped A',
        'lifetime stopped',
      ]);
      assert.ok(logs.find("Service 'A' stopped"));
      assert.equal(logs.find('Host stopped')!.exitCode, ExitCodes.shutdownTimeout);
    },
  );

  it(
    'names a BackgroundService whose execute ignores its signal, even when the budget is already spent',
    T,
    async () => {
      let release = false;
      class StuckWorker extends BackgroundService {
        protected async execute(_signal: AbortSignal): Promise<void> {
          while (!release) await sleep(20); // ignores the signal (released at the end of the test)
        }
      }
      const events: string[] = [];
      const { builder, logs } = testHost({ host: { shutdownTimeout: 400 } });
      builder.services
        .addHostedService(hosted('First'), { value: service('First', events) })
        .addHostedService(StuckWorker)
        .addHostedService(hosted('Hung'), { value: service('Hung', events, { stopHangs: true }) });
      const host = builder.build();
      try {
        await host.start();
        await sleep(50);
        const began = performance.now();
        await host.stop();
        const elapsed = performance.now() - began;

        assert.ok(elapsed < 400 + 2000, `stop took ${Math.round(elapsed)} ms with shutdownTimeout 400`);
        // Hung uses up the budget; StuckWorker is then asked to stop with no budget left, and must not be
        // reported as stopped while its execute is still running.
        assert.deepEqual(host.servicesLeftBehind, ['Hung', 'StuckWorker']);
        assert.equal(logs.find("Service 'StuckWorker' stopped"), undefined, 'StuckWorker did not stop');
        assert.ok(logs.find("Service 'First' stopped"));
        assert.equal(host.exitCode, ExitCodes.shutdownTimeout);
      } finally {
        release = true;
      }
    },
  );

  it('a BackgroundService ignoring its signal, stopped first, is named after the budget', T, async () => {
    let release = false;
    class StuckWorker extends BackgroundService {
      protected async execute(): Promise<void> {
        while (!release) await sleep(20);
      }
    }
    const { builder, logs } = testHost({ host: { shutdownTimeout: 300 } });
    builder.services.addHostedService(StuckWorker);
    const host = builder.build();
    try {
      await host.start();
      await sleep(50);
      const began = performance.now();
      await host.stop();
      assert.ok(performance.now() - began >= 250);
      assert.deepEqual(host.servicesLeftBehind, ['StuckWorker']);
      assert.equal(logs.find('did not stop within the shutdown timeout')!.service, 'StuckWorker');
      assert.equal(host.exitCode, ExitCodes.shutdownTimeout);
    } finally {
      release = true;
    }
  });

  it('a crash outranks a timeout: exit code 1', T, async () => {
    const events: string[] = [];
    class Crasher extends BackgroundService {
      protected async execute(): Promise<void> {
        throw new Error('boom');
      }
    }
    const { builder } = testHost({ host: { shutdownTimeout: 200 } });
    builder.services
      .addHostedService(Crasher)
      .addHostedService(hosted('Stuck'), { value: service('Stuck', events, { stopHangs: true }) });
    const host = builder.build();
    await host.start();
    await host.lifetime.stopRequested;
    await host.stop();
    assert.deepEqual(host.servicesLeftBehind, ['Stuck']);
    assert.equal(host.exitCode, ExitCodes.failure);
  });
});

describe('start failures', () => {
  it(
    'a start that throws: HW_HOST_START_FAILED naming the service; earlier ones stopped in reverse, later ones never started',
    T,
    async () => {
      const events: string[] = [];
      const { builder, logs } = testHost();
      builder.services
        .addHostedService(hosted('A'), { value: service('A', events) })
        .addHostedService(hosted('B'), { value: service('B', events) })
        .addHostedService(hosted('Broken'), {
          value: service('Broken', events, { startFails: 'port 8080 in use' }),
        })
        .addHostedService(hosted('D'), { value: service('D', events) });
      const host = builder.build();
      let startedNotified = false;
      host.lifetime.onStarted(() => {
        startedNotified = true;
      });

      const error = await expectRejection(
        host.start(),
        ErrorCodes.HOST_START_FAILED,
        'Broken',
        'port 8080 in use',
      );
      assert.ok(error.cause instanceof Error);
      assert.deepEqual(events, [
        'start A',
        'start B',
        'start Broken',
        'stop B',
        'stop A',
        'stopped B',
        'stopped A',
      ]);
      assert.equal(startedNotified, false);
      assert.equal(host.exitCode, ExitCodes.failure);
      const line = logs.find('Host failed to start');
      assert.ok(line);
      assert.equal(line.level, Level.error);
      // pino's err serializer appends the cause's message and stack ("caused by: ...").
      assert.ok(line.err!.message.startsWith(error.message), line.err!.message);
      assert.match(line.err!.stack, /caused by: Error: port 8080 in use\n\s+at Object\.start/);
      assert.ok(logs.find('Host stopped'));
    },
  );

  it(
    'with servicesStartConcurrently, a failed start still stops the services that did start',
    T,
    async () => {
      const events: string[] = [];
      const { builder } = testHost({ host: { servicesStartConcurrently: true } });
      builder.services
        .addHostedService(hosted('A'), { value: service('A', events) })
        .addHostedService(hosted('Broken'), { value: service('Broken', events, { startFails: 'no disk' }) });
      const host = builder.build();
      await expectRejection(host.start(), ErrorCodes.HOST_START_FAILED, 'Broken', 'no disk');
      assert.ok(events.includes('stop A'));
      assert.ok(!events.includes('stop Broken'));
      assert.equal(host.exitCode, ExitCodes.failure);
    },
  );

  it(
    'a start that hangs past startupTimeout: HW_HOST_STARTUP_TIMEOUT, its signal aborted, the rest stopped',
    T,
    async () => {
      const events: string[] = [];
      const { builder } = testHost({ host: { startupTimeout: 300 } });
      builder.services
        .addHostedService(hosted('A'), { value: service('A', events) })
        .addHostedService(hosted('Hang'), { value: service('Hang', events, { startHangs: true }) })
        .addHostedService(hosted('C'), { value: service('C', events) });
      const host = builder.build();

      const began = performance.now();
      await expectRejection(host.start(), ErrorCodes.HOST_STARTUP_TIMEOUT, 'startupTimeout', '300 ms');
      const elapsed = performance.now() - began;
      assert.ok(elapsed >= 250 && elapsed < 300 + 3000, `failed after ${Math.round(elapsed)} ms`);
      assert.deepEqual(events, [
        'start A',
        'start Hang',
        'start signal of Hang aborted',
        'stop A',
        'stopped A',
      ]);
      assert.equal(host.exitCode, ExitCodes.failure);
    },
  );

  it(
    'a start that cannot be resolved (constructor throws) fails the start before any service starts',
    T,
    async () => {
      const events: string[] = [];
      class Exploding implements HostedService {
        constructor() {
          throw new Error('missing API key');
        }
        start(): void {}
        stop(): void {}
      }
      const { builder } = testHost();
      builder.services
        .addHostedService(hosted('A'), { value: service('A', events) })
        .addHostedService(Exploding);
      const host = builder.build();
      await expectRejection(host.start(), ErrorCodes.HOST_START_FAILED, "'Exploding'", 'missing API key');
      assert.deepEqual(events, []);
      assert.equal(host.exitCode, ExitCodes.failure);
    },
  );
});
