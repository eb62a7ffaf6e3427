/**
 * The Prometheus scrape endpoint: Hostwork's metrics in the text exposition format 0.0.4, as a node:http handler and
 * as a Fetch handler, to mount on any server (the health port, the application's own). No OpenTelemetry SDK needed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PROMETHEUS_CONTENT_TYPE } from './metric-registry.ts';
import type { Telemetry } from './telemetry.ts';

export { PROMETHEUS_CONTENT_TYPE };

/** What the handlers need: the host's telemetry, or anything that renders the text. */
export type PrometheusSource = Pick<Telemetry, 'prometheus'>;

const ALLOW = 'GET, HEAD';

/**
 * A node:http handler answering every request with the metrics (GET, HEAD; 405 for other methods). It does not
 * look at the path: mount it where it belongs (`if (req.url === '/metrics') return handler(req, res)`).
 *
 * @example
 * ```ts
 * const metrics = prometheusNodeHandler(host.services.get(Telemetry));
 * createServer((req, res) => (req.url === '/metrics' ? metrics(req, res) : res.writeHead(404).end())).listen(9464);
 * ```
 */
export function prometheusNodeHandler(
  source: PrometheusSource,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res
        .writeHead(405, { allow: ALLOW, 'content-type': 'text/plain; charset=utf-8' })
        .end('Method Not Allowed\n');
      return;
    }
    source.prometheus().then(
      (text) => {
        res.writeHead(200, {
          'content-type': PROMETHEUS_CONTENT_TYPE,
          'content-length': Buffer.byteLength(text),
          'cache-control': 'no-store',
        });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        if (res.headersSent) return void res.destroy();
        res
          .writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
          .end(`Collecting metrics failed: ${(error as Error)?.message ?? String(error)}\n`);
      },
    );
  };
}

/**
 * The metrics at `path` (default `/metrics`, query string ignored) as a handler that answers its own path and leaves
 * the others: it resolves true when it answered, false otherwise. The shape a server of handlers tried in turn
 * mounts (`healthServer.mount(prometheusRoute(telemetry))`).
 */
export function prometheusRoute(
  source: PrometheusSource,
  path = '/metrics',
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const handle = prometheusNodeHandler(source);
  return async (req, res) => {
    const url = req.url ?? '/';
    const end = url.indexOf('?');
    if ((end < 0 ? url : url.slice(0, end)) !== path) return false;
    handle(req, res);
    return true;
  };
}

/** A Fetch handler (`Request` → `Response`) with the metrics, for servers built on the Fetch API. */
export function prometheusFetchHandler(source: PrometheusSource): (request: Request) => Promise<Response> {
  return async (request) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return new Response('Method Not Allowed\n', { status: 405, headers: { allow: ALLOW } });
    }
    const text = await source.prometheus();
    return new Response(request.method === 'HEAD' ? null : text, {
      status: 200,
      headers: { 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' },
    });
  };
}
