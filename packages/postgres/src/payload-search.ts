/**
 * The payload filter on PostgreSQL (`list` and `purge` with `payload: { path, equals }`): the payload read as jsonb,
 * the containment conditions a GIN index can serve, and that index, which the store does not create by itself (see
 * {@link payloadIndexSql}).
 *
 * The payload column is text (stored as given, see the migrations), so the filter reads it through one expression,
 * {@link PAYLOAD_JSONB}; an index on exactly that expression serves `@>` on it. A field is matched in two steps: the
 * containment `payload @> ANY(candidates)` (the index's part; without the index a plain check), then the exact
 * comparison of the field's text (`#>>`), which keeps the documented semantics: the containment only narrows.
 */
import type { PayloadFilter } from 'hostwork';

/**
 * The payload as jsonb, or NULL for a payload jsonb cannot hold: a `\u0000` escape or a lone surrogate escape, both
 * valid JSON (JSON.stringify writes them for a NUL character or a lone surrogate) that jsonb refuses. Without this
 * guard, an index on `payload::jsonb` would make enqueueing such a payload fail, and a filter scanning past one would
 * fail too. (A payload holding the six characters `\u0000` as text, escaped as `\\u0000`, is skipped as well: the
 * guard does not count backslashes.) `strpos` first: most payloads have no `\u` at all, and skip the regex.
 */
export const PAYLOAD_JSONB = String.raw`(CASE WHEN strpos(payload, '\u') = 0 OR payload !~ '\\u0000|\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])|(?<![dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F]' THEN payload::jsonb END)`;

/** The name of the payload index, in the store's schema. */
export const PAYLOAD_INDEX = 'jobs_payload';

/**
 * The statement creating the payload index of `schema` (a validated, quoted schema name): a GIN index with
 * `jsonb_path_ops` on {@link PAYLOAD_JSONB}, built CONCURRENTLY so that enqueues and claims go on while it builds
 * (so it cannot run inside a transaction block).
 */
export function payloadIndexSql(quotedSchema: string): string {
  return `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${PAYLOAD_INDEX} ON ${quotedSchema}.jobs USING gin (${PAYLOAD_JSONB} jsonb_path_ops)`;
}

/** Digit segments beyond which the filter tries no containment (2^n shapes) and reads every payload it walks past. */
const MAX_DIGIT_SEGMENTS = 3;

/** A JSON number as JSON writes it: the only texts a number field's `#>>` text can equal. */
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** A `\u0000` escape or a lone surrogate (escaped or not): what jsonb cannot hold (see {@link PAYLOAD_JSONB}). */
const NOT_IN_JSONB =
  /\\u0000|\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])|(?<![dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Whether jsonb can hold `text` (see {@link NOT_IN_JSONB}; a NUL character neither). */
const jsonbCanHold = (text: string) => !text.includes(String.fromCharCode(0)) && !NOT_IN_JSONB.test(text);

/**
 * The jsonb values (as JSON text) of which a payload matching `filter` contains at least one: one per JSON type the
 * field's text could have come from (`42` a number or a string, `true` a boolean or a string, `{...}` an object or a
 * string), times one shape per reading of each digit segment (an array index or an object key). An empty array:
 * nothing can match (the value holds a character jsonb cannot hold). Null: too many digit segments, no containment
 * (the exact comparison alone decides).
 */
export function payloadContainments(filter: PayloadFilter): string[] | null {
  const { path, equals } = filter;
  const digitSegments = path.filter((segment) => /^\d+$/.test(segment)).length;
  if (digitSegments > MAX_DIGIT_SEGMENTS) return null;
  const values: string[] = [];
  // A string field: its text is the string itself.
  if (jsonbCanHold(equals)) values.push(JSON.stringify(equals));
  // A number, as written (never through a JS number: 12345678901234567890 keeps its digits).
  if (JSON_NUMBER.test(equals)) values.push(equals);
  if (equals === 'true' || equals === 'false') values.push(equals);
  // An object or an array: its text is PostgreSQL's JSON of it, which contains whatever parses equal.
  if (/^\s*[[{]/.test(equals) && jsonbCanHold(equals) && parsesAsJson(equals)) values.push(equals);
  if (values.length === 0) return [];
  let shapes = values;
  for (let i = path.length - 1; i >= 0; i--) {
    const segment = path[i]!;
    const key = JSON.stringify(segment);
    shapes = shapes.flatMap((inner) =>
      /^\d+$/.test(segment) ? [`{${key}:${inner}}`, `[${inner}]`] : [`{${key}:${inner}}`],
    );
  }
  return shapes;
}

function parsesAsJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
