import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createToken,
  type Implementation,
  ServiceCollection,
  ServiceProvider,
  type Token,
} from '../../src/di/index.ts';
import { ErrorCodes, HostworkError } from '../../src/errors.ts';
import { expectError } from './helpers.ts';

class Clock {}

class Repo {
  static inject = [Clock] as const;
  // biome-ignore lint/complexity/noUselessConstructor: the parameters are what the container checks (types and count).
  constructor(_clock: Clock) {}
}

class Worker {
  static inject = [Repo] as const;
  // biome-ignore lint/complexity/noUselessConstructor: the parameters are what the container checks (types and count).
  constructor(_repo: Repo) {}
}

describe('missing registration (HW_DI_MISSING)', () => {
  it('fails at build for a declared dependency, naming the missing key and the chain', () => {
    const services = new ServiceCollection().addScoped(Worker).addScoped(Repo);
    const error = expectError(
      () => services.build(),
      ErrorCodes.DI_MISSING,
      "No service is registered for 'Clock'",
      'Worker → Repo → Clock',
    );
    assert.ok(error instanceof HostworkError);
  });

  it('fails at build for a dependency declared by a factory, naming a token', () => {
    const Settings = createToken<object>('Settings');
    const services = new ServiceCollection().addTransient(Repo, {
      factory: () => new Repo(new Clock()),
      deps: [Settings],
    });
    expectError(() => services.build(), ErrorCodes.DI_MISSING, "'Settings'", 'Repo → Settings');
  });

  it('fails at resolution inside an opaque factory, naming the chain', () => {
    const root = new ServiceCollection()
      .addScoped(Worker)
      .addScoped(Repo, { factory: (s) => new Repo(s.get(Clock)) })
      .build().root;
    const scope = root.factory.createScope();
    expectError(() => scope.services.get(Worker), ErrorCodes.DI_MISSING, "'Clock'", 'Worker → Repo → Clock');
  });

  it('fails when a key asked for directly is not registered, without a chain', () => {
    const root = new ServiceCollection().build().root;
    const error = expectError(() => root.services.get(Clock), ErrorCodes.DI_MISSING, "'Clock'");
    assert.doesNotMatch(error.message, /required by/);
  });

  it('tryGet returns undefined at the top, but a missing dependency still throws', () => {
    const root = new ServiceCollection().addSingleton(Repo).build({ validate: false }).root;
    assert.equal(root.services.tryGet(Clock), undefined);
    expectError(() => root.services.tryGet(Repo), ErrorCodes.DI_MISSING, 'Repo → Clock');
  });
});

describe('circular dependency (HW_DI_CYCLE)', () => {
  const A = createToken<object>('A');
  const B = createToken<object>('B');
  const C = createToken<object>('C');

  it('fails at build for declared deps, printing the cycle', () => {
    const services = new ServiceCollection()
      .addSingleton(A, { factory: () => ({}), deps: [B] })
      .addSingleton(B, { factory: () => ({}), deps: [A] });
    expectError(() => services.build(), ErrorCodes.DI_CYCLE, 'A → B → A');
  });

  it('fails at build for a longer cycle across lifetimes, printing only the cycle', () => {
    const Start = createToken<object>('Start');
    const services = new ServiceCollection()
      .addTransient(Start, { factory: () => ({}), deps: [A] })
      .addScoped(A, { factory: () => ({}), deps: [B] })
      .addTransient(B, { factory: () => ({}), deps: [C] })
      .addScoped(C, { factory: () => ({}), deps: [A] });
    const error = expectError(() => services.build(), ErrorCodes.DI_CYCLE, 'A → B → C → A');
    assert.doesNotMatch(error.message, /Start/);
  });

  it('fails at build for a class that depends on itself', () => {
    class Self {
      static inject = [] as Token<unknown>[];
    }
    Self.inject.push(Self as unknown as Token<unknown>);
    expectError(() => new ServiceCollection().addTransient(Self).build(), ErrorCodes.DI_CYCLE, 'Self → Self');
  });

  it('fails at resolution between opaque factories, printing the cycle', () => {
    const root = new ServiceCollection()
      .addSingleton(A, { factory: (s) => ({ b: s.get(B) }) })
      .addSingleton(B, { factory: (s) => ({ a: s.get(A) }) })
      .build().root;
    expectError(() => root.services.get(A), ErrorCodes.DI_CYCLE, 'A → B → A');
    expectError(() => root.services.get(B), ErrorCodes.DI_CYCLE, 'B → A → B');
  });

  it('fails at resolution for declared deps when validation is off', () => {
    const root = new ServiceCollection()
      .addScoped(A, { factory: (s) => ({ b: s.get(B) }), deps: [B] })
      .addTransient(B, { factory: (s) => ({ a: s.get(A) }), deps: [A] })
      .build({ validate: false }).root;
    expectError(() => root.factory.createScope().services.get(A), ErrorCodes.DI_CYCLE, 'A → B → A');
  });

  it('can be broken by resolving one side lazily through ServiceProvider (scoped)', () => {
    class Parent {
      static inject = [ServiceProvider] as const;
      readonly services: ServiceProvider;
      constructor(services: ServiceProvider) {
        this.services = services;
      }
      child(): Child {
        return this.services.get(Child);
      }
    }
    class Child {
      static inject = [Parent] as const;
      readonly parent: Parent;
      constructor(parent: Parent) {
        this.parent = parent;
      }
    }
    const root = new ServiceCollection().addScoped(Parent).addScoped(Child).build().root;
    const scope = root.factory.createScope();
    const parent = scope.services.get(Parent);
    assert.equal(parent.child().parent, parent);
  });

  it('can be broken lazily through the provider a factory received (singleton)', () => {
    const root = new ServiceCollection()
      .addSingleton(A, { factory: (s) => ({ b: () => s.get(B) }) })
      .addSingleton(B, { factory: (s) => ({ a: s.get(A) }), deps: [A] })
      .build().root;
    const a = root.services.get(A) as { b(): { a: object } };
    assert.equal(a.b().a, a);
  });

  it('a shared dependency (diamond) is not a cycle', () => {
    class Top {
      static inject = [Repo, Repo, Clock] as const;
      // biome-ignore lint/complexity/noUselessConstructor: the parameters are what the container checks (types and count).
      constructor(_a: Repo, _b: Repo, _c: Clock) {}
    }
    const root = new ServiceCollection()
      .addSingleton(Clock)
      .addTransient(Repo)
      .addSingleton(Top)
      .build().root;
    assert.ok(root.services.get(Top) instanceof Top);
  });
});

