import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createToken, ScopeFactory, ServiceCollection, ServiceProvider } from '../../src/di/index.ts';
import { ErrorCodes } from '../../src/errors.ts';
import { asyncDisposable, expectError, Log, syncDisposable } from './helpers.ts';

type Named = { name: string };
const A = createToken<Named>('A');
const B = createToken<Named>('B');
const C = createToken<Named>('C');
const D = createToken<Named>('D');

describe('scope disposal', () => {
  it('await using disposes what the scope created, in reverse creation order, async and sync alike', async () => {
    const log = new Log();
    const root = new ServiceCollection()
      .addScoped(A, { factory: () => asyncDisposable(log, 'A') })
      .addScoped(B, {
        factory: (s) => {
          s.get(A);
          return syncDisposable(log, 'B');
        },
        deps: [A],
      })
      .addTransient(C, { factory: () => asyncDisposable(log, 'C') })
      .addScoped(D, { factory: () => syncDisposable(log, 'D') })
      .build().root;
    const factory = root.services.get(ScopeFactory);
    {
      await using scope = factory.createScope();
      scope.services.get(D); // D first
      scope.services.get(B); // then A (built for B), then B
      scope.services.get(C); // then C
      assert.deepEqual(log.entries, [], 'nothing disposed while the scope is open');
    }
    assert.deepEqual(log.entries, ['C', 'B', 'A', 'D']);
  });

  it('a class dependency is created, and so disposed, before/after its consumer', async () => {
    const log = new Log();
    class Conn {
      [Symbol.dispose](): void {
        log.add('Conn');
      }
    }
    class Repo {
      static inject = [Conn] as const;
      // biome-ignore lint/complexity/noUselessConstructor: the parameters are what the container checks (types and count).
      constructor(_conn: Conn) {}
      async [Symbol.asyncDispose](): Promise<void> {
        log.add('Repo');
      }
    }
    const root = new ServiceCollection().addScoped(Conn).addScoped(Repo).build().root;
    const scope = root.factory.createScope();
    scope.services.get(Repo);
    await scope.dispose();
    assert.deepEqual(log.entries, ['Repo', 'Conn']);
  });

  it('awaits each async disposal before starting the next', async () => {
    const log = new Log();
    const slow = {
      async [Symbol.asyncDispose]() {
        log.add('slow:start');
        await new Promise((resolve) => setTimeout(resolve, 20));
        log.add('slow:end');
      },
    };
    const root = new ServiceCollection()
      .addScoped(A, { factory: () => syncDisposable(log, 'first') })
      .addScoped(B, { factory: () => ({ name: 'slow', ...slow }) })
      .build().root;
    const scope = root.factory.createScope();
    scope.services.get(A);
    scope.services.get(B);
    await scope.dispose();
    assert.deepEqual(log.entries, ['slow:start', 'slow:end', 'first']);
  });

  it('an object with both Symbol.asyncDispose and Symbol.dispose is disposed once, asynchronously', async () => {
    const log = new Log();
    const both = {
      name: 'both',
      async [Symbol.asyncDispose]() {
        log.add('async');
      },
      [Symbol.dispose]() {
        log.add('sync');
      },
    };
    const root = new ServiceCollection().addScoped(A, { factory: () => both }).build().root;
    const scope = root.factory.createScope();
    scope.services.get(A);
    await scope.dispose();
    assert.deepEqual(log.entries, ['async']);
  });

  it('transients resolved in a scope are disposed with the scope, not before', async () => {
    const log = new Log();
    let n = 0;
    const root = new ServiceCollection()
      .addTransient(A, { factory: () => syncDisposable(log, `T${++n}`) })
      .build().root;
    const scope = root.factory.createScope();
    scope.services.get(A);
    scope.services.get(A);
    await root.factory.createScope().dispose();
    assert.deepEqual(log.entries, []);
    await scope.dispose();
    assert.deepEqual(log.entries, ['T2', 'T1']);
  });

  it('does not dispose singletons, even the ones it created first', async () => {
    const log = new Log();
    const root = new ServiceCollection()
      .addSingleton(A, { factory: () => syncDisposable(log, 'S') })
      .addScoped(B, { factory: () => syncDisposable(log, 'Sc'), deps: [A] })
      .build().root;
    const scope = root.factory.createScope();
    scope.services.get(A);
    scope.services.get(B);
    await scope.dispose();
    assert.deepEqual(log.entries, ['Sc']);
    await root.dispose();
    assert.deepEqual(log.entries, ['Sc', 'S']);
  });

  it('a transient a singleton depends on belongs to the root, even when the singleton is first made in a scope', async () => {
    const log = new Log();
    const root = new ServiceCollection()
      .addTransient(A, { factory: () => syncDisposable(log, 'T') })
      .addSingleton(B, {
        factory: (s) => {
          s.get(A);
          return syncDisposable(log, 'S');
        },
        deps: [A],
      })
      .build().root;
    const scope = root.factory.createScope();
    scope.services.get(B);
    await scope.dispose();
    assert.deepEqual(log.entries, [], 'the scope owns neither');
    await root.dispose();
    assert.deepEqual(log.entries, ['S', 'T']);
  });

  it('never disposes { value } instances', async () => {
    const log = new Log();
    const value = syncDisposable(log, 'value');
    const container = new ServiceCollection()
      .addSingleton(A, { value })
      .addScoped(B, { factory: (s) => s.get(A), deps: [A] })
      .build();
    const scope = container.root.factory.createScope();
    assert.equal(scope.services.get(B), value);
    await scope.dispose();
    await container[Symbol.asyncDispose]();
    assert.deepEqual(log.entries, []);
  });

  it('disposes an instance once when a factory forwards another registration', async () => {
    const log = new Log();
    class Impl {
      [Symbol.dispose](): void {
        log.add('Impl');
      }
    }
    const Iface = createToken<Impl>('Iface');
    const Scoped = createToken<Impl>('Scoped');
    const container = new ServiceCollection()
      .addSingleton(Impl)
      .addSingleton(Iface, { factory: (s) => s.get(Impl), deps: [Impl] })
      .addScoped(Scoped, { factory: (s) => s.get(Iface), deps: [Iface] })
      .build();
    const scope = container.root.factory.createScope();
    assert.equal(scope.services.get(Scoped), container.root.services.get(Impl));
    await scope.dispose();
    assert.deepEqual(log.entries, [], 'the scope did not create the singleton');
    await container[Symbol.asyncDispose]();
    assert.deepEqual(log.entries, ['Impl']);
  });

  it('disposes the dependencies already created when a constructor throws', async () => {
    const log = new Log();
    const root = new ServiceCollection()
      .addScoped(A, { factory: () => syncDisposable(log, 'A') })
      .addScoped(B, {
        factory: (s) => {
          s.get(A);
          throw new Error('B failed');
        },
        deps: [A],
      })
      .build().root;
    const scope = root.factory.createScope();
    assert.throws(() => scope.services.get(B), { message: 'B failed' });
    await scope.dispose();
    assert.deepEqual(log.entries, ['A']);
  });

  it('ignores instances that are not disposable (primitives, null, plain objects)', async () => {
    const N = createToken<number>('N');
    const Nul = createToken<null>('Nul');
    const root = new ServiceCollection()
      .addScoped(N, { factory: () => 1 })
      .addScoped(Nul, { factory: () => null })
      .addScoped(A, { factory: () => ({ name: 'plain' }) })
      .build().root;
    const scope = root.factory.createScope();
    scope.services.get(N);
    scope.services.get(Nul);
    scope.services.get(A);
    await scope.dispose();
  });
});

