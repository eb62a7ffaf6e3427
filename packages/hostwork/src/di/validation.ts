import { ErrorCodes, HostworkError } from '../errors.ts';
import type { Registration } from './registration.ts';
import { ScopeFactory } from './scope.ts';
import { ServiceProvider } from './service-provider.ts';
import type { ServiceKey } from './token.ts';
import { keyName } from './token.ts';

/** The error for the seed's first mistake: a scoped service captured by a singleton. */
export function scopedInSingletonError(
  scoped: Registration,
  singleton: Registration,
  chain: readonly Registration[],
): HostworkError {
  const path = chain.map((r) => r.name).join(' → ');
  return new HostworkError(
    ErrorCodes.DI_SCOPED_IN_SINGLETON,
    `Cannot consume scoped service '${scoped.name}' from singleton '${singleton.name}' (${path}). ` +
      `A singleton lives as long as the application, so it would hold one '${scoped.name}' forever. ` +
      `Fix: inject ScopeFactory into '${singleton.name}' and create a scope per unit of work: ` +
      `await using scope = scopes.createScope(); scope.services.get(${scoped.name}).`,
  );
}

/**
 * Walks the declared dependency graph of every registration before anything runs, and throws the first problem:
 * a missing registration (with the chain that asked for it), a cycle, or a scoped service reachable from a singleton.
 * Opaque factories (no `deps`) are checked when they run instead.
 */
export function validateGraph(
  registrations: readonly Registration[],
  lookup: (key: ServiceKey<unknown>) => Registration | undefined,
): void {
  // Subtrees already checked without error. What a subtree may contain depends only on whether it is walked
  // inside a singleton, and only for a transient: a singleton's or a scoped service's own lifetime decides the rules
  // below it. (Re-walking every subtree under every singleton, as before, was exponential on shared dependencies.)
  const done = new Set<Registration>();
  const doneUnderSingleton = new Set<Registration>();
  const visit = (r: Registration, chain: Registration[], singleton: Registration | undefined): void => {
    if (chain.includes(r)) {
      const cycle = [...chain.slice(chain.indexOf(r)), r].map((x) => x.name).join(' → ');
      throw new HostworkError(
        ErrorCodes.DI_CYCLE,
        `Circular dependency: ${cycle}. Fix: break the cycle, e.g. by resolving one side lazily through ServiceProvider.`,
      );
    }
    const path = [...chain, r];
    if (r.lifetime === 'scoped' && singleton) throw scopedInSingletonError(r, singleton, path);
    const checked = r.lifetime === 'transient' && singleton ? doneUnderSingleton : done;
    if (checked.has(r)) return;
    const owner = r.lifetime === 'singleton' ? r : r.lifetime === 'scoped' ? undefined : singleton;
    for (const dep of r.deps ?? []) {
      if (dep === ScopeFactory || dep === ServiceProvider) continue;
      const target = lookup(dep);
      if (!target) {
        throw new HostworkError(
          ErrorCodes.DI_MISSING,
          `No service is registered for '${keyName(dep)}' (required by ${[...path.map((x) => x.name), keyName(dep)].join(' → ')}). Fix: register it, e.g. services.addSingleton(${keyName(dep)}, ...).`,
        );
      }
      visit(target, path, owner);
    }
    checked.add(r);
  };
  for (const r of registrations) visit(r, [], undefined);
}
