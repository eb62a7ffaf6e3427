import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { Token } from '../di/token.ts';
import { ErrorCodes, HostworkError } from '../errors.ts';
import type { ConfigSection, Configuration } from './configuration.ts';
import { caseInsensitive, coerce, getAt, NOT_COERCIBLE, type Path, setAt, withoutProxies } from './values.ts';

/**
 * A typed key for options bound from a configuration section and validated by a Standard Schema
 * (zod, valibot, arktype, ...). It is a {@link Token}, so the validated value can be registered in DI.
 */
export interface OptionsToken<T> extends Token<T> {
  /** The configuration section the options are bound from, e.g. `'Smtp'` or `'Mail:Smtp'`. */
  readonly section: string;
  /** Validates the section and gives the options value. */
  readonly schema: StandardSchemaV1<unknown, T>;
}

/** The option values of a list of tokens, in the same order. */
export type OptionsValues<T extends readonly OptionsToken<unknown>[]> = {
  -readonly [I in keyof T]: T[I] extends OptionsToken<infer V> ? V : never;
};

/**
 * Declares options bound from `section` and validated by `schema`.
 *
 * @example
 * ```ts
 * const SmtpOptions = defineOptions('Smtp', z.object({ Host: z.string(), Port: z.number().default(25) }));
 * const smtp = await bindOptions(configuration, SmtpOptions); // { Host: string; Port: number }
 * ```
 */
export function defineOptions<T>(section: string, schema: StandardSchemaV1<unknown, T>): OptionsToken<T> {
  const name = `Options<${section}>`;
  return Object.freeze({ name, id: Symbol(name), section, schema });
}

/**
 * Validates the options' section (`{}` when unset) and returns the value the schema gives.
 * Strings that the schema rejects are retried as booleans, numbers or JSON, because environment variables and
 * command-line arguments can only give strings and a Standard Schema cannot be asked what type it wants.
 * Throws `HW_CONFIG_INVALID` listing every problem with its key, value and origin. Values appear in the
 * message, so do not log it where a rejected secret must not appear.
 */
export async function bindOptions<T>(configuration: Configuration, token: OptionsToken<T>): Promise<T> {
  const outcome = await validateSection(configuration, token);
  if (outcome.ok) return outcome.value;
  throw new HostworkError(ErrorCodes.CONFIG_INVALID, outcome.report);
}

/**
 * Validates the options of every token and returns their values in the same order. Throws one
 * `HW_CONFIG_INVALID` error listing the problems of all sections, so that they can be fixed in one go.
 */
export async function bindAllOptions<const T extends readonly OptionsToken<unknown>[]>(
  configuration: Configuration,
  tokens: T,
): Promise<OptionsValues<T>> {
  const outcomes = await Promise.all(tokens.map((token) => validateSection(configuration, token)));
  const reports = outcomes.flatMap((o) => (o.ok ? [] : [o.report]));
  if (reports.length === 1) throw new HostworkError(ErrorCodes.CONFIG_INVALID, reports[0]!);
  if (reports.length > 1) {
    const header = `Invalid configuration: ${reports.length} of ${tokens.length} options sections failed validation.`;
    throw new HostworkError(ErrorCodes.CONFIG_INVALID, [header, ...reports].join('\n\n'));
  }
  return outcomes.map((o) => (o.ok ? o.value : undefined)) as OptionsValues<T>;
}

type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly report: string };

interface Coercion {
  readonly path: Path;
  readonly value: unknown;
  /** The schema rejected the string for its type, so the coerced value is the one to report on. */
  readonly sure: boolean;
}

/** Each round coerces the strings of the issues found so far; nested schemas may reveal new issues. */
const MAX_ROUNDS = 3;
const MAX_VALUE_LENGTH = 60;

