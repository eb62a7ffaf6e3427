import { Container } from './container.ts';
import type {
  CheckInject,
  FactoryImplementation,
  Implementation,
  Injectable,
  Lifetime,
  Registration,
  ValueImplementation,
} from './registration.ts';
import { toRegistration } from './registration.ts';
import type { ServiceKey } from './token.ts';
import { validateGraph } from './validation.ts';

/** Options of {@link ServiceCollection.build}. */
export interface BuildOptions {
  /**
   * Check the whole graph at build (missing services, cycles, scoped services captured by singletons),
   * and refuse scoped services resolved outside a scope at run time. Default: true.
   */
  readonly validate?: boolean;
}

/**
 * The list of registrations a container is built from. Register everything, then call {@link build}.
 * Later registrations of the same key replace earlier ones.
 *
 * @example
 * ```ts
 * class Mailer { static inject = [SmtpOptions, LoggerFactory] as const; constructor(o: Smtp, l: LoggerFactory) {} }
 * services.addSingleton(Mailer);
 * services.addScoped(DbContext, { factory: () => new DbContext(pool) });
 * ```
 */
export class ServiceCollection {
  readonly #registrations = new Map<ServiceKey<unknown>, Registration>();

  /** Registers a service with the given lifetime. */
  add<T>(lifetime: Lifetime, key: ServiceKey<T>, impl: Implementation<T>): this {
    this.#registrations.set(key, toRegistration(key, lifetime, impl));
    return this;
  }

  /** Registers a singleton: a class as its own key, or a key with a class, `{ factory }` or `{ value }`. */
  addSingleton<C extends Injectable<unknown>>(cls: C & CheckInject<C>): this;
  addSingleton<T, C extends Injectable<T> = Injectable<T>>(
    key: ServiceKey<T>,
    impl: (C & CheckInject<C>) | FactoryImplementation<NoInfer<T>> | ValueImplementation<NoInfer<T>>,
  ): this;
  addSingleton(key: ServiceKey<unknown>, impl?: Implementation<unknown>): this {
    return this.add('singleton', key, impl ?? (key as Injectable<unknown>));
  }

  /** Registers a scoped service: one instance per scope. */
  addScoped<C extends Injectable<unknown>>(cls: C & CheckInject<C>): this;
  addScoped<T, C extends Injectable<T> = Injectable<T>>(
    key: ServiceKey<T>,
    impl: (C & CheckInject<C>) | FactoryImplementation<NoInfer<T>> | ValueImplementation<NoInfer<T>>,
  ): this;
  addScoped(key: ServiceKey<unknown>, impl?: Implementation<unknown>): this {
    return this.add('scoped', key, impl ?? (key as Injectable<unknown>));
  }

  /** Registers a transient service: a new instance per resolution. */
  addTransient<C extends Injectable<unknown>>(cls: C & CheckInject<C>): this;
  addTransient<T, C extends Injectable<T> = Injectable<T>>(
    key: ServiceKey<T>,
    impl: (C & CheckInject<C>) | FactoryImplementation<NoInfer<T>> | ValueImplementation<NoInfer<T>>,
  ): this;
  addTransient(key: ServiceKey<unknown>, impl?: Implementation<unknown>): this {
    return this.add('transient', key, impl ?? (key as Injectable<unknown>));
  }

  /** Whether anything is registered for `key`. */
  has(key: ServiceKey<unknown>): boolean {
    return this.#registrations.has(key);
  }

  /** The registrations, in registration order. */
  registrations(): readonly Registration[] {
    return [...this.#registrations.values()];
  }

  /** Builds the container; with validation on (the default), a broken graph fails here, before anything runs. */
  build(options: BuildOptions = {}): Container {
    const validate = options.validate ?? true;
    const container = new Container(this.#registrations.values(), { validateScopes: validate });
    if (validate) validateGraph(this.registrations(), (key) => container.registration(key));
    return container;
  }
}