describe('invalid registration (HW_DI_INVALID_REGISTRATION)', () => {
  it('refuses a class whose constructor takes more parameters than static inject lists', () => {
    class TwoParams {
      static inject = [Clock] as const;
      // biome-ignore lint/complexity/noUselessConstructor: the parameters are what the container checks (types and count).
      constructor(_a: Clock, _b: Clock) {}
    }
    // Bypass the compile-time check to reach the run-time one (e.g. a JavaScript caller).
    const services = new ServiceCollection() as unknown as { addSingleton(c: unknown): void };
    expectError(
      () => services.addSingleton(TwoParams),
      ErrorCodes.DI_INVALID_REGISTRATION,
      "'TwoParams'",
      '2 constructor parameter(s)',
      'declares 1',
      'static inject',
    );
  });

  it('refuses a class with constructor parameters and no static inject, at registration (not build)', () => {
    class NoInject {
      // biome-ignore lint/complexity/noUselessConstructor: the parameters are what the container checks (types and count).
      constructor(_a: Clock) {}
    }
    const services = new ServiceCollection();
    const add = services.addScoped.bind(services) as (key: unknown, impl: unknown) => void;
    expectError(() => add(Clock, NoInject), ErrorCodes.DI_INVALID_REGISTRATION, "'NoInject'", "'Clock'");
    assert.equal(services.has(Clock), false);
  });

  it('refuses an undefined entry in static inject (a circular import), naming the index', () => {
    class Broken {
      static inject = [Clock, undefined] as unknown as readonly Token<unknown>[];
      // biome-ignore lint/complexity/noUselessConstructor: the parameters are what the container checks (types and count).
      constructor(_a: Clock, _b: unknown) {}
    }
    expectError(
      () => new ServiceCollection().addSingleton(Broken as never),
      ErrorCodes.DI_INVALID_REGISTRATION,
      "'Broken'",
      'index 1',
      'circular import',
    );
  });

  it('refuses { value } with a scoped or transient lifetime', () => {
    const Settings = createToken<object>('Settings');
    const value = { value: {} };
    expectError(
      () => new ServiceCollection().addScoped(Settings, value),
      ErrorCodes.DI_INVALID_REGISTRATION,
      "'Settings'",
      "'scoped'",
      'singleton',
    );
    expectError(
      () => new ServiceCollection().addTransient(Settings, value),
      ErrorCodes.DI_INVALID_REGISTRATION,
      "'transient'",
    );
    expectError(
      () => new ServiceCollection().add('scoped', Settings, value),
      ErrorCodes.DI_INVALID_REGISTRATION,
    );
  });

  it('refuses something that is neither a class, { factory } nor { value }', () => {
    const Settings = createToken<object>('Settings');
    expectError(
      () => new ServiceCollection().addSingleton(Settings, {} as Implementation<object>),
      ErrorCodes.DI_INVALID_REGISTRATION,
      "'Settings'",
    );
  });
});

describe('errors from user code', () => {
  it('a constructor error propagates unchanged', () => {
    const boom = new Error('cannot connect');
    class Db {
      constructor() {
        throw boom;
      }
    }
    const root = new ServiceCollection().addSingleton(Db).build().root;
    assert.throws(
      () => root.services.get(Db),
      (error) => error === boom,
    );
  });

  it('a singleton whose construction failed is retried on the next resolution', () => {
    let attempts = 0;
    const root = new ServiceCollection()
      .addSingleton(Clock, {
        factory: () => {
          if (++attempts === 1) throw new Error('transient failure');
          return new Clock();
        },
      })
      .build().root;
    assert.throws(() => root.services.get(Clock), /transient failure/);
    assert.equal(root.services.get(Clock), root.services.get(Clock));
    assert.equal(attempts, 2);
  });
});
