/**
 * Turns whatever user code threw or rejected with into a message and a stack the engine can store and log.
 *
 * JavaScript lets a handler throw anything: an Error, a string, `null`, a BigInt, a Symbol, a null-prototype object,
 * an object whose getters throw, a Proxy whose every trap throws. The engine must settle the attempt whatever it is,
 * so this function is total: it never throws, and when nothing can be read from the value it falls back to a fixed
 * text naming the value's type. What it returns is also storable everywhere: well-formed Unicode without NUL
 * characters (PostgreSQL's `jsonb` and `text` refuse both) and bounded in length.
 */

/** What a thrown value is stored and logged as. */
export interface ThrownDescription {
  readonly message: string;
  /** The value's own stack, when it has a readable string one (an Error's). */
  readonly stack?: string;
}

/** Longest message or stack kept; the rest is cut with a note (a handler may throw a huge string). */
export const MAX_THROWN_TEXT = 16_384;

/** Describes a thrown value; never throws. */
export function describeThrown(value: unknown): ThrownDescription {
  try {
    return describe(value);
  } catch {
    return { message: unreadable(value) };
  }
}

function describe(value: unknown): ThrownDescription {
  switch (typeof value) {
    case 'string':
      return { message: value === '' ? 'an empty string was thrown' : storable(value) };
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'symbol':
    case 'undefined':
      // String() handles a Symbol and a BigInt (a template literal would throw on a Symbol).
      return { message: `a ${typeof value} was thrown: ${String(value)}` };
    case 'function':
      return { message: `a function was thrown: ${storable(String(read(value, 'name') ?? '(anonymous)'))}` };
    default:
      break;
  }
  if (value === null || value === undefined) return { message: 'null was thrown' };
  const message = read(value, 'message');
  const stack = read(value, 'stack');
  const stackText = typeof stack === 'string' && stack !== '' ? storable(stack) : undefined;
  if (typeof message === 'string') {
    // An error's code (HW_..., ECONNREFUSED, a SQLSTATE) is what callers branch on: keep it with the message.
    const code = read(value, 'code');
    const suffix =
      typeof code === 'string' && code !== '' && !message.includes(code) ? ` [${storable(code)}]` : '';
    const text = (message === '' ? nameOf(value) : storable(message)) + suffix;
    return stackText ? { message: text, stack: stackText } : { message: text };
  }
  // Not Error-like: show what the object holds, as JSON where possible (a plain object thrown by mistake).
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    json = undefined;
  }
  const text = json !== undefined && json !== '{}' ? `${nameOf(value)}: ${storable(json)}` : nameOf(value);
  return stackText ? { message: text, stack: stackText } : { message: text };
}

/** Reads a property, or undefined when reading throws (a getter, a Proxy trap). */
function read(value: unknown, key: string): unknown {
  try {
    return (value as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

/** "an object of class X was thrown", or of no class for a null-prototype object; never throws. */
function nameOf(value: object): string {
  let name: unknown;
  try {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto === null) return 'an object with no prototype was thrown';
    name = read(read(proto, 'constructor'), 'name');
  } catch {
    return unreadable(value);
  }
  return typeof name === 'string' && name !== ''
    ? `an object of class ${storable(name)} was thrown`
    : 'an object was thrown';
}

function unreadable(value: unknown): string {
  return `a value of type ${typeof value} was thrown that cannot be read (reading it throws)`;
}

/** Well-formed, NUL-free and at most MAX_THROWN_TEXT characters. */
export function storable(text: string): string {
  let s =
    text.length > MAX_THROWN_TEXT
      ? `${text.slice(0, MAX_THROWN_TEXT)}… (cut at ${MAX_THROWN_TEXT} characters)`
      : text;
  if (!s.isWellFormed()) s = s.toWellFormed();
  return s.includes('\0') ? s.replaceAll('\0', '\uFFFD') : s;
}
