import { ErrorCodes, HostworkError } from '../errors.ts';
import type { Lifetime, Registration } from './registration.ts';
import { type Scope, ScopeFactory } from './scope.ts';
import { ServiceProvider } from './service-provider.ts';
import type { ServiceKey } from './token.ts';
import { keyName } from './token.ts';
import { scopedInSingletonError } from './validation.ts';

/** What the container needs to know about the registrations. */
export interface ContainerOptions {
  /** Refuse scoped services resolved from singletons or from the root provider. Default: true. */
  readonly validateScopes: boolean;
}

type Identity = symbol | ServiceKey<unknown>;

function identity(key: ServiceKey<unknown>): Identity {
  return typeof key === 'function' ? key : key.id;
}

/** Where a resolution comes from: the chain of services being built, and the singleton (if any) that owns it. */
interface Resolution {
  readonly chain: readonly Registration[];
  /** The nearest singleton in the chain: everything it resolves lives as long as it does. */
  readonly singleton: Registration | undefined;
}

const ROOT: Resolution = { chain: [], singleton: undefined };

/**
 * The root of the service graph. It owns singletons (and transients resolved outside any scope) and
 * disposes them, in reverse creation order, when the host stops.
 */
export class Container implements AsyncDisposable {
  readonly #registrations: Map<Identity, Registration>;
  readonly #options: ContainerOptions;
  readonly #singletons = new Map<Registration, unknown>();
  /** Every instance some scope has taken ownership of: each is disposed once, by the scope that created it first. */
  readonly #owned = new WeakSet<object>();
  readonly root: ServiceScope;

  constructor(registrations: Iterable<Registration>, options: ContainerOptions) {
    this.#registrations = new Map();
    for (const r of registrations) this.#registrations.set(identity(r.key), r);
    this.#options = options;
    this.root = new ServiceScope(this, true);
  }

  /** The registration for a key, if any. */
  registration(key: ServiceKey<unknown>): Registration | undefined {
    return this.#registrations.get(identity(key));
  }

  /** Resolves `key` on behalf of `scope`, within the resolution context `from`. */
  resolve(scope: ServiceScope, key: ServiceKey<unknown>, from: Resolution, required: boolean): unknown {
    if (key === ScopeFactory) return this.root.factory;
    // A fresh context: the provider is kept and used later, outside the resolution that injected it (otherwise a
    // lazy `get` would see the old chain and report a false cycle). Within a singleton, `scope` is the root.
    if (key === ServiceProvider) return from.singleton ? this.root.services : scope.services;
    const registration = this.registration(key);
    if (!registration) {
      if (!required) return undefined;
      const chain = [...from.chain.map((r) => r.name), keyName(key)].join(' → ');
      throw new HostworkError(
        ErrorCodes.DI_MISSING,
        `No service is registered for '${keyName(key)}'${from.chain.length ? ` (required by ${chain})` : ''}. Fix: register it, e.g. services.addSingleton(${keyName(key)}, ...) or services.addScoped(...).`,
      );
    }
    if (from.chain.includes(registration)) {
      const start = from.chain.indexOf(registration);
      const cycle = [...from.chain.slice(start), registration].map((r) => r.name).join(' → ');
      throw new HostworkError(
        ErrorCodes.DI_CYCLE,
        `Circular dependency: ${cycle}. Fix: break the cycle, e.g. by resolving one side lazily through ServiceProvider.`,
      );
    }
    return this.#instance(scope, registration, from);
  }

  #instance(scope: ServiceScope, r: Registration, from: Resolution): unknown {
    const lifetime: Lifetime = r.lifetime;
    if (lifetime === 'singleton') {
      if (this.#singletons.has(r)) return this.#singletons.get(r);
      const instance = this.#create(this.root, r, { chain: [...from.chain, r], singleton: r });
      this.#singletons.set(r, instance);
      return instance;
    }
    if (lifetime === 'scoped') {
      if (this.#options.validateScopes) {
        if (from.singleton) throw scopedInSingletonError(r, from.singleton, [...from.chain, r]);
        if (scope.isRoot) {
          throw new HostworkError(
            ErrorCodes.DI_SCOPED_FROM_ROOT,
            `Cannot resolve scoped service '${r.name}' from the root provider. Fix: create a scope through ScopeFactory (await using scope = scopes.createScope(); scope.services.get(${r.name})).`,
          );
        }
      }
      const target = from.singleton ? this.root : scope;
      return target.scoped(r, () =>
        this.#create(target, r, { chain: [...from.chain, r], singleton: undefined }),
      );
    }
    // transient: owned by the singleton's root, or by the scope that asked
    const owner = from.singleton ? this.root : scope;
    return this.#create(owner, r, { chain: [...from.chain, r], singleton: from.singleton });
  }

