/**
 * The Prometheus endpoint without any OpenTelemetry SDK: real jobs and messages counted, scraped over real HTTP
 * (node:http handler) and through the Fetch handler, the text parsed line by line as a scraper would.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { defineJob } from '../../src/jobs/job-definition.ts';
import { defineConsumer } from '../../src/messaging/consumer-definition.ts';
import { inMemoryTransport } from '../../src/messaging/in-memory-transport.ts';
import { defineMessage } from '../../src/messaging/message-definition.ts';
import { addTelemetry } from '../../src/telemetry/add-telemetry.ts';
import { MetricRegistry } from '../../src/telemetry/metric-registry.ts';
import {
  PROMETHEUS_CONTENT_TYPE,
  prometheusFetchHandler,
  prometheusNodeHandler,
  prometheusRoute,
} from '../../src/telemetry/prometheus.ts';
import { Telemetry } from '../../src/telemetry/telemetry.ts';
import { jobHost, T, waitFor } from '../jobs/helpers.ts';
import { withMessagingHost } from '../messaging/helpers.ts';

/** One parsed sample line. */
interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** Parses the text exposition format 0.0.4: HELP/TYPE lines per family, then samples with escaped label values. */
function parse(text: string): { samples: Sample[]; types: Map<string, string>; help: Map<string, string> } {
  assert.ok(text.endsWith('\n'), 'the text ends with a line feed');
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      help.set(m[1]!, m[2]!);
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m) {
      assert.ok(!types.has(m[1]!), `one TYPE line for ${m[1]}`);
      types.set(m[1]!, m[2]!);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy;
    let consumed = 0;
    for (let l = label.exec(body); l !== null; l = label.exec(body)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      consumed = label.lastIndex;
    }
    assert.equal(consumed, body.length, `labels parse completely: ${body}`);
    const value = m[3] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[3]);
    assert.ok(!Number.isNaN(value), `a numeric value: ${line}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return { samples, types, help };
}

function sample(
  samples: readonly Sample[],
  name: string,
  labels: Record<string, string>,
): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    ?.value;
}

/** Serves `handler` on a loopback port for the duration of `fn`. */
async function serving<R>(
  handler: Parameters<typeof createServer>[1],
  fn: (url: string) => Promise<R>,
): Promise<R> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

const Work = defineJob({
  name: 'work',
  schema: z.object({ fail: z.enum(['never', 'once', 'always']) }),
  maxAttempts: 2,
  backoff: { type: 'fixed', delay: 10 },
  handle(input, ctx) {
    if (input.fail === 'always' || (input.fail === 'once' && ctx.attempt === 1)) throw new Error('no');
  },
});

describe('the Prometheus endpoint', () => {
  it(
    'serves jobs sent, consumed, retried, dead, their durations, jobs by state and the lag, over node:http',
    T,
    async () => {
      const h = jobHost({ jobs: [Work], worker: { queues: { default: { concurrency: 4 } } } });
      // Jobs of a queue no worker consumes: due, waiting, so that queue lags.
      const idle = jobHost({ jobs: [Work], worker: false, path: h.path });
      const telemetry = h.host.services.get(Telemetry);
      assert.equal(telemetry.tracing, false, 'no SDK registered: no tracing');
      await h.host.start();
      await idle.host.start();
      let finished = 0;
      const all = Promise.withResolvers<void>();
      const count = () => {
        if (++finished === 3) all.resolve();
      };
      h.events.on('completed', count);
      h.events.on('dead', count);
      await h.client.enqueue(Work, { fail: 'never' });
      await h.client.enqueue(Work, { fail: 'once' });
      await h.client.enqueue(Work, { fail: 'always' });
      await idle.client.enqueue(Work, { fail: 'never' }, { queue: 'backlog', runAt: Date.now() - 60_000 });
      await all.promise;

      await serving(prometheusNodeHandler(telemetry), async (url) => {
        const response = await fetch(url);
        assert.equal(response.status, 200);
        assert.equal(response.headers.get('content-type'), PROMETHEUS_CONTENT_TYPE);
        const { samples, types, help } = parse(await response.text());
        const q = { messaging_system: 'hostwork', messaging_destination_name: 'default' };
        assert.equal(types.get('messaging_client_sent_messages_total'), 'counter');
        assert.equal(types.get('messaging_process_duration_seconds'), 'histogram');
        assert.equal(types.get('hostwork_jobs'), 'gauge');
        assert.ok(help.get('hostwork_queue_lag_seconds'));
        assert.equal(sample(samples, 'messaging_client_sent_messages_total', q), 3);
        assert.equal(sample(samples, 'messaging_client_consumed_messages_total', q), 5, '1 + 2 + 2 attempts');
        assert.equal(sample(samples, 'hostwork_retries_total', q), 2);
        assert.equal(sample(samples, 'hostwork_dead_letters_total', q), 1);
        assert.equal(sample(samples, 'hostwork_lease_recoveries_total', { messaging_system: 'hostwork' }), 0);
        const completed = { ...q, hostwork_outcome: 'completed' };
        assert.equal(sample(samples, 'messaging_process_duration_seconds_count', completed), 2);
        assert.equal(
          sample(samples, 'messaging_process_duration_seconds_bucket', { ...completed, le: '+Inf' }),
          2,
        );
        const buckets = samples.filter(
          (s) =>
            s.name === 'messaging_process_duration_seconds_bucket' &&
            s.labels.hostwork_outcome === 'completed',
        );
        for (let i = 1; i < buckets.length; i++)
          assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, 'buckets are cumulative');
        assert.equal(
          sample(samples, 'messaging_process_duration_seconds_count', { ...q, hostwork_outcome: 'retry' }),
          2,
        );
        assert.equal(
          sample(samples, 'hostwork_jobs', { hostwork_queue: 'default', hostwork_job_state: 'completed' }),
          2,
        );
        assert.equal(
          sample(samples, 'hostwork_jobs', { hostwork_queue: 'default', hostwork_job_state: 'dead' }),
          1,
        );
        assert.equal(
          sample(samples, 'hostwork_jobs', { hostwork_queue: 'backlog', hostwork_job_state: 'pending' }),
          1,
        );
        const lag = sample(samples, 'hostwork_queue_lag_seconds', { hostwork_queue: 'backlog' });
        assert.ok(lag !== undefined && lag >= 60, `the backlog lags by its oldest due job (${lag} s)`);
        assert.equal(sample(samples, 'hostwork_queue_lag_seconds', { hostwork_queue: 'default' }), 0);

        const head = await fetch(url, { method: 'HEAD' });
        assert.equal(head.status, 200);
        assert.equal(await head.text(), '');
        const post = await fetch(url, { method: 'POST' });
        assert.equal(post.status, 405);
        assert.equal(post.headers.get('allow'), 'GET, HEAD');
      });
      await idle.host.stop();
      await h.host.stop();
    },
  );

  it(
    'the Fetch handler serves the same text; message consumers and the publisher are counted per destination',
    T,
    async () => {
      const Ping = defineMessage({
        name: 'ping',
        schema: z.object({ n: z.number() }),
        destination: { name: 'pings' },
      });
      const memory = inMemoryTransport();
      let handled = 0;
      const consumer = defineConsumer({
        name: 'pong',
        transport: 'memory',
        source: { name: 'pings' },
        message: Ping,
        maxAttempts: 1,
        handle(message) {
          handled++;
          if (message.n === 2) throw new Error('not 2');
        },
      });
      await withMessagingHost(
        { transports: { memory }, consumers: [consumer] },
        async ({ host, publisher }) => {
          await publisher.sendMany(Ping, [{ payload: { n: 1 } }, { payload: { n: 2 } }]);
          await waitFor(() => handled === 2, 'both deliveries');
          const handler = prometheusFetchHandler(host.services.get(Telemetry));
          const d = { messaging_system: 'memory', messaging_destination_name: 'pings' };
          const scrape = async () => {
            const response = await handler(new Request('http://localhost/metrics'));
            assert.equal(response.headers.get('content-type'), PROMETHEUS_CONTENT_TYPE);
            return parse(await response.text()).samples;
          };
          await waitFor(
            async () => sample(await scrape(), 'hostwork_dead_letters_total', d) === 1,
            'the dead letter counted',
          );
          const samples = await scrape();
          assert.equal(sample(samples, 'messaging_client_sent_messages_total', d), 2);
          assert.equal(sample(samples, 'messaging_client_consumed_messages_total', d), 2);
          assert.equal(
            sample(samples, 'messaging_process_duration_seconds_count', {
              ...d,
              hostwork_outcome: 'completed',
            }),
            1,
          );
          assert.equal(
            (await handler(new Request('http://localhost/metrics', { method: 'DELETE' }))).status,
            405,
          );
        },
      );
    },
  );

  it('metrics: false counts nothing; the endpoint still answers with the metric families', T, async () => {
    const h = jobHost({
      jobs: [Work],
      worker: { queues: { default: { concurrency: 1 } } },
      configure: (b) => addTelemetry(b, { metrics: false }),
    });
    await h.host.start();
    const done = Promise.withResolvers<void>();
    h.events.on('completed', () => done.resolve());
    await h.client.enqueue(Work, { fail: 'never' });
    await done.promise;
    const { samples, types } = parse(await h.host.services.get(Telemetry).prometheus());
    assert.ok(types.has('messaging_client_sent_messages_total'));
    assert.deepEqual(samples, []);
    await h.host.stop();
  });

  it(
    'counts lease recoveries: a job whose worker vanished, recovered by maintenance and run again',
    T,
    async () => {
      const h = jobHost({ jobs: [Work] });
      const { id } = await h.client.enqueue(Work, { fail: 'never' });
      const { jobs } = await h.client.store.claim({
        queue: 'default',
        limit: 10,
        owner: 'ghost-worker',
        leaseMs: 300,
        now: Date.now(),
      });
      assert.deepEqual(
        jobs.map((j) => j.id),
        [id],
      );
      const done = Promise.withResolvers<void>();
      h.events.on('completed', () => done.resolve());
      await h.host.start();
      await done.promise;
      const { samples } = parse(await h.host.services.get(Telemetry).prometheus());
      assert.equal(sample(samples, 'hostwork_lease_recoveries_total', { messaging_system: 'hostwork' }), 1);
      await h.host.stop();
    },
  );

  it(
    'prometheusRoute answers its own path (query string ignored) and leaves the others to the next handler',
    T,
    async () => {
      const route = prometheusRoute({ prometheus: async () => '# HELP x y\n# TYPE x counter\nx_total 1\n' });
      const server = (req: IncomingMessage, res: ServerResponse) => {
        void route(req, res).then((answered) => {
          if (!answered) res.writeHead(404).end('next handler');
        });
      };
      await serving(server, async (url) => {
        const metrics = await fetch(`${url}?name[]=x`);
        assert.equal(metrics.status, 200);
        assert.equal(await metrics.text(), '# HELP x y\n# TYPE x counter\nx_total 1\n');
        const other = await fetch(url.replace('/metrics', '/healthz'));
        assert.equal(other.status, 404);
        assert.equal(await other.text(), 'next handler');
      });
    },
  );

  it('escapes label values and help text as the format requires', async () => {
    const registry = new MetricRegistry();
    registry
      .counter({ name: 'x.total_things', description: 'a\\b\nc', unit: '{thing}' })
      .series({ 'a.b': 'say "hi"\\\n' })
      .add(3);
    const text = await registry.renderPrometheus();
    assert.match(text, /^# HELP x_total_things_total a\\\\b\\nc$/m);
    const { samples } = parse(text);
    assert.deepEqual(samples, [{ name: 'x_total_things_total', labels: { a_b: 'say "hi"\\\n' }, value: 3 }]);
  });

  it('addTelemetry refuses unknown keys and bad values, naming them', () => {
    assert.throws(
      () => addTelemetry({ services: { addSingleton() {} } } as never, { tracin: true } as never),
      /HW_UNKNOWN_OPTION|Unknown option 'tracin'/,
    );
    assert.throws(() => new Telemetry({ tracing: 'yes' as never }), /tracing must be true, false or 'auto'/);
    assert.throws(
      () => new Telemetry({ storeReadCacheMs: -1 }),
      /storeReadCacheMs must be a number of ms >= 0/,
    );
  });
});
