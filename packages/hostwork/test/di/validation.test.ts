import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createToken, ScopeFactory, ServiceCollection, ServiceProvider } from '../../src/di/index.ts';
import { ErrorCodes } from '../../src/errors.ts';
import { expectError } from './helpers.ts';

class DbContext {
  readonly id = Math.random();
}

class Reporter {
  static inject = [DbContext] as const;
  readonly db: DbContext;
  constructor(db: DbContext) {
    this.db = db;
  }
}

class Query {
  static inject = [DbContext] as const;
  readonly db: DbContext;
  constructor(db: DbContext) {
    this.db = db;
  }
}

class QueryUser {
  static inject = [Query] as const;
  readonly query: Query;
  constructor(query: Query) {
    this.query = query;
  }
}

class Outer {
  static inject = [Reporter] as const;
  readonly reporter: Reporter;
  constructor(reporter: Reporter) {
    this.reporter = reporter;
  }
}

const SCOPE_HINT = 'ScopeFactory';

describe('scoped service captured by a singleton', () => {
  it('directly: fails at build, naming both services and the ScopeFactory fix', () => {
    const services = new ServiceCollection().addScoped(DbContext).addSingleton(Reporter);
    expectError(
      () => services.build(),
      ErrorCodes.DI_SCOPED_IN_SINGLETON,
      "scoped service 'DbContext'",
      "singleton 'Reporter'",
      SCOPE_HINT,
      'Reporter → DbContext',
    );
  });

  it('through a transient: fails at build, naming the singleton and the scoped service', () => {
    const services = new ServiceCollection().addScoped(DbContext).addTransient(Query).addSingleton(QueryUser);
    expectError(
      () => services.build(),
      ErrorCodes.DI_SCOPED_IN_SINGLETON,
      "'DbContext'",
      "singleton 'QueryUser'",
      SCOPE_HINT,
      'QueryUser → Query → DbContext',
    );
  });

  it('through a transient already checked on its own (registration order does not matter)', () => {
    // The transient is registered (and so walked) before the singleton; it is valid on its own, not under a singleton.
    const services = new ServiceCollection().addTransient(Query).addScoped(DbContext).addSingleton(QueryUser);
    expectError(() => services.build(), ErrorCodes.DI_SCOPED_IN_SINGLETON, "'DbContext'", "'QueryUser'");
  });

  it('through another singleton: fails at build, naming the singleton that holds it', () => {
    const services = new ServiceCollection().addSingleton(Outer).addSingleton(Reporter).addScoped(DbContext);
    expectError(
      () => services.build(),
      ErrorCodes.DI_SCOPED_IN_SINGLETON,
      "scoped service 'DbContext'",
      "singleton 'Reporter'",
      SCOPE_HINT,
      'Outer → Reporter → DbContext',
    );
  });

  it('through a factory with declared deps: fails at build', () => {
    const Cache = createToken<{ db: DbContext }>('Cache');
    const services = new ServiceCollection()
      .addScoped(DbContext)
      .addSingleton(Cache, { factory: (s) => ({ db: s.get(DbContext) }), deps: [DbContext] });
    expectError(
      () => services.build(),
      ErrorCodes.DI_SCOPED_IN_SINGLETON,
      "'DbContext'",
      "'Cache'",
      SCOPE_HINT,
    );
  });

  it('through an opaque factory: builds, then fails at resolution with the same code and message', () => {
    const Cache = createToken<{ db: DbContext }>('Cache');
    const root = new ServiceCollection()
      .addScoped(DbContext)
      .addSingleton(Cache, { factory: (s) => ({ db: s.get(DbContext) }) })
      .build().root;
    const fragments = ["scoped service 'DbContext'", "singleton 'Cache'", SCOPE_HINT, 'Cache → DbContext'];
    expectError(() => root.services.get(Cache), ErrorCodes.DI_SCOPED_IN_SINGLETON, ...fragments);
    // Even from inside a scope: the singleton would outlive it.
    const scope = root.factory.createScope();
    expectError(() => scope.services.get(Cache), ErrorCodes.DI_SCOPED_IN_SINGLETON, ...fragments);
  });

  it('through an opaque factory and a transient: fails at resolution', () => {
    const Cache = createToken<QueryUser>('Cache');
    const root = new ServiceCollection()
      .addScoped(DbContext)
      .addTransient(Query)
      .addSingleton(Cache, { factory: (s) => new QueryUser(s.get(Query)) })
      .build().root;
    expectError(
      () => root.factory.createScope().services.get(Cache),
      ErrorCodes.DI_SCOPED_IN_SINGLETON,
      "'DbContext'",
      "singleton 'Cache'",
      'Cache → Query → DbContext',
    );
  });

  it('through ServiceProvider resolved by a singleton: refused (the root provider has no scope)', () => {
    class Lazy {
      static inject = [ServiceProvider] as const;
      readonly services: ServiceProvider;
      constructor(services: ServiceProvider) {
        this.services = services;
      }
    }
    const root = new ServiceCollection().addScoped(DbContext).addSingleton(Lazy).build().root;
    const lazy = root.factory.createScope().services.get(Lazy);
    expectError(() => lazy.services.get(DbContext), ErrorCodes.DI_SCOPED_FROM_ROOT, "'DbContext'");
  });

  it('a singleton with ScopeFactory (or ServiceProvider) and scoped services is valid', () => {
    class Worker {
      static inject = [ScopeFactory, ServiceProvider] as const;
      // biome-ignore lint/complexity/noUselessConstructor: the parameters are what the container checks (types and count).
      constructor(_s: ScopeFactory, _p: ServiceProvider) {}
    }
    const root = new ServiceCollection().addScoped(DbContext).addSingleton(Worker).build().root;
    assert.ok(root.services.get(Worker) instanceof Worker);
  });

  it('scoped and transient services may depend on scoped ones', () => {
    const root = new ServiceCollection()
      .addScoped(DbContext)
      .addTransient(Query)
      .addScoped(QueryUser)
      .addScoped(Reporter)
      .build().root;
    const scope = root.factory.createScope();
    assert.equal(scope.services.get(QueryUser).query.db, scope.services.get(Reporter).db);
  });

  it('a singleton may depend on a transient that depends on a singleton', () => {
    class Clock {}
    class Stamp {
      static inject = [Clock] as const;
      // biome-ignore lint/complexity/noUselessConstructor: the parameters are what the container checks (types and count).
      constructor(_c: Clock) {}
    }
    class Audit {
      static inject = [Stamp] as const;
      // biome-ignore lint/complexity/noUselessConstructor: the parameters are what the container checks (types and count).
      constructor(_s: Stamp) {}
    }
    const root = new ServiceCollection()
      .addSingleton(Clock)
      .addTransient(Stamp)
      .addSingleton(Audit)
      .build().root;
    assert.ok(root.services.get(Audit) instanceof Audit);
  });
});

