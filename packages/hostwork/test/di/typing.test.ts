/**
 * Compile-time guarantees. Every `@ts-expect-error` below must be a real type error: `tsc -p tsconfig.json` fails
 * with "Unused '@ts-expect-error' directive" otherwise, so type-checking this file is the test. The run-time
 * assertions check that what compiles also behaves.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createToken,
  type Scope,
  ScopeFactory,
  ServiceCollection,
  type ServiceOf,
  ServiceProvider,
  type Token,
} from '../../src/di/index.ts';

/** `true` only when A and B are the same type. */
type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false;
const assertType = <T extends true>(_proof?: T): void => {};

class Clock {
  now(): number {
    return 1;
  }
}

interface Settings {
  readonly url: string;
}
const Settings = createToken<Settings>('Settings');

/** Matches: `static inject` lists the keys of the constructor parameters, in order. */
class Repo {
  static inject = [Clock, Settings] as const;
  readonly clock: Clock;
  readonly settings: Settings;
  constructor(clock: Clock, settings: Settings) {
    this.clock = clock;
    this.settings = settings;
  }
}

/** Wrong order. */
class Swapped {
  static inject = [Settings, Clock] as const;
  // biome-ignore lint/complexity/noUselessConstructor: the parameters are what the container checks (types and count).
  constructor(_clock: Clock, _settings: Settings) {}
}

/** Wrong type: a Settings token for a Clock parameter. */
class WrongType {
  static inject = [Settings] as const;
  // biome-ignore lint/complexity/noUselessConstructor: the parameters are what the container checks (types and count).
  constructor(_clock: Clock) {}
}

/** Too short: two parameters, one key. */
class TooShort {
  static inject = [Clock] as const;
  // biome-ignore lint/complexity/noUselessConstructor: the parameters are what the container checks (types and count).
  constructor(_clock: Clock, _settings: Settings) {}
}

/** Not `as const`: a mutable array type loses the order. */
class NotConst {
  static inject = [Clock, Settings];
  // biome-ignore lint/complexity/noUselessConstructor: the parameters are what the container checks (types and count).
  constructor(_clock: Clock, _settings: Settings) {}
}

/** Constructor parameters but no `static inject`. */
class NoInject extends Clock {
  constructor(_settings: Settings) {
    super();
  }
}

abstract class Store {
  abstract read(): string;
}

class GoodStore extends Store {
  static inject = [Clock] as const;
  constructor(_clock: Clock) {
    super();
  }
  read(): string {
    return 'ok';
  }
}

class SwappedStore extends Store {
  static inject = [Settings, Clock] as const;
  constructor(_clock: Clock, _settings: Settings) {
    super();
  }
  read(): string {
    return 'swapped';
  }
}

class NotAStore {
  write(): void {}
}

describe('compile-time checks', () => {
  it('a class whose static inject does not match its constructor does not compile', () => {
    const services = new ServiceCollection();
    services.addSingleton(Clock).addSingleton(Repo);
    services.addScoped(Store, GoodStore);

    // Only type-checked: registering these would fail (or misbehave) at run time.
    const typeOnly = () => {
      // @ts-expect-error wrong order
      services.addSingleton(Swapped);
      // @ts-expect-error wrong type
      services.addScoped(WrongType);
      // @ts-expect-error fewer keys than parameters
      services.addTransient(TooShort);
      // @ts-expect-error not `as const`
      services.addSingleton(NotConst);
      // @ts-expect-error parameters without static inject
      services.addSingleton(NoInject);
      // @ts-expect-error wrong order, with an explicit key
      services.addScoped(Store, SwappedStore);
      // @ts-expect-error parameters without static inject, with an explicit key
      services.addTransient(Clock, NoInject);
      // @ts-expect-error the class does not implement the key
      services.addSingleton(Store, NotAStore);
    };
    assert.equal(typeof typeOnly, 'function');
  });

  it('{ factory } and { value } must produce the key type', () => {
    const services = new ServiceCollection();
    services.addSingleton(Settings, { value: { url: 'u' } });
    services.addScoped(Settings, { factory: (s) => ({ url: String(s.get(Clock).now()) }), deps: [Clock] });
    services.addSingleton(Store, { factory: (s) => new GoodStore(s.get(Clock)) });
    const typeOnly = () => {
      // @ts-expect-error a value of the wrong type
      services.addSingleton(Settings, { value: { url: 1 } });
      // @ts-expect-error a factory returning the wrong type
      services.addTransient(Settings, { factory: () => 'sqlite://x' });
      // @ts-expect-error deps must be keys
      services.addTransient(Settings, { factory: () => ({ url: '' }), deps: ['Clock'] });
    };
    assert.equal(typeof typeOnly, 'function');
  });

  it('provider.get(token) returns the token type; get(Class) returns the instance type', () => {
    const root = new ServiceCollection()
      .addSingleton(Clock)
      .addSingleton(Settings, { value: { url: 'sqlite://app.db' } })
      .addSingleton(Repo)
      .build().root;

    const settings: Settings = root.services.get(Settings);
    const url: string = root.services.get(Settings).url;
    const repo: Repo = root.services.get(Repo);
    const now: number = root.services.get(Clock).now();
    const scopes: ScopeFactory = root.services.get(ScopeFactory);
    const provider: ServiceProvider = root.services.get(ServiceProvider);
    const maybe: Settings | undefined = root.services.tryGet(Settings);
    assert.equal(settings.url, url);
    assert.equal(repo.settings, settings);
    assert.equal(now, 1);
    assert.equal(maybe, settings);
    assert.equal(provider.get(Settings), settings);
    const scope: Scope = scopes.createScope();
    assert.equal(scope.services.get(Repo), repo);

    const typeOnly = () => {
      // @ts-expect-error Settings is not a number
      const wrong: number = root.services.get(Settings);
      // @ts-expect-error Clock has no url
      const nope: string = root.services.get(Clock).url;
      // @ts-expect-error tryGet may return undefined
      const strict: Settings = root.services.tryGet(Settings);
      return [wrong, nope, strict];
    };
    assert.equal(typeof typeOnly, 'function');
  });

  it('keys carry their service type', () => {
    const Port = createToken<number>('Port');
    assertType<Equal<ServiceOf<typeof Port>, number>>(true);
    assertType<Equal<ServiceOf<typeof Settings>, Settings>>(true);
    assertType<Equal<ServiceOf<typeof Clock>, Clock>>(true);
    assertType<Equal<ServiceOf<typeof Store>, Store>>(true);
    const root = new ServiceCollection().addSingleton(Port, { value: 8080 }).build().root;
    const port = root.services.get(Port);
    assertType<Equal<typeof port, number>>(true);
    assert.equal(port, 8080);
    const typeOnly = () => {
      // @ts-expect-error a Token<number> is not a Token<string>
      const asString: Token<string> = Port;
      return asString;
    };
    assert.equal(typeof typeOnly, 'function');
  });
});
