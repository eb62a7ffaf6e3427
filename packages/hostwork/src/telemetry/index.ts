export { addTelemetry } from './add-telemetry.ts';
export {
  type Counter,
  type CounterSeries,
  type Gauge,
  type GaugeValue,
  type Histogram,
  type HistogramSeries,
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
  prometheusRoute,
} from './prometheus.ts';
export {
  Attr as TelemetryAttributes,
  type DestinationMetrics,
  JOBS_SYSTEM,
  messagingSystem,
  type Outcome as TelemetryOutcome,
  type ProcessTrace,
  type RecordedError,
  Telemetry,
  type TelemetryOptions,
} from './telemetry.ts';
export { readTraceContext, TRACEPARENT, TRACESTATE, traceContextEntries } from './trace-context.ts';
