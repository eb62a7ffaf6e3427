import type { ServiceKey } from './token.ts';
import { createToken } from './token.ts';

/** Resolves services: what a factory receives, what {@link Scope.services} is, and injectable by its key. */
export interface ServiceProvider {
  /** Returns the service for `key`, creating it if its lifetime requires. Throws when it is not registered. */
  get<T>(key: ServiceKey<T>): T;
  /** Like {@link ServiceProvider.get}, but returns `undefined` when nothing is registered for `key`. */
  tryGet<T>(key: ServiceKey<T>): T | undefined;
}

/**
 * The key of the current provider: the scope's provider inside a scope, the root provider in a singleton.
 * Prefer declared dependencies; this exists for code that must decide what to resolve at run time.
 */
export const ServiceProvider = createToken<ServiceProvider>('ServiceProvider');
