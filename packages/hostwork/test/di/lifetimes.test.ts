import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createToken,
  type Scope,
  ScopeFactory,
  ServiceCollection,
  ServiceProvider,
} from '../../src/di/index.ts';

class Clock {
  now(): number {
    return 42;
  }
}

class Counter {
  static created = 0;
  readonly id = ++Counter.created;
}

interface Settings {
  readonly url: string;
}
const Settings = createToken<Settings>('Settings');

class Repo {
  static inject = [Clock, Settings] as const;
  readonly clock: Clock;
  readonly settings: Settings;
  constructor(clock: Clock, settings: Settings) {
    this.clock = clock;
    this.settings = settings;
  }
}

describe('singleton', () => {
  it('is one instance for the root and every scope', () => {
    const root = new ServiceCollection().addSingleton(Clock).build().root;
    const a = root.services.get(Clock);
    assert.ok(a instanceof Clock);
    assert.equal(root.services.get(Clock), a);
    const s1 = root.factory.createScope();
    const s2 = root.factory.createScope();
    assert.equal(s1.services.get(Clock), a);
    assert.equal(s2.services.get(Clock), a);
  });

  it('is the same instance when first created inside a scope', () => {
    const root = new ServiceCollection().addSingleton(Clock).build().root;
    const fromScope = root.factory.createScope().services.get(Clock);
    assert.equal(root.services.get(Clock), fromScope);
  });

  it('is created lazily, on first resolution, not at build', () => {
    let made = 0;
    const services = new ServiceCollection().addSingleton(Clock, {
      factory: () => {
        made++;
        return new Clock();
      },
    });
    const container = services.build();
    assert.equal(made, 0);
    container.root.services.get(Clock);
    container.root.services.get(Clock);
    assert.equal(made, 1);
  });

  it('is per container: two builds of one collection do not share singletons', () => {
    const services = new ServiceCollection().addSingleton(Clock);
    assert.notEqual(services.build().root.services.get(Clock), services.build().root.services.get(Clock));
  });
});

describe('scoped', () => {
  it('is one instance per scope, and different across scopes', () => {
    const root = new ServiceCollection().addScoped(Counter).build().root;
    const s1 = root.factory.createScope();
    const s2 = root.factory.createScope();
    const a = s1.services.get(Counter);
    assert.equal(s1.services.get(Counter), a);
    const b = s2.services.get(Counter);
    assert.equal(s2.services.get(Counter), b);
    assert.notEqual(a, b);
  });

  it('is shared by everything resolved in the same scope, through transients too', () => {
    class Unit {
      readonly n = Math.random();
    }
    class Step {
      static inject = [Unit] as const;
      readonly unit: Unit;
      constructor(unit: Unit) {
        this.unit = unit;
      }
    }
    class Job {
      static inject = [Unit, Step, Step] as const;
      readonly parts: [Unit, Step, Step];
      constructor(unit: Unit, a: Step, b: Step) {
        this.parts = [unit, a, b];
      }
    }
    const root = new ServiceCollection().addScoped(Unit).addTransient(Step).addScoped(Job).build().root;
    const scope = root.factory.createScope();
    const [unit, a, b] = scope.services.get(Job).parts;
    assert.notEqual(a, b, 'transients are distinct');
    assert.equal(a.unit, unit);
    assert.equal(b.unit, unit);
    assert.equal(scope.services.get(Unit), unit);
  });

  it('can depend on a singleton, and gets the root singleton', () => {
    class Handler {
      static inject = [Clock] as const;
      readonly clock: Clock;
      constructor(clock: Clock) {
        this.clock = clock;
      }
    }
    const root = new ServiceCollection().addSingleton(Clock).addScoped(Handler).build().root;
    const s1 = root.factory.createScope();
    const s2 = root.factory.createScope();
    const h1 = s1.services.get(Handler);
    const h2 = s2.services.get(Handler);
    assert.notEqual(h1, h2);
    assert.equal(h1.clock, h2.clock);
    assert.equal(h1.clock, root.services.get(Clock));
  });

  it('is not cached when its construction fails: the next resolution tries again', () => {
    let attempts = 0;
    const root = new ServiceCollection()
      .addScoped(Counter, {
        factory: () => {
          attempts++;
          if (attempts === 1) throw new Error('first attempt fails');
          return new Counter();
        },
      })
      .build().root;
    const scope = root.factory.createScope();
    assert.throws(() => scope.services.get(Counter), { message: 'first attempt fails' });
    const c = scope.services.get(Counter);
    assert.equal(scope.services.get(Counter), c);
    assert.equal(attempts, 2);
  });
});