describe('root disposal', () => {
  it('disposes singletons in reverse creation order (resolution order, not registration order)', async () => {
    const log = new Log();
    const container = new ServiceCollection()
      .addSingleton(A, { factory: () => asyncDisposable(log, 'A') })
      .addSingleton(B, { factory: () => syncDisposable(log, 'B') })
      .addSingleton(C, {
        factory: (s) => {
          s.get(A);
          return syncDisposable(log, 'C');
        },
        deps: [A],
      })
      .addSingleton(D, { factory: () => syncDisposable(log, 'D') })
      .build();
    container.root.services.get(B);
    container.root.services.get(C); // creates A then C
    // D never resolved: never created, never disposed
    await container[Symbol.asyncDispose]();
    assert.deepEqual(log.entries, ['C', 'A', 'B']);
  });

  it('disposes transients resolved from the root with the root', async () => {
    const log = new Log();
    const container = new ServiceCollection()
      .addTransient(A, { factory: () => syncDisposable(log, 'T') })
      .build();
    container.root.services.get(A);
    await container[Symbol.asyncDispose]();
    assert.deepEqual(log.entries, ['T']);
  });

  it('works with await using on the container', async () => {
    const log = new Log();
    {
      await using container = new ServiceCollection()
        .addSingleton(A, { factory: () => syncDisposable(log, 'A') })
        .build();
      container.root.services.get(A);
    }
    assert.deepEqual(log.entries, ['A']);
  });

  it('makes the root provider refuse service with HW_DI_DISPOSED', async () => {
    const container = new ServiceCollection().addSingleton(A, { value: { name: 'a' } }).build();
    await container[Symbol.asyncDispose]();
    expectError(() => container.root.services.get(A), ErrorCodes.DI_DISPOSED, "'A'", 'root provider');
    expectError(() => container.root.services.tryGet(B), ErrorCodes.DI_DISPOSED);
  });

  it('refuses new scopes, and resolutions from scopes still open, with HW_DI_DISPOSED', async () => {
    const log = new Log();
    const container = new ServiceCollection()
      .addSingleton(A, { factory: () => syncDisposable(log, 'S') })
      .addScoped(B, { factory: () => syncDisposable(log, 'Sc') })
      .build();
    const open = container.root.factory.createScope();
    open.services.get(B);
    container.root.services.get(A);
    await container[Symbol.asyncDispose]();
    assert.deepEqual(log.entries, ['S']);
    expectError(() => container.root.factory.createScope(), ErrorCodes.DI_DISPOSED, 'root provider');
    expectError(() => open.services.get(A), ErrorCodes.DI_DISPOSED, "'A'");
    // the open scope can still be disposed
    await open.dispose();
    assert.deepEqual(log.entries, ['S', 'Sc']);
  });
});

