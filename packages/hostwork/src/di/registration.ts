import { ErrorCodes, HostworkError } from '../errors.ts';
import type { ServiceProvider } from './service-provider.ts';
import type { ServiceKey, ServicesOf } from './token.ts';
import { keyName } from './token.ts';

/**
 * How long an instance lives.
 * - `singleton`: one instance for the whole application, disposed when the host stops.
 * - `scoped`: one instance per scope (per job attempt, per request, per cycle), disposed with the scope.
 * - `transient`: a new instance every time it is asked for, disposed by whoever owns the resolution
 *   (its scope, or the root provider).
 */
export type Lifetime = 'singleton' | 'scoped' | 'transient';

/** A class Hostwork can construct: its dependencies are listed in `static inject`, in constructor order. */
export interface Injectable<T> {
  new (...args: never[]): T;
  /** The keys of the constructor's parameters, in order. Omit it for a constructor without parameters. */
  readonly inject?: readonly ServiceKey<unknown>[];
}

/**
 * Compile-time check that a class's `static inject` matches its constructor: resolves to `unknown` when it does,
 * and to an object type naming the problem otherwise (so the call site fails to compile with that name).
 */
export type CheckInject<C> = C extends { readonly inject: infer K extends readonly ServiceKey<unknown>[] }
  ? C extends new (
      ...args: ServicesOf<K>
    ) => unknown
    ? unknown
    : { 'static inject does not match the constructor parameters': K }
  : C extends new () => unknown
    ? unknown
    : { 'a class with constructor parameters needs static inject = [...] as const': C };

/** Creates a service from a provider. Declare `deps` so build-time validation can see through the factory. */
export type Factory<T> = (services: ServiceProvider) => T;

/** A service made by a function. Declare `deps` so build-time validation can see through the factory. */
export interface FactoryImplementation<T> {
  readonly factory: Factory<T>;
  readonly deps?: readonly ServiceKey<unknown>[];
}

/** A service that already exists: a singleton the container hands out but never disposes. */
export interface ValueImplementation<T> {
  readonly value: T;
}

/** The ways to provide a service for a key. */
export type Implementation<T> = Injectable<T> | FactoryImplementation<T> | ValueImplementation<T>;

/** One registration, as the container stores it. Internal. */
export interface Registration {
  readonly key: ServiceKey<unknown>;
  readonly name: string;
  readonly lifetime: Lifetime;
  /** Dependencies known before anything runs; `undefined` for an opaque factory. */
  readonly deps: readonly ServiceKey<unknown>[] | undefined;
  /** Builds the instance given a function resolving each dependency. */
  readonly create: (services: ServiceProvider) => unknown;
  /** True for `{ value }` registrations: never constructed, never disposed by the container. */
  readonly external: boolean;
}

/** Turns a key plus implementation into a {@link Registration}, checking what can be checked at registration. */
export function toRegistration<T>(
  key: ServiceKey<T>,
  lifetime: Lifetime,
  impl: Implementation<T>,
): Registration {
  const name = keyName(key);
  if (typeof impl === 'function') {
    const deps = impl.inject ?? [];
    if (impl.length > deps.length) {
      throw new HostworkError(
        ErrorCodes.DI_INVALID_REGISTRATION,
        `Class '${impl.name}' (registered for '${name}') takes ${impl.length} constructor parameter(s) but declares ${deps.length} in 'static inject'. Fix: list the key of every parameter, in order: static inject = [A, B] as const.`,
      );
    }
    deps.forEach((dep, i) => {
      if (dep === undefined || dep === null) {
        throw new HostworkError(
          ErrorCodes.DI_INVALID_REGISTRATION,
          `Class '${impl.name}' has an undefined entry at index ${i} of 'static inject'. This usually means a circular import: the key was used before its module finished loading.`,
        );
      }
    });
    const ctor = impl as unknown as new (...args: unknown[]) => T;
    return {
      key,
      name,
      lifetime,
      deps,
      external: false,
      create: (services) => new ctor(...deps.map((dep) => services.get(dep))),
    };
  }
  if ('factory' in impl) {
    return { key, name, lifetime, deps: impl.deps, external: false, create: impl.factory };
  }
  if ('value' in impl) {
    if (lifetime !== 'singleton') {
      throw new HostworkError(
        ErrorCodes.DI_INVALID_REGISTRATION,
        `'${name}' is registered with a fixed value but lifetime '${lifetime}'. A value is one instance: register it as a singleton.`,
      );
    }
    const value = impl.value;
    return { key, name, lifetime, deps: [], external: true, create: () => value };
  }
  throw new HostworkError(
    ErrorCodes.DI_INVALID_REGISTRATION,
    `Registration of '${name}' needs a class, { factory }, or { value }.`,
  );
}
