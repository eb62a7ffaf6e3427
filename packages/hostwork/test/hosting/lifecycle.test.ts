import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as nextMacrotask, setTimeout as sleep } from 'node:timers/promises';
import { createToken } from '../../src/di/index.ts';
import { ErrorCodes } from '../../src/errors.ts';
import {
  ApplicationLifetime,
  BackgroundService,
  type HostedService,
  type HostedServiceWithHooks,
} from '../../src/hosting/index.ts';
import { deferred, expectRejection, expectThrow, keepingExitCode, testHost } from './helpers.ts';

const T = { timeout: 20_000 };

/** A hosted service recording every call; start/stop are async and take `delayMs`, to expose any overlap. */
class Recorder implements HostedServiceWithHooks {
  readonly name: string;
  readonly events: string[];
  readonly delayMs: number;

  constructor(name: string, events: string[], delayMs = 0) {
    this.name = name;
    this.events = events;
    this.delayMs = delayMs;
  }

  starting(): void {
    this.events.push(`starting ${this.name}`);
  }
  async start(): Promise<void> {
    this.events.push(`start ${this.name}`);
    await sleep(this.delayMs);
    this.events.push(`start ${this.name} done`);
  }
  async started(): Promise<void> {
    await nextMacrotask();
    this.events.push(`started ${this.name}`);
  }
  stopping(): void {
    this.events.push(`stopping ${this.name}`);
  }
  async stop(): Promise<void> {
    this.events.push(`stop ${this.name}`);
    await sleep(this.delayMs);
    this.events.push(`stop ${this.name} done`);
  }
  async stopped(): Promise<void> {
    await nextMacrotask();
    this.events.push(`stopped ${this.name}`);
  }
}

function hosted(name: string) {
  return createToken<HostedService>(name);
}

