import { type ConfigEntry, type ConfigSource, isPlainObject, KEY_SEPARATOR } from './source.ts';
import { defineValue } from './values.ts';

/** A part of the configuration as a plain value, plus where each of its values came from. */
export interface ConfigSection {
  /** The full key of the section, in the casing of the first source that defined it. */
  readonly key: string;
  /**
   * The section as a nested plain object (children indexed 0, 1, 2, ... become an array), a single value
   * when the key is a leaf, or `undefined` when nothing is set. A fresh copy on every `section()` call.
   */
  readonly value: unknown;
  /** The full configuration key of a path inside the section: `['Port']` in section `Smtp` is `'Smtp:Port'`. */
  keyOf(path: readonly PropertyKey[]): string;
  /**
   * Where the value at a path inside the section came from. For a path to an object, the distinct origins
   * of the values inside it; `undefined` when nothing is set there.
   */
  originOf(path: readonly PropertyKey[]): string | undefined;
}

interface StoredEntry {
  /** The key in the casing of the first source that defined each of its sections. */
  readonly key: string;
  readonly value: unknown;
  readonly origin: string;
}

interface Node {
  readonly name: string;
  readonly children: Map<string, Node>;
  entry?: StoredEntry;
}

/**
 * The merged configuration of several sources, later sources overriding earlier ones key by key.
 * Keys are case-insensitive ('smtp:port' is 'Smtp:Port'), as in .NET, so that `SMTP__PORT` overrides `Smtp.Port`
 * of a JSON file; the casing shown is the one of the first source that defined the key, i.e. usually the
 * defaults in code or the file, not the upper-case environment variable. (Options binding reads keys ignoring
 * case too, so the schema's casing is what options end up with.) Arrays merge by index: `HOSTS__1=b` replaces
 * only the second element of a `Hosts` array from a file.
 */
export class Configuration {
  /** Keyed by lower-case key; insertion order is the order in which keys were first defined. */
  readonly #entries = new Map<string, StoredEntry>();
  /** Lower-case key prefix → casing of its last segment, fixed by the first definition. */
  readonly #casing = new Map<string, string>();

  /** Loads every source in order; later sources win. */
  constructor(sources: Iterable<ConfigSource> = []) {
    for (const source of sources) {
      for (const entry of source.load()) this.#set(entry);
    }
  }

  /** Same as `new Configuration(sources)`. */
  static fromSources(sources: Iterable<ConfigSource>): Configuration {
    return new Configuration(sources);
  }

  /** The value of a key (`'Smtp:Port'`), or `undefined`. A section with values below it has no value itself. */
  get(key: string): unknown {
    return this.#entries.get(normalize(key))?.value;
  }

  /** Where the value of a key came from (e.g. `'environment variable SMTP__PORT'`), or `undefined` if unset. */
  origin(key: string): string | undefined {
    return this.#entries.get(normalize(key))?.origin;
  }

  /** True when the key has a value or is a section with values below it. */
  has(key: string): boolean {
    const wanted = normalize(key);
    if (this.#entries.has(wanted)) return true;
    const prefix = wanted + KEY_SEPARATOR;
    for (const k of this.#entries.keys()) if (k.startsWith(prefix)) return true;
    return false;
  }

  /** Every key that has a value, in the casing and order of its first definition. */
  keys(): string[] {
    return Array.from(this.#entries.values(), (e) => e.key);
  }

  /** The section at `name` (e.g. `'Smtp'` or `'Smtp:Tls'`; `''` is the whole configuration). */
  section(name: string): ConfigSection {
    const prefix = normalize(name);
    const depth = prefix === '' ? 0 : prefix.split(KEY_SEPARATOR).length;
    const root: Node = { name: '', children: new Map() };
    for (const [lowerKey, entry] of this.#entries) {
      if (prefix !== '' && lowerKey !== prefix && !lowerKey.startsWith(prefix + KEY_SEPARATOR)) continue;
      let node = root;
      for (const segment of entry.key.split(KEY_SEPARATOR).slice(depth)) {
        const id = segment.toLowerCase();
        let child = node.children.get(id);
        if (!child) {
          child = { name: segment, children: new Map() };
          node.children.set(id, child);
        }
        node = child;
      }
      node.entry = entry;
    }
    const keyOf = (path: readonly PropertyKey[]) =>
      this.#display([...(name === '' ? [] : name.split(KEY_SEPARATOR)), ...path.map(String)]);
    return {
      key: keyOf([]),
      value: toValue(root),
      keyOf,
      originOf: (path) => this.#originOf(normalize(keyOf(path))),
    };
  }

  #set(entry: ConfigEntry): void {
    if (entry.key === '') return;
    this.#entries.set(normalize(entry.key), {
      key: this.#display(entry.key.split(KEY_SEPARATOR), true),
      value: entry.value,
      origin: entry.origin,
    });
  }

  /** Applies the remembered casing to each segment; with `remember`, unknown segments fix their casing. */
  #display(segments: readonly string[], remember = false): string {
    let prefix = '';
    return segments
      .map((segment) => {
        prefix = prefix === '' ? segment.toLowerCase() : `${prefix}${KEY_SEPARATOR}${segment.toLowerCase()}`;
        const known = this.#casing.get(prefix);
        if (known !== undefined) return known;
        if (remember) this.#casing.set(prefix, segment);
        return segment;
      })
      .join(KEY_SEPARATOR);
  }

  #originOf(lowerKey: string): string | undefined {
    const exact = this.#entries.get(lowerKey);
    if (exact) return exact.origin;
    const below = new Set<string>();
    for (const [k, e] of this.#entries) {
      if (lowerKey === '' || k.startsWith(lowerKey + KEY_SEPARATOR)) below.add(e.origin);
    }
    if (below.size > 0) {
      const list = [...below];
      return list.length <= 3
        ? list.join(', ')
        : `${list.slice(0, 3).join(', ')} and ${list.length - 3} more`;
    }
    // A path inside a value that was a JSON string (e.g. `HOSTS='["a"]'`): the origin is the string's.
    const segments = lowerKey.split(KEY_SEPARATOR);
    for (let n = segments.length - 1; n > 0; n--) {
      const ancestor = this.#entries.get(segments.slice(0, n).join(KEY_SEPARATOR));
      if (ancestor) return ancestor.origin;
    }
    return undefined;
  }
}

function normalize(key: string): string {
  return key.toLowerCase();
}

const INDEX = /^(0|[1-9]\d*)$/;

function toValue(node: Node): unknown {
  if (node.children.size === 0) return node.entry ? copyLeaf(node.entry.value) : undefined;
  // When a key has both a value and children (set by different sources), the children win.
  const children = [...node.children.values()];
  const indices = children.map((c) => (INDEX.test(c.name) ? Number(c.name) : -1));
  if (indices.every((i) => i >= 0 && i < children.length)) {
    const array: unknown[] = [];
    children.forEach((child, n) => {
      array[indices[n]!] = toValue(child);
    });
    return array;
  }
  const object: Record<string, unknown> = {};
  for (const child of children) {
    defineValue(object, child.name, toValue(child));
  }
  return object;
}

/** Empty objects and arrays are stored as values; hand out copies so callers cannot change the stored ones. */
function copyLeaf(value: unknown): unknown {
  if (Array.isArray(value) && value.length === 0) return [];
  if (isPlainObject(value) && Object.keys(value).length === 0) return {};
  return value;
}
