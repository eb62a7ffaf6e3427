/**
 * The W3C Trace Context (`traceparent`, `tracestate`) of a span, written into a job's metadata and a message's
 * headers, and read back. Hostwork formats and parses it itself rather than through the global propagator: the
 * carrier is Hostwork's own (a job row, a broker message), and this way the trace continues whether or not the
 * application registered a propagator.
 */
import { createTraceState, type SpanContext, TraceFlags } from '@opentelemetry/api';

/** The header (and metadata key) carrying the span context. */
export const TRACEPARENT = 'traceparent';
/** The header (and metadata key) carrying vendor trace state. */
export const TRACESTATE = 'tracestate';

const TRACEPARENT_FORMAT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const INVALID_TRACE = /^0+$/;

/** The carrier entries of a span context: `traceparent`, and `tracestate` when the context has one. */
export function traceContextEntries(context: SpanContext): Record<string, string> {
  const flags = (context.traceFlags & 0xff).toString(16).padStart(2, '0');
  const entries: Record<string, string> = {
    [TRACEPARENT]: `00-${context.traceId}-${context.spanId}-${flags}`,
  };
  const state = context.traceState?.serialize();
  if (state) entries[TRACESTATE] = state;
  return entries;
}

/** The remote span context a carrier holds, or undefined when it holds none (or a malformed one). */
export function readTraceContext(
  traceparent: string | undefined,
  tracestate: string | undefined,
): SpanContext | undefined {
  if (traceparent === undefined) return undefined;
  const match = TRACEPARENT_FORMAT.exec(traceparent.trim());
  if (match === null) return undefined;
  const [, version, traceId, spanId, flags, rest] = match;
  // Version ff is invalid; version 00 has nothing after the flags (later versions may, and are read as 00).
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (INVALID_TRACE.test(traceId!) || INVALID_TRACE.test(spanId!)) return undefined;
  return {
    traceId: traceId!,
    spanId: spanId!,
    traceFlags: Number.parseInt(flags!, 16) & TraceFlags.SAMPLED,
    isRemote: true,
    ...(tracestate ? { traceState: createTraceState(tracestate) } : {}),
  };
}

/** The span context stored in a job's metadata (JSON of strings), or undefined. Never throws. */
export function traceContextOfMetadata(metadata: string | null | undefined): SpanContext | undefined {
  if (!metadata) return undefined;
  try {
    const parsed = JSON.parse(metadata) as Record<string, unknown> | null;
    if (parsed === null || typeof parsed !== 'object') return undefined;
    const parent = parsed[TRACEPARENT];
    const state = parsed[TRACESTATE];
    return readTraceContext(
      typeof parent === 'string' ? parent : undefined,
      typeof state === 'string' ? state : undefined,
    );
  } catch {
    return undefined;
  }
}
