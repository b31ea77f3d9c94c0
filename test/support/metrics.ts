/** Reading a prom-client registry in tests: what it exports, and the value of one sample. */
import type { Registry } from '../../src/shared/metrics.js';

/** Sample names a scrape of `registry` can show: histograms add _bucket, _sum and _count. */
export async function sampleNames(registry: Registry): Promise<Set<string>> {
  const names = new Set<string>();
  for (const metric of await registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === 'histogram') {
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${metric.name}${suffix}`);
    }
    if (String(metric.type) === 'summary') {
      for (const suffix of ['_sum', '_count']) names.add(`${metric.name}${suffix}`);
    }
  }
  return names;
}

/** The sum of `sample`'s values whose labels include `labels`; 0 when there are none. */
export async function metricValue(
  registry: Registry,
  sample: string,
  labels: Record<string, string> = {},
): Promise<number> {
  let total = 0;
  for (const metric of await registry.getMetricsAsJSON()) {
    for (const value of metric.values as { metricName?: string; labels: object; value: number }[]) {
      if ((value.metricName ?? metric.name) !== sample) continue;
      const own = value.labels as Record<string, string | number | undefined>;
      if (Object.entries(labels).every(([name, wanted]) => String(own[name]) === wanted))
        total += value.value;
    }
  }
  return total;
}

/** Every label set of `sample` with its value. */
export async function metricSeries(
  registry: Registry,
  sample: string,
): Promise<{ labels: Record<string, string>; value: number }[]> {
  const series: { labels: Record<string, string>; value: number }[] = [];
  for (const metric of await registry.getMetricsAsJSON()) {
    for (const value of metric.values as { metricName?: string; labels: object; value: number }[]) {
      if ((value.metricName ?? metric.name) !== sample) continue;
      const labels = Object.fromEntries(Object.entries(value.labels).map(([k, v]) => [k, String(v)]));
      series.push({ labels, value: value.value });
    }
  }
  return series;
}
