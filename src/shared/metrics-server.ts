/**
 * A minimal `/metrics` HTTP server for roles without the ingest server (worker, reconcile),
 * started only when METRICS_PORT is set.
 */
import { createServer, type Server } from 'node:http';

import type { Logger } from './logger.js';
import type { Registry } from './metrics.js';

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(options: {
  registry: Registry;
  host: string;
  port: number;
  logger: Logger;
}): Promise<MetricsServer> {
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'application/json' });
      response.end('{"error":{"code":"ERR_NOT_FOUND","message":"not found"}}');
      return;
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
