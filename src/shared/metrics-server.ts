/**
 * A minimal HTTP server for roles without the ingest server (worker, reconcile), started only
 * when METRICS_PORT is set: `/metrics`, `/healthz` (the process is alive) and `/readyz` (503 with
 * the role's problems while it cannot do its work, e.g. MongoDB down or a shop record unreadable).
 */
import { createServer, type Server, type ServerResponse } from 'node:http';

import type { Logger } from './logger.js';
import type { Registry } from './metrics.js';
import type { ReadinessCheck } from './readiness.js';

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

export async function startMetricsServer(options: {
  registry: Registry;
  host: string;
  port: number;
  logger: Logger;
  readiness?: ReadinessCheck;
}): Promise<MetricsServer> {
  const server: Server = createServer((request, response) => {
    const path = request.method === 'GET' ? request.url?.split('?')[0] : undefined;
    if (path === '/healthz') return sendJson(response, 200, { ok: true });
    if (path === '/readyz') {
      const report = options.readiness?.() ?? { ready: true, problems: [] };
      if (report.ready) return sendJson(response, 200, { ok: true });
      const message = `not ready: ${report.problems.join('; ')}`;
      return sendJson(response, 503, { error: { code: 'ERR_UNAVAILABLE', message } });
    }
    if (path !== '/metrics') {
      return sendJson(response, 404, { error: { code: 'ERR_NOT_FOUND', message: 'not found' } });
    }
    options.registry.metrics().then(
      (text) => {
        response.writeHead(200, { 'content-type': options.registry.contentType });
        response.end(text);
      },
      () => {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end('{"error":{"code":"ERR_INTERNAL","message":"metrics unavailable"}}');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  options.logger.info({ component: 'metrics', port }, `metrics on http://${options.host}:${port}/metrics`);
  let closing: Promise<void> | undefined;
  return {
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
