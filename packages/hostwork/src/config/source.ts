import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';

/** Separates sections in a configuration key: `'Smtp:Port'` is `Port` inside section `Smtp`. */
export const KEY_SEPARATOR = ':';

/** One value read from a source. */
export interface ConfigEntry {
  /** The full key, sections separated by `':'` (e.g. `'Smtp:Port'`). */
  readonly key: string;
  /** The value; environment variables and command-line arguments always give strings. */
  readonly value: unknown;
  /** Where the value came from, for error messages (e.g. `'environment variable SMTP__PORT'`). */
  readonly origin: string;
}

/** A provider of configuration entries (a file, the environment, the command line, an object in code). */
export interface ConfigSource {
  /** Short description of the source, e.g. `'file /app/hostwork.json'`. */
  readonly name: string;
  /** Reads the entries. Called once when a {@link Configuration} is built. */
  load(): Iterable<ConfigEntry>;
}

/**
 * A source over a nested object; objects and arrays are flattened into keys like `'Hosts:0:Name'`.
 * Empty objects and arrays are kept as values so that a schema still sees them.
 */
export function objectSource(
  obj: Readonly<Record<string, unknown>>,
  name = 'defaults in code',
): ConfigSource {
  return { name, load: () => flatten(obj, '', name) };
}

/** Options of {@link jsonFileSource}. */
export interface JsonFileSourceOptions {
  /** When true, a missing file gives no entries instead of an error. Default: false. */
  readonly optional?: boolean;
}

/**
 * A source over a JSON file holding one object. The file is read by `load()`, not here.
 * A missing file is an error unless `optional`; an unreadable or malformed file is always an error
 * (code `HW_CONFIG_FILE`), because silently ignoring a broken file would run the app with the wrong settings.
 */
export function jsonFileSource(path: string, options: JsonFileSourceOptions = {}): ConfigSource {
  assertKnownKeys('jsonFileSource() options', options, ['optional']);
  const fullPath = resolve(path);
  const name = `file ${fullPath}`;
  return {
    name,
    load() {
      let text: string;
      try {
        text = readFileSync(fullPath, 'utf8');
      } catch (error) {
        if (isNodeError(error) && error.code === 'ENOENT') {
          if (options.optional) return [];
          throw fileError(
            fullPath,
            'the file does not exist. Create it, or add the source with { optional: true }',
            error,
          );
        }
        throw fileError(fullPath, `${errorMessage(error)}. Fix the file's permissions or path`, error);
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (error) {
        throw fileError(fullPath, `invalid JSON (${errorMessage(error)}). Fix or remove the file`, error);
      }
      if (!isPlainObject(parsed)) {
        const found = parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : typeof parsed;
        throw fileError(
          fullPath,
          `the top level must be a JSON object, found ${found}. Fix or remove the file`,
        );
      }
      return flatten(parsed, '', name);
    },
  };
}

/** Options of {@link envSource}. */
export interface EnvSourceOptions {
  /** Only variables starting with this prefix (compared ignoring case) are taken; the prefix is stripped. */
  readonly prefix?: string;
}

/**
 * A source over environment variables. `__` separates sections because `:` is not allowed in variable
 * names on every shell: `SMTP__PORT=25` sets `'SMTP:PORT'`.
 */
export function envSource(
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: EnvSourceOptions = {},
): ConfigSource {
  assertKnownKeys('envSource() options', options, ['prefix']);
  const prefix = options.prefix ?? '';
  return {
    name: prefix ? `environment variables ${prefix}*` : 'environment variables',
    *load() {
      for (const [variable, value] of Object.entries(env)) {
        if (value === undefined) continue;
        // Case-insensitive like keys; Windows variable names are case-insensitive anyway.
        if (variable.slice(0, prefix.length).toLowerCase() !== prefix.toLowerCase()) continue;
        const key = variable.slice(prefix.length).replaceAll('__', KEY_SEPARATOR);
        if (key) yield { key, value, origin: `environment variable ${variable}` };
      }
    },
  };
}

/**
 * A source over command-line arguments (pass `process.argv.slice(2)`). Accepts `--Smtp:Port=25`,
 * `--Smtp__Port=25` and `--Smtp:Port 25`; a `--Flag` followed by another `--option` or by nothing is `'true'`.
 * Positional arguments, and everything after a bare `--`, are ignored.
 */
export function argsSource(argv: readonly string[]): ConfigSource {
  return {
    name: 'command line',
    *load() {
      for (let i = 0; i < argv.length; i++) {
        const arg = argv[i]!;
        if (arg === '--') return;
        if (!arg.startsWith('--')) continue;
        const equals = arg.indexOf('=');
        const written = equals === -1 ? arg : arg.slice(0, equals);
        const key = written.slice(2).replaceAll('__', KEY_SEPARATOR);
        if (!key) continue;
        let value: string;
        if (equals !== -1) {
          value = arg.slice(equals + 1);
        } else {
          const next = argv[i + 1];
          if (next === undefined || next.startsWith('--')) {
            value = 'true';
          } else {
            value = next;
            i++;
          }
        }
        yield { key, value, origin: `command line ${written}` };
      }
    },
  };
}

/** True for `{}`-like objects; class instances (Date, URL, ...) are values, not sections. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function* flatten(value: unknown, key: string, origin: string): Generator<ConfigEntry> {
  const children = Array.isArray(value)
    ? value.map((v, i) => [String(i), v] as const)
    : isPlainObject(value)
      ? Object.entries(value)
      : undefined;
  if (children === undefined || (children.length === 0 && key !== '')) {
    if (key !== '') yield { key, value, origin };
    return;
  }
  for (const [childKey, child] of children) {
    yield* flatten(child, key ? `${key}${KEY_SEPARATOR}${childKey}` : childKey, origin);
  }
}

function fileError(path: string, problem: string, cause?: unknown): HostworkError {
  return new HostworkError(
    ErrorCodes.CONFIG_FILE,
    `Cannot load configuration file ${path}: ${problem}.`,
    cause === undefined ? undefined : { cause },
  );
}

function isNodeError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && 'code' in error;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