describe('transient', () => {
  it('is a new instance on every resolution, from the root and from a scope', () => {
    const root = new ServiceCollection().addTransient(Counter).build().root;
    assert.notEqual(root.services.get(Counter), root.services.get(Counter));
    const scope = root.factory.createScope();
    assert.notEqual(scope.services.get(Counter), scope.services.get(Counter));
  });

  it('injected twice into one constructor gives two instances', () => {
    class Pair {
      static inject = [Counter, Counter] as const;
      readonly a: Counter;
      readonly b: Counter;
      constructor(a: Counter, b: Counter) {
        this.a = a;
        this.b = b;
      }
    }
    const root = new ServiceCollection().addTransient(Counter).addSingleton(Pair).build().root;
    const pair = root.services.get(Pair);
    assert.notEqual(pair.a, pair.b);
  });
});

describe('keys and implementations', () => {
  it('a class is its own key and is constructed with its static inject, in order', () => {
    const settings: Settings = { url: 'sqlite://x' };
    const root = new ServiceCollection()
      .addSingleton(Clock)
      .addSingleton(Settings, { value: settings })
      .addSingleton(Repo)
      .build().root;
    const repo = root.services.get(Repo);
    assert.ok(repo instanceof Repo);
    assert.equal(repo.clock, root.services.get(Clock));
    assert.equal(repo.settings, settings);
  });

  it('a token is a key: two tokens with the same name are different services', () => {
    const A = createToken<string>('Name');
    const B = createToken<string>('Name');
    const root = new ServiceCollection()
      .addSingleton(A, { value: 'a' })
      .addSingleton(B, { value: 'b' })
      .build().root;
    assert.equal(root.services.get(A), 'a');
    assert.equal(root.services.get(B), 'b');
  });

  it('a token or an abstract class can be implemented by a class', () => {
    abstract class Store {
      abstract kind(): string;
    }
    class MemoryStore extends Store {
      static inject = [Clock] as const;
      readonly clock: Clock;
      constructor(clock: Clock) {
        super();
        this.clock = clock;
      }
      kind(): string {
        return 'memory';
      }
    }
    const Greeter = createToken<{ greet(): string }>('Greeter');
    class Hello {
      greet(): string {
        return 'hello';
      }
    }
    const root = new ServiceCollection()
      .addSingleton(Clock)
      .addSingleton(Store, MemoryStore)
      .addTransient(Greeter, Hello)
      .build().root;
    const store = root.services.get(Store);
    assert.ok(store instanceof MemoryStore);
    assert.equal(store.kind(), 'memory');
    assert.equal(root.services.get(Greeter).greet(), 'hello');
  });

  it('{ factory } without deps receives a provider and can resolve anything', () => {
    const root = new ServiceCollection()
      .addSingleton(Clock)
      .addSingleton(Settings, { factory: (s) => ({ url: `at ${s.get(Clock).now()}` }) })
      .build().root;
    assert.deepEqual(root.services.get(Settings), { url: 'at 42' });
  });

  it('{ factory, deps } is called once per lifetime and gets its deps from the provider', () => {
    let calls = 0;
    const root = new ServiceCollection()
      .addSingleton(Clock)
      .addSingleton(Settings, { value: { url: 'u' } })
      .addScoped(Repo, {
        factory: (s) => {
          calls++;
          return new Repo(s.get(Clock), s.get(Settings));
        },
        deps: [Clock, Settings],
      })
      .build().root;
    const scope = root.factory.createScope();
    const repo = scope.services.get(Repo);
    assert.equal(scope.services.get(Repo), repo);
    assert.equal(repo.clock, root.services.get(Clock));
    assert.equal(calls, 1);
    root.factory.createScope().services.get(Repo);
    assert.equal(calls, 2);
  });

  it('{ value } is returned as is, every time', () => {
    const clock = new Clock();
    const root = new ServiceCollection().addSingleton(Clock, { value: clock }).build().root;
    assert.equal(root.services.get(Clock), clock);
    assert.equal(root.factory.createScope().services.get(Clock), clock);
  });

  it('{ value } may be a falsy value or a function', () => {
    const Zero = createToken<number>('Zero');
    const Fn = createToken<() => string>('Fn');
    const fn = () => 'called';
    const root = new ServiceCollection()
      .addSingleton(Zero, { value: 0 })
      .addSingleton(Fn, { value: fn })
      .build().root;
    assert.equal(root.services.get(Zero), 0);
    assert.equal(root.services.get(Fn), fn);
    assert.equal(root.services.tryGet(Zero), 0);
  });

  it('a later registration of the same key replaces the earlier one, lifetime included', () => {
    const services = new ServiceCollection()
      .addSingleton(Settings, { value: { url: 'first' } })
      .addTransient(Settings, { factory: () => ({ url: 'second' }) });
    assert.equal(services.registrations().length, 1);
    const root = services.build().root;
    const a = root.services.get(Settings);
    assert.equal(a.url, 'second');
    assert.notEqual(root.services.get(Settings), a, 'now transient');
  });

  it('a later class registration replaces a token implementation', () => {
    class Fake extends Clock {
      override now(): number {
        return 0;
      }
    }
    const root = new ServiceCollection().addSingleton(Clock).addSingleton(Clock, Fake).build().root;
    assert.ok(root.services.get(Clock) instanceof Fake);
  });

  it('has() tells whether a key is registered', () => {
    const services = new ServiceCollection().addSingleton(Clock);
    assert.equal(services.has(Clock), true);
    assert.equal(services.has(Settings), false);
  });

  it('tryGet returns undefined for a missing key and the service otherwise', () => {
    const root = new ServiceCollection().addSingleton(Clock).build().root;
    assert.equal(root.services.tryGet(Settings), undefined);
    assert.equal(root.services.tryGet(Clock), root.services.get(Clock));
  });

  it('a constructor parameter with a default value needs no inject entry', () => {
    class WithDefault {
      static inject = [Clock] as const;
      readonly clock: Clock;
      readonly retries: number;
      constructor(clock: Clock, retries = 3) {
        this.clock = clock;
        this.retries = retries;
      }
    }
    const root = new ServiceCollection().addSingleton(Clock).addSingleton(WithDefault).build().root;
    assert.equal(root.services.get(WithDefault).retries, 3);
  });

  it('a subclass without its own constructor uses the inherited static inject', () => {
    class Child extends Repo {}
    const root = new ServiceCollection()
      .addSingleton(Clock)
      .addSingleton(Settings, { value: { url: 'u' } })
      .addSingleton(Child)
      .build().root;
    assert.equal(root.services.get(Child).clock, root.services.get(Clock));
  });
});

