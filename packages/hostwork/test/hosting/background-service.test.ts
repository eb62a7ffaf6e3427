import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BackgroundService, ExitCodes, type HostedService } from '../../src/hosting/index.ts';
import { keepingExitCode, Level, settlesWithin, testHost, waitUntil } from './helpers.ts';

const T = { timeout: 20_000 };

class Idle implements HostedService {
  start(): void {}
  stop(): void {}
}

function throwDiskFull(): never {
  throw new Error('disk full');
}

describe('BackgroundService', () => {
  it('runs execute after start() returns, without delaying the start of the next service', T, async () => {
    const events: string[] = [];
    class Busy extends BackgroundService {
      override start(signal: AbortSignal): void {
        super.start(signal);
        events.push('Busy.start returned');
      }
      protected async execute(signal: AbortSignal): Promise<void> {
        events.push('execute began');
        // A long synchronous beginning: it must not run inside start().
        const until = performance.now() + 300;
        while (performance.now() < until) {}
        events.push('execute loop done');
        await sleep(60_000, undefined, { signal }).catch(() => {});
      }
    }
    class Next implements HostedService {
      start(): void {
        events.push('Next.start');
      }
      stop(): void {}
    }
    const { builder } = testHost({
      onLine: (line) => events.push(`log: ${line.msg.replace(/ in \d+ ms.*$/, '')}`),
    });
    builder.services.addHostedService(Busy).addHostedService(Next);
    const host = builder.build();

    await host.start();
    assert.ok(!events.includes('execute began'), `execute ran during start: ${events.join(' | ')}`);
    await waitUntil(() => events.includes('execute loop done'), 'the end of execute’s loop');
    await host.stop();

    const at = (e: string) => {
      const i = events.indexOf(e);
      assert.ok(i >= 0, `missing "${e}" in ${events.join(' | ')}`);
      return i;
    };
    assert.ok(at('Busy.start returned') < at('Next.start'));
    assert.ok(at("log: Service 'Busy' started") < at("log: Service 'Next' started"));
    assert.ok(at("log: Service 'Next' started") < at('execute began'));
    assert.ok(at('log: Host started') < at('execute began'));
    assert.equal(host.exitCode, 0);
  });

  it(
    'passes execute a signal that aborts when the host stops, and stop waits for execute to return',
    T,
    async () => {
      const events: string[] = [];
      let received: AbortSignal | undefined;
      class Worker extends BackgroundService {
        protected async execute(signal: AbortSignal): Promise<void> {
          received = signal;
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
          events.push('execute saw abort');
          await sleep(50); // clean-up after the signal: stop must wait for it
          events.push('execute cleaned up');
        }
      }
      const { builder, logs } = testHost({
        onLine: (line) => events.push(`log: ${line.msg.replace(/ in \d+ ms.*$/, '')}`),
      });
      builder.services.addHostedService(Worker);
      const host = builder.build();
      await host.start();
      await waitUntil(() => received !== undefined, 'execute to begin');
      assert.equal(received!.aborted, false);
      assert.equal(
        await settlesWithin(host.lifetime.stopRequested, 50),
        false,
        'nothing asked the host to stop',
      );

      await host.stop();
      assert.equal(received!.aborted, true);
      const i = (e: string) => events.indexOf(e);
      assert.ok(i('log: Host stopping') < i('execute saw abort'));
      assert.ok(i('execute cleaned up') < i("log: Service 'Worker' stopped"), events.join(' | '));
      assert.equal(host.exitCode, 0);
      assert.ok(logs.find("Service 'Worker' finished executing"));
      assert.deepEqual(
        logs.lines.filter((l) => l.level >= Level.warn),
        [],
      );
    },
  );

  it(
    'treats ending execute with its signal (AbortError or the signal’s own reason) as a clean stop',
    T,
    async () => {
      class TimerWorker extends BackgroundService {
        protected async execute(signal: AbortSignal): Promise<void> {
          await sleep(60_000, undefined, { signal }); // rejects with an AbortError on stop
        }
      }
      class ReasonWorker extends BackgroundService {
        protected async execute(signal: AbortSignal): Promise<void> {
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
          signal.throwIfAborted(); // rejects with signal.reason, as the docs of execute invite
        }
      }
      const { builder, logs } = testHost();
      builder.services.addHostedService(TimerWorker).addHostedService(ReasonWorker);
      const host = builder.build();
      await host.start();
      await sleep(50); // let both executes begin
      await host.stop();

      assert.deepEqual(
        logs.lines.filter((l) => l.level >= Level.warn).map((l) => l.msg),
        [],
        'a service honouring its signal is not a failure',
      );
      assert.equal(host.exitCode, ExitCodes.success);
    },
  );

  it('logs a crash of execute with its stack, asks the host to stop, and sets exit code 1', T, async () => {
    class Crasher extends BackgroundService {
      protected async execute(signal: AbortSignal): Promise<void> {
        await sleep(20, undefined, { signal });
        throwDiskFull();
      }
    }
    const { builder, logs } = testHost();
    builder.services.addHostedService(Idle).addHostedService(Crasher);
    const host = builder.build();
    await host.start();

    const reason = await Promise.race([
      host.lifetime.stopRequested,
      sleep(10_000, 'not requested', { ref: false }),
    ]);
    assert.match(reason, /Crasher/);
    assert.equal(host.exitCode, ExitCodes.failure);
    const line = logs.find("Background service 'Crasher' failed");
    assert.ok(line);
    assert.equal(line.level, Level.error);
    assert.equal(line.service, 'Crasher');
    assert.match(line.msg, /disk full; stopping the host/);
    assert.equal(line.err!.message, 'disk full');
    assert.match(line.err!.stack, /^Error: disk full\n/);
    assert.match(line.err!.stack, /at throwDiskFull/);

    await host.stop();
    assert.equal(host.exitCode, ExitCodes.failure);
    assert.equal(logs.find('Host stopped')!.exitCode, ExitCodes.failure);
  });

  it('stops run() by itself when execute crashes, returning exit code 1', T, async () => {
    class Crasher extends BackgroundService {
      protected async execute(): Promise<void> {
        await sleep(20);
        throw new Error('boom');
      }
    }
    const { builder, logs } = testHost();
    builder.services.addHostedService(Crasher);
    const host = builder.build();
    const code = await keepingExitCode(() => host.run({ exitProcess: false, handleSignals: false }));
    assert.equal(code, ExitCodes.failure);
    assert.ok(logs.find('Host stopped'));
  });

  it(
    "with backgroundServiceExceptionBehavior 'ignore', logs the crash but keeps running with exit code 0",
    T,
    async () => {
      class Crasher extends BackgroundService {
        protected async execute(): Promise<void> {
          await sleep(20);
          throwDiskFull();
        }
      }
      let ticks = 0;
      class Ticker extends BackgroundService {
        protected async execute(signal: AbortSignal): Promise<void> {
          while (!signal.aborted) {
            ticks++;
            await sleep(10, undefined, { signal }).catch(() => {});
          }
        }
      }
      const { builder, logs } = testHost({ host: { backgroundServiceExceptionBehavior: 'ignore' } });
      builder.services.addHostedService(Crasher).addHostedService(Ticker);
      const host = builder.build();
      await host.start();

      const line = await logs.waitFor("Background service 'Crasher' failed");
      assert.equal(line.level, Level.error);
      assert.match(line.err!.stack, /at throwDiskFull/);
      assert.doesNotMatch(line.msg, /stopping the host/);
      const ticksAtCrash = ticks;
      assert.equal(
        await settlesWithin(host.lifetime.stopRequested, 200),
        false,
        'the host must keep running',
      );
      assert.ok(ticks > ticksAtCrash, 'the other service keeps working');
      assert.equal(host.exitCode, ExitCodes.success);

      await host.stop();
      assert.equal(host.exitCode, ExitCodes.success);
      assert.equal(logs.find('Host stopping')!.reason, 'host.stop()');
    },
  );

  it('a crash during the stop (not caused by the signal) still counts as a failure', T, async () => {
    class BadCleanup extends BackgroundService {
      protected async execute(signal: AbortSignal): Promise<void> {
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        throw new Error('could not flush the buffer');
      }
    }
    const { builder, logs } = testHost();
    builder.services.addHostedService(BadCleanup);
    const host = builder.build();
    await host.start();
    await sleep(20);
    await host.stop();
    assert.ok(logs.find("Background service 'BadCleanup' failed: could not flush the buffer"));
    assert.equal(host.exitCode, ExitCodes.failure);
  });
});
