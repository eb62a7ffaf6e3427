/**
 * A typed key for a service that is not a class (an interface, a function, options, a value).
 * The type parameter exists only at compile time: `container.get(token)` returns `T`.
 *
 * @example
 * ```ts
 * interface Clock { now(): Date }
 * export const Clock = createToken<Clock>('Clock');
 * ```
 */
export interface Token<T> {
  /** Human-readable name, used in every error message about this service. */
  readonly name: string;
  /** Unique identity: two tokens with the same name are still different services. */
  readonly id: symbol;
  /** Phantom field carrying `T`; never set at run time. */
  readonly __type?: T;
}

/** Creates a {@link Token} for a service of type `T`. */
export function createToken<T>(name: string): Token<T> {
  return Object.freeze({ name, id: Symbol(name) });
}

/** A class constructor usable as a service key. `abstract` classes are allowed as keys. */
// biome-ignore lint/suspicious/noExplicitAny: constructor parameter lists are checked at registration, not here.
export type Constructor<T> = abstract new (...args: any[]) => T;

/** Anything that identifies a service: a {@link Token} or a class. */
export type ServiceKey<T> = Token<T> | Constructor<T>;

/** The service type a key stands for. */
export type ServiceOf<K> = K extends ServiceKey<infer T> ? T : never;

/** Maps a tuple of keys to the tuple of their service types (used to type constructor parameters). */
export type ServicesOf<K extends readonly ServiceKey<unknown>[]> = {
  -readonly [I in keyof K]: ServiceOf<K[I]>;
};

/** The display name of a key, for messages. */
export function keyName(key: ServiceKey<unknown>): string {
  return typeof key === 'function' ? key.name || '(anonymous class)' : key.name;
}