async function validateSection<T>(configuration: Configuration, token: OptionsToken<T>): Promise<Outcome<T>> {
  const section = configuration.section(token.section);
  const original: unknown = section.value ?? {};
  const validate = async (value: unknown) => await token.schema['~standard'].validate(caseInsensitive(value));
  let input: unknown = original;
  let result = await validate(input);
  const tried = new Set<string>();
  for (let round = 0; round < MAX_ROUNDS && result.issues; round++) {
    const coercions: Coercion[] = [];
    for (const issue of result.issues) {
      const path = pathOf(issue);
      const id = idOf(path);
      const current = getAt(input, path);
      const verdict = typeVerdict(issue);
      if (tried.has(id) || typeof current !== 'string' || verdict === 'accepted') continue;
      tried.add(id);
      const value = coerce(current);
      if (value !== NOT_COERCIBLE) coercions.push({ path, value, sure: verdict === 'rejected' });
    }
    if (coercions.length === 0) break;
    const trial = apply(input, coercions);
    const trialResult = await validate(trial);
    if (!trialResult.issues) return { ok: true, value: withoutProxies(trialResult.value) as T };
    // Unless the schema said it rejects strings there, keep only coercions that fixed their value: turning a
    // too-short password '1234' into 1234 would replace the real problem with a misleading "expected string".
    const kept = coercions.filter(
      (c) => c.sure || !trialResult.issues.some((i) => startsWith(pathOf(i), c.path)),
    );
    if (kept.length === coercions.length) {
      input = trial;
      result = trialResult;
    } else if (kept.length > 0) {
      input = apply(input, kept);
      result = await validate(input);
    }
  }
  if (!result.issues) return { ok: true, value: withoutProxies(result.value) as T };
  const name = token.section || '(root)';
  const count = result.issues.length;
  return {
    ok: false,
    report: [
      `Invalid configuration for options '${name}' (${count} problem${count === 1 ? '' : 's'}):`,
      ...result.issues.map((issue) => `  ${describeIssue(section, original, input, issue)}`),
      `Fix the value at its origin, or change the schema of options '${name}'.`,
    ].join('\n'),
  };
}

function describeIssue(
  section: ConfigSection,
  original: unknown,
  input: unknown,
  issue: StandardSchemaV1.Issue,
): string {
  const path = pathOf(issue);
  const key = section.keyOf(path) || '(root)';
  const value = getAt(input, path);
  const origin = section.originOf(path);
  if (value === undefined || origin === undefined) return `${key}: ${issue.message} (not set in any source)`;
  // Show what the user wrote, not our coerced version of it.
  const shown = getAt(original, path) ?? value;
  return `${key}: ${issue.message} (value ${show(shown)} from ${origin})`;
}

function pathOf(issue: StandardSchemaV1.Issue): Path {
  return (issue.path ?? []).map((segment) => (typeof segment === 'object' ? segment.key : segment));
}

/**
 * Whether an issue says the value's type was accepted (a constraint such as a minimum length failed) or
 * rejected. Standard Schema has no such field, so this reads the fields of the common vendors (zod's `code`,
 * valibot's `kind`); for others the answer is 'unknown'.
 */
function typeVerdict(issue: StandardSchemaV1.Issue): 'accepted' | 'rejected' | 'unknown' {
  const { code, kind } = issue as { code?: unknown; kind?: unknown };
  if (kind === 'schema' || code === 'invalid_type' || code === 'invalid_value' || code === 'invalid_union') {
    return 'rejected';
  }
  if (kind === 'validation' || (typeof code === 'string' && TYPE_ACCEPTED_CODES.has(code))) return 'accepted';
  return 'unknown';
}

const TYPE_ACCEPTED_CODES = new Set(['too_small', 'too_big', 'invalid_format', 'not_multiple_of', 'custom']);

/** Path comparison ignoring case, as configuration keys do. */
function idOf(path: Path): string {
  return JSON.stringify(path.map((segment) => String(segment).toLowerCase()));
}

function startsWith(path: Path, prefix: Path): boolean {
  return prefix.length <= path.length && idOf(path.slice(0, prefix.length)) === idOf(prefix);
}

function apply(root: unknown, coercions: readonly Coercion[]): unknown {
  return coercions.reduce((acc, c) => setAt(acc, c.path, c.value), root);
}

function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > MAX_VALUE_LENGTH ? `${text.slice(0, MAX_VALUE_LENGTH - 1)}…` : text;
}