describe('ScopeFactory and ServiceProvider', () => {
  it('ScopeFactory is injectable into a singleton, which opens scopes for its units of work', async () => {
    class Worker {
      static inject = [ScopeFactory] as const;
      readonly scopes: ScopeFactory;
      constructor(scopes: ScopeFactory) {
        this.scopes = scopes;
      }
      async runOnce(): Promise<Counter> {
        await using scope = this.scopes.createScope();
        return scope.services.get(Counter);
      }
    }
    const root = new ServiceCollection().addScoped(Counter).addSingleton(Worker).build().root;
    const worker = root.services.get(Worker);
    const a = await worker.runOnce();
    const b = await worker.runOnce();
    assert.ok(a instanceof Counter);
    assert.notEqual(a, b);
  });

  it('ScopeFactory can be resolved from the root, from a scope, and from a factory', () => {
    let fromFactory: ScopeFactory | undefined;
    const root = new ServiceCollection()
      .addSingleton(Clock, {
        factory: (s) => {
          fromFactory = s.get(ScopeFactory);
          return new Clock();
        },
      })
      .build().root;
    const factory = root.services.get(ScopeFactory);
    root.services.get(Clock);
    assert.equal(typeof factory.createScope, 'function');
    assert.equal(root.factory.createScope().services.get(ScopeFactory), factory);
    assert.equal(fromFactory, factory);
  });

  it('ServiceProvider injected into a scoped service resolves from that scope', () => {
    class Handler {
      static inject = [ServiceProvider] as const;
      readonly services: ServiceProvider;
      constructor(services: ServiceProvider) {
        this.services = services;
      }
    }
    const root = new ServiceCollection().addScoped(Counter).addScoped(Handler).build().root;
    const scope: Scope = root.factory.createScope();
    const handler = scope.services.get(Handler);
    assert.equal(handler.services.get(Counter), scope.services.get(Counter));
    assert.notEqual(handler.services.get(Counter), root.factory.createScope().services.get(Counter));
  });

  it('ServiceProvider injected into a singleton is the root provider', () => {
    class Registry {
      static inject = [ServiceProvider] as const;
      readonly services: ServiceProvider;
      constructor(services: ServiceProvider) {
        this.services = services;
      }
    }
    const root = new ServiceCollection().addSingleton(Clock).addSingleton(Registry).build().root;
    const registry = root.factory.createScope().services.get(Registry);
    assert.equal(registry.services.get(Clock), root.services.get(Clock));
  });

  it('a singleton depending on a transient shares nothing with scopes: each resolution is new', () => {
    class Holder {
      static inject = [Counter] as const;
      readonly counter: Counter;
      constructor(counter: Counter) {
        this.counter = counter;
      }
    }
    const root = new ServiceCollection().addTransient(Counter).addSingleton(Holder).build().root;
    const scope = root.factory.createScope();
    assert.equal(scope.services.get(Holder), root.services.get(Holder));
    assert.notEqual(scope.services.get(Holder).counter, scope.services.get(Counter));
  });
});
