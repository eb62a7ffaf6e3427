export { addTelemetry } from './add-telemetry.ts';
export {
  Counter,
  Gauge,
  type GaugeValue,
  Histogram,
  type Labels,
  type MetricInfo,
  MetricRegistry,
  prometheusName,
} from './metric-registry.ts';
export {
  PROMETHEUS_CONTENT_TYPE,
  type PrometheusSource,
  prometheusFetchHandler,
  prometheusNodeHandler,
} from './prometheus.ts';
export {
  Attr,
  type DestinationMetrics,
  JOBS_SYSTEM,
  messagingSystem,
  type Outcome,
  Telemetry,
  type TelemetryOptions,
} from './telemetry.ts';
export { readTraceContext, TRACEPARENT, TRACESTATE, traceContextEntries } from './trace-context.ts';