describe('scoped service resolved from the root', () => {
  it('fails with HW_DI_SCOPED_FROM_ROOT naming the service and the fix', () => {
    const root = new ServiceCollection().addScoped(DbContext).build().root;
    expectError(
      () => root.services.get(DbContext),
      ErrorCodes.DI_SCOPED_FROM_ROOT,
      "'DbContext'",
      SCOPE_HINT,
    );
    expectError(() => root.services.tryGet(DbContext), ErrorCodes.DI_SCOPED_FROM_ROOT);
  });

  it('fails through a transient resolved from the root', () => {
    const root = new ServiceCollection().addScoped(DbContext).addTransient(Query).build().root;
    expectError(() => root.services.get(Query), ErrorCodes.DI_SCOPED_FROM_ROOT, "'DbContext'");
  });
});

describe('build({ validate: false })', () => {
  it('builds a singleton that captures a scoped service, and resolves it', () => {
    const root = new ServiceCollection()
      .addScoped(DbContext)
      .addTransient(Query)
      .addSingleton(QueryUser)
      .addSingleton(Reporter)
      .build({ validate: false }).root;
    const user = root.services.get(QueryUser);
    assert.ok(user.query.db instanceof DbContext);
    // The captured scoped instance is the root's one, shared by the root's singletons.
    assert.equal(root.services.get(Reporter).db, user.query.db);
    assert.equal(root.factory.createScope().services.get(QueryUser), user);
  });

  it('allows a scoped service from the root provider', () => {
    const root = new ServiceCollection().addScoped(DbContext).build({ validate: false }).root;
    assert.equal(root.services.get(DbContext), root.services.get(DbContext));
    assert.notEqual(root.factory.createScope().services.get(DbContext), root.services.get(DbContext));
  });

  it('allows an opaque singleton factory to resolve a scoped service', () => {
    const Cache = createToken<{ db: DbContext }>('Cache');
    const root = new ServiceCollection()
      .addScoped(DbContext)
      .addSingleton(Cache, { factory: (s) => ({ db: s.get(DbContext) }) })
      .build({ validate: false }).root;
    assert.ok(root.factory.createScope().services.get(Cache).db instanceof DbContext);
  });

  it('does not check for missing services at build', () => {
    const services = new ServiceCollection().addSingleton(Reporter);
    const container = services.build({ validate: false });
    expectError(() => container.root.services.get(Reporter), ErrorCodes.DI_MISSING, 'Reporter → DbContext');
  });

  it('validate: true is the default, and explicit true behaves the same', () => {
    const services = new ServiceCollection().addScoped(DbContext).addSingleton(Reporter);
    expectError(() => services.build({}), ErrorCodes.DI_SCOPED_IN_SINGLETON);
    expectError(() => services.build({ validate: true }), ErrorCodes.DI_SCOPED_IN_SINGLETON);
  });
});