  #create(owner: ServiceScope, r: Registration, context: Resolution): unknown {
    // The provider carries the resolution context only while `create` runs: a factory that keeps it resolves
    // later like the owner's own provider (no stale chain, no stale singleton).
    let active = true;
    const during = owner.provider(context);
    const provider: ServiceProvider = {
      get: (key) => (active ? during : owner.services).get(key),
      tryGet: (key) => (active ? during : owner.services).tryGet(key),
    };
    let instance: unknown;
    try {
      instance = r.create(provider);
    } finally {
      active = false;
    }
    if (isDisposable(instance) && !this.#owned.has(instance)) {
      // A factory may return an instance another registration already owns (`{ factory: (s) => s.get(Impl) }`):
      // only its first owner disposes it, and nobody disposes a `{ value }` (the caller owns it).
      this.#owned.add(instance);
      if (!r.external) owner.track(instance);
    }
    return instance;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.root.dispose();
  }
}

/** A scope: the root one, or one made by {@link ScopeFactory.createScope}. */
export class ServiceScope implements Scope {
  readonly #container: Container;
  readonly isRoot: boolean;
  readonly #scoped = new Map<Registration, unknown>();
  readonly #disposables: unknown[] = [];
  #disposed = false;
  #disposing: Promise<void> | undefined;
  readonly services: ServiceProvider;
  readonly factory: ScopeFactory;

  constructor(container: Container, isRoot: boolean) {
    this.#container = container;
    this.isRoot = isRoot;
    this.services = this.provider(ROOT);
    this.factory = {
      createScope: () => {
        if (container.root.disposed) {
          throw new HostworkError(
            ErrorCodes.DI_DISPOSED,
            'Cannot create a scope: the root provider has been disposed (the host has stopped).',
          );
        }
        return new ServiceScope(container, false);
      },
    };
  }

  /** Whether {@link dispose} has been called. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /** A provider bound to a resolution context, so factories are held to the same rules as classes. */
  provider(from: Resolution): ServiceProvider {
    const get = (key: ServiceKey<unknown>, required: boolean): unknown => {
      if (this.disposed) {
        throw new HostworkError(
          ErrorCodes.DI_DISPOSED,
          `Cannot resolve '${keyName(key)}': this ${this.isRoot ? 'root provider' : 'scope'} has been disposed.`,
        );
      }
      if (this.#container.root.disposed) {
        // The singletons are gone: handing one out (or creating one nobody would dispose) would be worse.
        throw new HostworkError(
          ErrorCodes.DI_DISPOSED,
          `Cannot resolve '${keyName(key)}': the root provider has been disposed (the host has stopped), so singletons are no longer available. Dispose scopes before the root.`,
        );
      }
      return this.#container.resolve(this, key, from, required);
    };
    return {
      get: <T>(key: ServiceKey<T>) => get(key, true) as T,
      tryGet: <T>(key: ServiceKey<T>) => get(key, false) as T | undefined,
    };
  }

  /** Returns the scoped instance for `r`, creating it once per scope. */
  scoped(r: Registration, create: () => unknown): unknown {
    if (this.#scoped.has(r)) return this.#scoped.get(r);
    const instance = create();
    this.#scoped.set(r, instance);
    return instance;
  }

  /** Remembers an instance to dispose with this scope. */
  track(instance: unknown): void {
    if (isDisposable(instance)) this.#disposables.push(instance);
  }

  /**
   * Disposes what this scope created, in reverse creation order. Rethrows a disposal error (an AggregateError
   * for several) after trying every instance. A second call waits for the first to finish, without rethrowing.
   */
  dispose(): Promise<void> {
    if (this.#disposed) return (this.#disposing ?? Promise.resolve()).then(noop, noop);
    this.#disposed = true;
    this.#disposing = this.#disposeAll();
    return this.#disposing;
  }

  async #disposeAll(): Promise<void> {
    const errors: unknown[] = [];
    // Reverse creation order: a service is disposed before the services it was built from.
    for (let i = this.#disposables.length - 1; i >= 0; i--) {
      const d = this.#disposables[i] as Partial<AsyncDisposable & Disposable>;
      try {
        const asyncDispose = d[Symbol.asyncDispose];
        const dispose = d[Symbol.dispose];
        if (asyncDispose) await asyncDispose.call(d);
        else if (dispose) dispose.call(d);
      } catch (error) {
        errors.push(error);
      }
    }
    this.#disposables.length = 0;
    this.#scoped.clear();
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `${errors.length} services failed to dispose`);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

function noop(): void {}

function isDisposable(instance: unknown): instance is Partial<AsyncDisposable & Disposable> & object {
  return (
    instance !== null &&
    (typeof instance === 'object' || typeof instance === 'function') &&
    (Symbol.asyncDispose in instance || Symbol.dispose in instance)
  );
}
