/**
 * Hostwork's own small metric registry: counters, histograms and gauges read on collection, rendered in the
 * Prometheus text exposition format 0.0.4. It needs no OpenTelemetry SDK; when one is registered, the same values
 * are reported through the OpenTelemetry metrics API as well (see telemetry.ts).
 *
 * The hot path only touches a series object resolved once per label set (a queue, a consumer): `add` is one
 * addition, `observe` a walk over a dozen bucket bounds. Nothing is allocated per job.
 */

/** Label values of one series, by label name (OpenTelemetry attribute names, dots and all). */
export type Labels = Readonly<Record<string, string>>;

/** One counter series: a monotonically increasing count. */
export interface CounterSeries {
  readonly labels: Labels;
  value: number;
  add(n?: number): void;
}

/** One histogram series: bucket counts, sum and count. */
export interface HistogramSeries {
  readonly labels: Labels;
  /** Non-cumulative counts per bucket; the last one is +Inf. */
  readonly counts: number[];
  sum: number;
  count: number;
  observe(value: number): void;
}

/** A value of a gauge, read on collection. */
export interface GaugeValue {
  readonly labels: Labels;
  readonly value: number;
}

/** What every metric has. */
export interface MetricInfo {
  /** The OpenTelemetry name (`messaging.process.duration`). */
  readonly name: string;
  readonly description: string;
  /** The UCUM unit (`s`, `{message}`, `{job}`). */
  readonly unit: string;
}

function keyOf(labels: Labels): string {
  let key = '';
  for (const name in labels) key += `${name}\u0000${labels[name]}\u0001`;
  return key;
}

/** A counter with series per label set. */
export class Counter implements MetricInfo {
  readonly kind = 'counter';
  readonly name: string;
  readonly description: string;
  readonly unit: string;
  readonly #series = new Map<string, CounterSeries>();

  constructor(info: MetricInfo) {
    this.name = info.name;
    this.description = info.description;
    this.unit = info.unit;
  }

  /** The series of `labels`, created at 0 the first time (resolve it once, keep it: `add` is then free). */
  series(labels: Labels): CounterSeries {
    const key = keyOf(labels);
    let s = this.#series.get(key);
    if (s === undefined) {
      s = {
        labels,
        value: 0,
        add(n = 1) {
          this.value += n;
        },
      };
      this.#series.set(key, s);
    }
    return s;
  }

  collect(): readonly CounterSeries[] {
    return [...this.#series.values()];
  }
}

/** A histogram with explicit bucket bounds and series per label set. */
export class Histogram implements MetricInfo {
  readonly kind = 'histogram';
  readonly name: string;
  readonly description: string;
  readonly unit: string;
  /** Upper bounds, ascending (the +Inf bucket is implied). */
  readonly bounds: readonly number[];
  readonly #series = new Map<string, HistogramSeries>();
  /** Called with every observation (the OpenTelemetry histogram, when an SDK is registered). */
  onObserve: ((value: number, labels: Labels) => void) | undefined;

  constructor(info: MetricInfo, bounds: readonly number[]) {
    this.name = info.name;
    this.description = info.description;
    this.unit = info.unit;
    this.bounds = bounds;
  }

  series(labels: Labels): HistogramSeries {
    const key = keyOf(labels);
    let s = this.#series.get(key);
    if (s === undefined) {
      const bounds = this.bounds;
      const histogram = this;
      s = {
        labels,
        counts: new Array<number>(bounds.length + 1).fill(0),
        sum: 0,
        count: 0,
        observe(value: number) {
          let i = 0;
          while (i < bounds.length && value > bounds[i]!) i++;
          this.counts[i]!++;
          this.sum += value;
          this.count++;
          histogram.onObserve?.(value, labels);
        },
      };
      this.#series.set(key, s);
    }
    return s;
  }

  collect(): readonly HistogramSeries[] {
    return [...this.#series.values()];
  }
}

/** A gauge whose values are read on collection, from any number of sources (a store's counts, say). */
export class Gauge implements MetricInfo {
  readonly kind = 'gauge';
  readonly name: string;
  readonly description: string;
  readonly unit: string;
  readonly #sources = new Set<() => Promise<readonly GaugeValue[]>>();

  constructor(info: MetricInfo) {
    this.name = info.name;
    this.description = info.description;
    this.unit = info.unit;
  }

  /** Adds a source of values; returns the function that removes it. */
  addSource(source: () => Promise<readonly GaugeValue[]>): () => void {
    this.#sources.add(source);
    return () => this.#sources.delete(source);
  }

  /** Every source's values; a source that fails contributes nothing (collection must never fail as a whole). */
  async collect(): Promise<readonly GaugeValue[]> {
    const all = await Promise.all(
      [...this.#sources].map((source) => source().catch(() => [] as readonly GaugeValue[])),
    );
    return all.flat();
  }
}

export type Metric = Counter | Histogram | Gauge;

/** The content type of the Prometheus text exposition format this registry renders. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The Prometheus name of an OpenTelemetry metric: dots to underscores, the unit and `_total` as suffixes. */
export function prometheusName(metric: MetricInfo): string {
  let name = metric.name.replace(/[^a-zA-Z0-9_:]/g, '_');
  if (metric.unit === 's' && !name.endsWith('_seconds')) name += '_seconds';
  if (metric instanceof Counter) name += '_total';
  return name;
}

function labelName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_');
}

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function labelText(labels: Labels, extra?: readonly [string, string]): string {
  const parts: string[] = [];
  for (const name in labels) parts.push(`${labelName(name)}="${escapeLabelValue(labels[name]!)}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function number(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

/** The metrics of one host, in registration order. */
export class MetricRegistry {
  readonly #metrics: Metric[] = [];

  counter(info: MetricInfo): Counter {
    return this.#add(new Counter(info));
  }

  histogram(info: MetricInfo, bounds: readonly number[]): Histogram {
    return this.#add(new Histogram(info, bounds));
  }

  gauge(info: MetricInfo): Gauge {
    return this.#add(new Gauge(info));
  }

  get metrics(): readonly Metric[] {
    return this.#metrics;
  }

  #add<M extends Metric>(metric: M): M {
    this.#metrics.push(metric);
    return metric;
  }

  /** Every metric in the Prometheus text exposition format 0.0.4 (HELP and TYPE lines, then the samples). */
  async renderPrometheus(): Promise<string> {
    const lines: string[] = [];
    for (const metric of this.#metrics) {
      const name = prometheusName(metric);
      lines.push(`# HELP ${name} ${escapeHelp(metric.description)}`);
      if (metric instanceof Counter) {
        lines.push(`# TYPE ${name} counter`);
        for (const s of metric.collect()) lines.push(`${name}${labelText(s.labels)} ${number(s.value)}`);
      } else if (metric instanceof Histogram) {
        lines.push(`# TYPE ${name} histogram`);
        for (const s of metric.collect()) {
          let cumulative = 0;
          for (let i = 0; i <= metric.bounds.length; i++) {
            cumulative += s.counts[i]!;
            const le = i < metric.bounds.length ? number(metric.bounds[i]!) : '+Inf';
            lines.push(`${name}_bucket${labelText(s.labels, ['le', le])} ${cumulative}`);
          }
          lines.push(`${name}_sum${labelText(s.labels)} ${number(s.sum)}`);
          lines.push(`${name}_count${labelText(s.labels)} ${s.count}`);
        }
      } else {
        lines.push(`# TYPE ${name} gauge`);
        for (const v of await metric.collect())
          lines.push(`${name}${labelText(v.labels)} ${number(v.value)}`);
      }
    }
    return `${lines.join('\n')}\n`;
  }
}
