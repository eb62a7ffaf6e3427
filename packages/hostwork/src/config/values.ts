/**
 * Helpers for options binding that work on section values (plain objects and arrays from
 * `Configuration.section()`): case-insensitive access, string coercion and copying updates.
 * Internal to the config module.
 */
import { isPlainObject } from './source.ts';

/** A path inside a section value, as found in a Standard Schema issue. */
export type Path = readonly PropertyKey[];

/** Returned by {@link coerce} when a string has no other reading. */
export const NOT_COERCIBLE: unique symbol = Symbol('not coercible');

/** 'true'/'false' → boolean, a decimal number → number, JSON array/object text → its value. */
export function coerce(text: string): unknown {
  const trimmed = text.trim();
  if (/^(true|false)$/i.test(trimmed)) return trimmed.toLowerCase() === 'true';
  if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(trimmed)) {
    const number = Number(trimmed);
    return Number.isFinite(number) ? number : NOT_COERCIBLE;
  }
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    try {
      return JSON.parse(trimmed);
    } catch {
      return NOT_COERCIBLE;
    }
  }
  return NOT_COERCIBLE;
}

/** The own key of `object` that `key` stands for, ignoring case as configuration keys do. */
function ownKey(object: object, key: PropertyKey): PropertyKey | undefined {
  if (Object.hasOwn(object, key)) return key;
  if (typeof key !== 'string' || Array.isArray(object)) return undefined;
  const lower = key.toLowerCase();
  return Object.keys(object).find((k) => k.toLowerCase() === lower);
}

/** The value at a path, keys compared ignoring case; `undefined` when the path does not exist. */
export function getAt(root: unknown, path: Path): unknown {
  let current = root;
  for (const segment of path) {
    const key = typeof current === 'object' && current !== null ? ownKey(current, segment) : undefined;
    if (key === undefined) return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/** A copy of `root` with the value at an existing path replaced; copies so that a change can be dropped. */
export function setAt(root: unknown, path: Path, value: unknown): unknown {
  const [head, ...rest] = path;
  if (head === undefined || typeof root !== 'object' || root === null) return value;
  const key = ownKey(root, head);
  if (key === undefined) return value;
  const copy = (Array.isArray(root) ? [...root] : { ...root }) as Record<PropertyKey, unknown>;
  defineValue(copy, key, setAt(copy[key], rest, value));
  return copy;
}

/** Proxy → the object it wraps, to hand out plain objects again. */
const wrapped = new WeakMap<object, object>();

/**
 * Wraps every plain object in a proxy whose property reads ignore case. Validators read the keys their schema
 * declares (`input.Port`), so `SMTP__PORT` binds to `Port` although no source spelt it that way, as in .NET.
 */
export function caseInsensitive(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(caseInsensitive);
  if (!isPlainObject(value)) return value;
  const target: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) defineValue(target, k, caseInsensitive(v));
  const find = (key: PropertyKey) => ownKey(target, key) ?? key;
  const proxy = new Proxy(target, {
    get: (t, key, receiver) => Reflect.get(t, find(key), receiver),
    has: (t, key) => Reflect.has(t, find(key)),
    getOwnPropertyDescriptor: (t, key) => Reflect.getOwnPropertyDescriptor(t, find(key)),
  });
  wrapped.set(proxy, target);
  return proxy;
}

/** Replaces the proxies of {@link caseInsensitive} that a schema passed through (e.g. a loose object) by copies. */
export function withoutProxies(value: unknown): unknown {
  const plain = (typeof value === 'object' && value !== null && wrapped.get(value)) || value;
  if (Array.isArray(plain)) return plain.map(withoutProxies);
  if (!isPlainObject(plain)) return plain;
  const copy: Record<string, unknown> = Object.create(Object.getPrototypeOf(plain));
  for (const [k, v] of Object.entries(plain)) defineValue(copy, k, withoutProxies(v));
  return copy;
}

/** Sets a property so that a key named `__proto__` stays a plain key. */
export function defineValue(object: object, key: PropertyKey, value: unknown): void {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
}
