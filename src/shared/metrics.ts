/**
 * Prometheus registry factory. Each process (and each test) gets its own `Registry` instead of
 * prom-client's global one, so two apps in one test process never collide on metric names and
 * nothing is registered as a side effect of importing a module. Roles add their own metrics
 * to the registry they are given.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';

export type { Registry } from 'prom-client';

export interface MetricsRegistryOptions {
  /** Labels added to every series, e.g. `{ role: 'ingest' }`. */
  defaultLabels?: Record<string, string>;
  /** Process metrics (CPU, memory, event loop lag, GC); on by default. */
  processMetrics?: boolean;
}

export function createMetricsRegistry(options: MetricsRegistryOptions = {}): Registry {
  const registry = new Registry();
  if (options.defaultLabels) registry.setDefaultLabels(options.defaultLabels);
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  return registry;
}
