import type { ServiceProvider } from './service-provider.ts';
import { createToken } from './token.ts';

/**
 * A unit of work with its own scoped services (a job attempt, a request, one cycle of a periodic task).
 * Disposing it disposes, in reverse creation order, every scoped and transient instance it created.
 *
 * @example
 * ```ts
 * await using scope = scopes.createScope();
 * const db = scope.services.get(DbContext);
 * ```
 */
export interface Scope extends AsyncDisposable {
  /** Resolves services inside this scope. */
  readonly services: ServiceProvider;
  /** Disposes the scope; the same as `await scope[Symbol.asyncDispose]()`. Safe to call twice. */
  dispose(): Promise<void>;
}

/** Creates scopes. Inject it into singletons (hosted services) that need scoped services. */
export interface ScopeFactory {
  /** Opens a new scope; dispose it (`await using`) when the unit of work ends. */
  createScope(): Scope;
}

/** The key of the {@link ScopeFactory}, always registered by the container. */
export const ScopeFactory = createToken<ScopeFactory>('ScopeFactory');