describe('validation cost', () => {
  // Each layer has two services depending on both services of the next layer: 2^layers paths, linear nodes.
  const layered = (layers: number, lifetime: 'singleton' | 'transient') => {
    const services = new ServiceCollection();
    const keys = Array.from({ length: layers }, (_, i) => [
      createToken<object>(`L${i}a`),
      createToken<object>(`L${i}b`),
    ]);
    for (let i = 0; i < layers; i++) {
      const next = keys[i + 1] ?? [];
      for (const key of keys[i] ?? []) {
        if (lifetime === 'singleton') services.addSingleton(key, { factory: () => ({}), deps: next });
        else services.addTransient(key, { factory: () => ({}), deps: next });
      }
    }
    return { services, top: keys[0]?.[0] };
  };

  it('is linear in the graph, not in the number of paths, for shared singletons', () => {
    const { services } = layered(60, 'singleton');
    const started = performance.now();
    services.build();
    assert.ok(performance.now() - started < 2000, 'build took too long');
  });

  it('is linear for shared transients under a singleton', () => {
    const { services, top } = layered(60, 'transient');
    services.addSingleton(createToken<object>('Top'), { factory: () => ({}), deps: top ? [top] : [] });
    const started = performance.now();
    services.build();
    assert.ok(performance.now() - started < 2000, 'build took too long');
  });

  it('finds a scoped service at the bottom of a deep shared transient graph under a singleton', () => {
    const services = new ServiceCollection();
    const Bottom = createToken<object>('Bottom');
    services.addScoped(Bottom, { factory: () => ({}) });
    let below: ReturnType<typeof createToken<object>>[] = [Bottom];
    for (let i = 40; i >= 0; i--) {
      const layer = [createToken<object>(`T${i}a`), createToken<object>(`T${i}b`)];
      for (const key of layer) services.addTransient(key, { factory: () => ({}), deps: below });
      below = layer;
    }
    services.addSingleton(createToken<object>('Top'), { factory: () => ({}), deps: below });
    const started = performance.now();
    expectError(() => services.build(), ErrorCodes.DI_SCOPED_IN_SINGLETON, "'Bottom'", "singleton 'Top'");
    assert.ok(performance.now() - started < 2000, 'build took too long');
  });
});