describe('disposal errors', () => {
  const failing = (log: Log, name: string, error: Error) => ({
    name,
    [Symbol.dispose]() {
      log.add(name);
      throw error;
    },
  });

  it('one failure does not stop the others, and is rethrown as is', async () => {
    const log = new Log();
    const boom = new Error('B would not close');
    const root = new ServiceCollection()
      .addScoped(A, { factory: () => syncDisposable(log, 'A') })
      .addScoped(B, { factory: () => failing(log, 'B', boom) })
      .addScoped(C, { factory: () => asyncDisposable(log, 'C') })
      .build().root;
    const scope = root.factory.createScope();
    scope.services.get(A);
    scope.services.get(B);
    scope.services.get(C);
    await assert.rejects(scope.dispose(), (error) => error === boom);
    assert.deepEqual(log.entries, ['C', 'B', 'A']);
  });

  it('several failures are rethrown as one AggregateError, in disposal order', async () => {
    const log = new Log();
    const e1 = new Error('A failed');
    const e2 = new Error('C failed');
    const container = new ServiceCollection()
      .addSingleton(A, { factory: () => failing(log, 'A', e1) })
      .addSingleton(B, { factory: () => syncDisposable(log, 'B') })
      .addSingleton(C, {
        factory: () => ({
          name: 'C',
          async [Symbol.asyncDispose]() {
            log.add('C');
            throw e2;
          },
        }),
      })
      .build();
    container.root.services.get(A);
    container.root.services.get(B);
    container.root.services.get(C);
    await assert.rejects(container[Symbol.asyncDispose](), (error) => {
      assert.ok(error instanceof AggregateError);
      assert.deepEqual(error.errors, [e2, e1]);
      assert.match(error.message, /2 services failed to dispose/);
      return true;
    });
    assert.deepEqual(log.entries, ['C', 'B', 'A']);
  });

  it('an await using block rethrows the disposal error', async () => {
    const boom = new Error('close failed');
    const root = new ServiceCollection()
      .addScoped(A, { factory: () => failing(new Log(), 'A', boom) })
      .build().root;
    const run = async () => {
      await using scope = root.factory.createScope();
      scope.services.get(A);
    };
    await assert.rejects(run(), (error) => error === boom);
  });
});