describe('Host lifecycle', () => {
  it(
    'starts in registration order, stops in reverse, and calls every hook in the documented order',
    T,
    async () => {
      const events: string[] = [];
      const { builder, logs } = testHost();
      // A is the slowest: if starts overlapped, B or C would begin before A is done.
      builder.services
        .addHostedService(hosted('A'), { value: new Recorder('A', events, 30) })
        .addHostedService(hosted('B'), { value: new Recorder('B', events, 10) })
        .addHostedService(hosted('C'), { value: new Recorder('C', events, 0) });
      const host = builder.build();
      host.lifetime.onStarted(() => events.push('lifetime started'));
      host.lifetime.onStopping(() => events.push('lifetime stopping'));
      host.lifetime.stopping.addEventListener('abort', () => events.push('lifetime stopping signal'));
      host.lifetime.onStopped(() => events.push('lifetime stopped'));

      await host.start();
      assert.deepEqual(events, [
        'starting A',
        'starting B',
        'starting C',
        'start A',
        'start A done',
        'start B',
        'start B done',
        'start C',
        'start C done',
        'started A',
        'started B',
        'started C',
        'lifetime started',
      ]);
      assert.equal(host.lifetime.stopping.aborted, false);

      events.length = 0;
      await host.stop();
      assert.deepEqual(events, [
        'stopping C',
        'stopping B',
        'stopping A',
        'lifetime stopping',
        'lifetime stopping signal',
        'stop C',
        'stop C done',
        'stop B',
        'stop B done',
        'stop A',
        'stop A done',
        'stopped C',
        'stopped B',
        'stopped A',
        'lifetime stopped',
      ]);
      assert.equal(host.exitCode, 0);
      const lifecycle = logs.messages().filter((m) => /^(Host|Service)/.test(m));
      assert.deepEqual(
        lifecycle.map((m) => m.replace(/ in \d+ ms.*$/, '')),
        [
          'Host starting',
          "Service 'A' started",
          "Service 'B' started",
          "Service 'C' started",
          'Host started',
          'Host stopping',
          "Service 'C' stopped",
          "Service 'B' stopped",
          "Service 'A' stopped",
          'Host stopped',
        ],
      );
      assert.equal(logs.find('Host stopping')!.reason, 'host.stop()');
    },
  );

  it(
    'onStarted registered after the start is called at once; onStopped likewise after the stop',
    T,
    async () => {
      const { builder } = testHost();
      const host = builder.build();
      await host.start();
      let started = 0;
      host.lifetime.onStarted(() => started++);
      assert.equal(started, 1);
      await host.stop();
      let stopped = 0;
      host.lifetime.onStopped(() => stopped++);
      assert.equal(stopped, 1);
    },
  );

  it('servicesStartConcurrently and servicesStopConcurrently overlap the calls', T, async () => {
    const events: string[] = [];
    const bStartBegan = deferred();
    const bStopBegan = deferred();
    // A's start (and stop) can only finish early once B's has begun; sequentially, A would wait 5 s.
    const waitFor = async (gate: Promise<void>, what: string) => {
      const result = await Promise.race([gate.then(() => 'gate'), sleep(5000, 'fallback', { ref: false })]);
      events.push(`${what} ended by ${result}`);
    };
    const a: HostedService = {
      start: () => waitFor(bStartBegan.promise, 'A start'),
      stop: () => waitFor(bStopBegan.promise, 'A stop'),
    };
    const b: HostedService = {
      start: () => {
        events.push('B start');
        bStartBegan.resolve();
      },
      stop: () => {
        events.push('B stop');
        bStopBegan.resolve();
      },
    };
    const { builder } = testHost({
      host: { servicesStartConcurrently: true, servicesStopConcurrently: true },
    });
    builder.services.addHostedService(hosted('A'), { value: a }).addHostedService(hosted('B'), { value: b });
    const host = builder.build();

    const began = performance.now();
    await host.start();
    assert.deepEqual(events, ['B start', 'A start ended by gate']);
    await host.stop();
    assert.deepEqual(events, ['B start', 'A start ended by gate', 'B stop', 'A stop ended by gate']);
    assert.ok(performance.now() - began < 4000);
    assert.equal(host.exitCode, 0);
  });

  it(
    'without the concurrency options, a start does not begin before the previous one has finished',
    T,
    async () => {
      const events: string[] = [];
      const bStartBegan = deferred();
      const a: HostedService = {
        start: async () => {
          const result = await Promise.race([
            bStartBegan.promise.then(() => 'gate'),
            sleep(200, 'fallback', { ref: false }),
          ]);
          events.push(`A start ended by ${result}`);
        },
        stop: () => {},
      };
      const b: HostedService = {
        start: () => {
          events.push('B start');
          bStartBegan.resolve();
        },
        stop: () => {},
      };
      const { builder } = testHost();
      builder.services
        .addHostedService(hosted('A'), { value: a })
        .addHostedService(hosted('B'), { value: b });
      const host = builder.build();
      await host.start();
      await host.stop();
      assert.deepEqual(events, ['A start ended by fallback', 'B start']);
    },
  );

  it('ApplicationLifetime.stopApplication() from a service ends run() with exit code 0', T, async () => {
    class Finisher extends BackgroundService {
      static inject = [ApplicationLifetime] as const;
      readonly #lifetime: ApplicationLifetime;
      constructor(lifetime: ApplicationLifetime) {
        super();
        this.#lifetime = lifetime;
      }
      protected async execute(signal: AbortSignal): Promise<void> {
        await sleep(20, undefined, { signal });
        this.#lifetime.stopApplication();
      }
    }
    const { builder, logs } = testHost();
    builder.services.addHostedService(Finisher);
    const host = builder.build();

    const code = await keepingExitCode(() => host.run({ exitProcess: false, handleSignals: false }));
    assert.equal(code, 0);
    assert.equal(host.exitCode, 0);
    assert.equal(host.lifetime.stopReason, 'stopApplication');
    assert.equal(logs.find('Host stopping')!.reason, 'stopApplication');
    assert.ok(logs.find('Host stopped'));
  });

  it(
    'disposes the singletons it created at stop, in reverse creation order, after every stop hook',
    T,
    async () => {
      const events: string[] = [];
      const disposable = (name: string, base: object = {}) =>
        Object.assign(base, {
          async [Symbol.asyncDispose]() {
            await nextMacrotask();
            events.push(`dispose ${name}`);
          },
        });
      class Database {
        constructor() {
          disposable('Database', this);
        }
      }
      class ServiceA implements HostedService {
        static inject = [Database] as const;
        constructor(_db: Database) {
          disposable('A', this);
        }
        start(): void {}
        stop(): void {
          events.push('stop A');
        }
      }
      class ServiceB implements HostedService {
        constructor() {
          disposable('B', this);
        }
        start(): void {}
        stop(): void {
          events.push('stop B');
        }
      }
      const { builder } = testHost();
      const external = createToken<object>('External');
      builder.services
        .addSingleton(Database)
        // A value is owned by whoever passed it: never disposed by the host.
        .addSingleton(external, { value: disposable('External') })
        .addHostedService(ServiceA)
        .addHostedService(ServiceB);
      const host = builder.build();
      host.lifetime.onStopped(() => events.push('lifetime stopped'));
      await host.start();
      host.services.get(external);
      await host.stop();

      // Database was created first (as A's dependency), so it is disposed last.
      assert.deepEqual(events, [
        'stop B',
        'stop A',
        'lifetime stopped',
        'dispose B',
        'dispose A',
        'dispose Database',
      ]);
      expectThrow(() => host.services.get(Database), ErrorCodes.DI_DISPOSED);
    },
  );

  it('refuses a second start; stop is idempotent and every call waits for the same stop', T, async () => {
    const events: string[] = [];
    const { builder } = testHost();
    builder.services.addHostedService(hosted('A'), { value: new Recorder('A', events, 20) });
    const host = builder.build();
    await host.start();
    await expectRejection(host.start(), ErrorCodes.HOST_STATE, 'started');
    const first = host.stop();
    const second = host.stop();
    await Promise.all([first, second]);
    await host.stop();
    assert.equal(events.filter((e) => e === 'stop A').length, 1);
    assert.ok(events.includes('stop A done'));
    await expectRejection(host.start(), ErrorCodes.HOST_STATE, 'stopped');
  });

  it('HostBuilder.build() can only be called once', T, () => {
    const { builder } = testHost();
    builder.build();
    expectThrow(() => builder.build(), ErrorCodes.HOST_STATE, 'once');
  });
});