describe('a disposed scope', () => {
  it('refuses get and tryGet with HW_DI_DISPOSED naming the key', async () => {
    const root = new ServiceCollection().addScoped(A, { factory: () => ({ name: 'a' }) }).build().root;
    const scope = root.factory.createScope();
    scope.services.get(A);
    await scope.dispose();
    expectError(() => scope.services.get(A), ErrorCodes.DI_DISPOSED, "'A'", 'scope');
    expectError(() => scope.services.tryGet(B), ErrorCodes.DI_DISPOSED, "'B'");
    expectError(() => scope.services.get(ScopeFactory), ErrorCodes.DI_DISPOSED);
  });

  it('refuses through a provider a scoped service kept', async () => {
    class Handler {
      static inject = [ServiceProvider] as const;
      readonly services: ServiceProvider;
      constructor(services: ServiceProvider) {
        this.services = services;
      }
    }
    const root = new ServiceCollection()
      .addScoped(Handler)
      .addScoped(A, { factory: () => ({ name: 'a' }) })
      .build().root;
    const scope = root.factory.createScope();
    const handler = scope.services.get(Handler);
    await scope.dispose();
    expectError(() => handler.services.get(A), ErrorCodes.DI_DISPOSED);
  });

  it('does not affect the root or other scopes', async () => {
    const root = new ServiceCollection()
      .addSingleton(A, { factory: () => ({ name: 's' }) })
      .addScoped(B, { factory: () => ({ name: 'b' }) })
      .build().root;
    const s1 = root.factory.createScope();
    const s2 = root.factory.createScope();
    await s1.dispose();
    assert.equal(s2.services.get(B).name, 'b');
    assert.equal(root.services.get(A).name, 's');
  });

  it('can be disposed twice; each instance is disposed once', async () => {
    const log = new Log();
    const root = new ServiceCollection()
      .addScoped(A, { factory: () => syncDisposable(log, 'A') })
      .build().root;
    const scope = root.factory.createScope();
    scope.services.get(A);
    await scope.dispose();
    await scope[Symbol.asyncDispose]();
    assert.deepEqual(log.entries, ['A']);
  });

  it('a second dispose() while the first is running waits for it, and does not rethrow its error', async () => {
    const log = new Log();
    const root = new ServiceCollection()
      .addScoped(A, { factory: () => asyncDisposable(log, 'A') })
      .addScoped(B, {
        factory: () => ({
          name: 'B',
          [Symbol.dispose]() {
            throw new Error('B failed');
          },
        }),
      })
      .build().root;
    const scope = root.factory.createScope();
    scope.services.get(A);
    scope.services.get(B);
    const first = scope.dispose();
    const second = scope.dispose();
    await second;
    assert.deepEqual(log.entries, ['A'], 'the second call resolved only after the disposal finished');
    await assert.rejects(first, { message: 'B failed' });
  });
});
