/**
 * deploy/grafana's dashboard, deploy/prometheus/alerts.yml and the metrics table of
 * docs/operations.md name only metrics the roles really export. The names come from one registry
 * wired the way `start` wires it (ingest app, worker, reconcile scheduler and the marketplace
 * clients on one runtime), so a metric renamed in src, or one a role forgets to register, fails
 * here. PromQL expressions are read for their metric identifiers; the checks are also run on
 * planted mistakes, so a reader that silently found nothing would fail too.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import { buildWorker } from '../../src/consumer/main.js';
import { buildIngestApp } from '../../src/ingest/app.js';
import { webhookHandlersFromConfig } from '../../src/ingest/main.js';
import { buildReconcileScheduler } from '../../src/reconcile/main.js';
import { openRuntime, type Runtime } from '../../src/runtime.js';
import { createTestEnv, silentLogger, type TestEnv } from '../support/context.js';
import { sampleNames } from '../support/metrics.js';

const ROOT = new URL('../../', import.meta.url);
const readRepoFile = (name: string) => readFileSync(new URL(name, ROOT), 'utf8');

/** Series Prometheus itself makes for every target. */
const PROMETHEUS_OWN = new Set(['up']);
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'group_left',
  'group_right',
  'inf',
  'nan',
]);

/** The metric names a PromQL expression selects (functions, keywords, labels and numbers left out). */
function promqlMetricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ') // strings
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\$\{[^}]*\}|\$\w+/g, ' '); // Grafana variables
  const names = new Set<string>();
  for (const match of stripped.matchAll(/[A-Za-z_:][\w:]*|\d[\w.]*/g)) {
    const token = match[0];
    if (/^\d/.test(token) || KEYWORDS.has(token.toLowerCase())) continue;
    // An identifier followed by "(" is a function or an aggregation.
    if (/^\s*\(/.test(stripped.slice(match.index + token.length))) continue;
    names.add(token);
  }
  return [...names];
}

/** Every `expr` in a Grafana dashboard (panels, rows' panels) and the metric of each `label_values` variable. */
function dashboardExpressions(dashboard: unknown): string[] {
  const found: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (typeof node !== 'object' || node === null) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'expr' && typeof value === 'string') found.push(value);
      else walk(value);
    }
  };
  walk(dashboard);
  const variables = (dashboard as { templating?: { list?: { type?: string; query?: unknown }[] } })
    .templating;
  for (const variable of variables?.list ?? []) {
    if (variable.type !== 'query') continue;
    const query =
      typeof variable.query === 'string' ? variable.query : (variable.query as { query?: string })?.query;
    const inner = /^\s*(?:label_values\((.+),\s*\w+\s*\)|query_result\((.+)\))\s*$/.exec(query ?? '');
    if (inner) found.push(inner[1] ?? inner[2]!);
  }
  return found;
}

function alertExpressions(text: string): string[] {
  const document = parse(text) as { groups?: { rules?: { expr?: unknown }[] }[] };
  return (document.groups ?? []).flatMap((group) =>
    (group.rules ?? []).map((rule) => (typeof rule.expr === 'string' ? rule.expr : '')),
  );
}

/** Problems with `expressions`: unknown metric names, and expressions naming no metric at all. */
function unknownMetrics(expressions: readonly string[], known: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  for (const expr of expressions) {
    const names = promqlMetricNames(expr);
    if (names.length === 0) problems.push(`names no metric: ${expr}`);
    for (const name of names) {
      if (!known.has(name) && !PROMETHEUS_OWN.has(name))
        problems.push(`${name} does not exist (in: ${expr})`);
    }
  }
  return problems;
}

/** The metrics section of docs/operations.md against the exported market_ingest_* metrics. */
function docsProblems(doc: string, known: ReadonlySet<string>, base: ReadonlySet<string>): string[] {
  const start = doc.indexOf('## Metrics and alerts');
  const end = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, end === -1 ? undefined : end);
  const named = new Set([...section.matchAll(/\b(market_ingest_\w+)/g)].map((m) => m[1]!));
  const problems = [...base].filter((name) => !named.has(name)).map((name) => `${name} is not documented`);
  for (const name of named) if (!known.has(name)) problems.push(`${name} is documented but does not exist`);
  return problems;
}

let env: TestEnv;
let runtime: Runtime;
let known: Set<string>;
/** The market_ingest_* metrics as registered (no sample suffixes). */
let base: Set<string>;

beforeAll(async () => {
  env = createTestEnv();
  await env.mongo(); // the database is dropped at cleanup
  runtime = await openRuntime({ config: env.config, logger: silentLogger, role: 'test' });
  // As `start` wires them: every role on the runtime's registry (built, not run).
  buildWorker(runtime);
  buildReconcileScheduler(runtime);
  const app = buildIngestApp({
    config: env.config,
    redis: runtime.redis,
    handlers: webhookHandlersFromConfig(env.config),
    logger: silentLogger,
    metrics: runtime.metrics,
  });
  await app.close();
  known = await sampleNames(runtime.metrics);
  base = new Set(
    (await runtime.metrics.getMetricsAsJSON())
      .map((m) => m.name)
      .filter((n) => n.startsWith('market_ingest_')),
  );
});

afterAll(async () => {
  await runtime?.close();
  await env?.cleanup();
});

describe('reading PromQL', () => {
  it('finds the metrics of an expression and nothing else', () => {
    expect(
      promqlMetricNames(
        'histogram_quantile(0.95, sum by (platform, le) (rate(market_ingest_a_bucket{outcome="x",le!="1"}[$__rate_interval])))' +
          ' / on (platform) group_left max without (instance) (b_total offset 5m) > bool 1e3 and time() - c:recorded < 13 * 3600',
      ).sort(),
    ).toEqual(['b_total', 'c:recorded', 'market_ingest_a_bucket']);
    expect(promqlMetricNames('sum(rate(x[5m])) by (le) unless count_values("up", y)')).toEqual(['x', 'y']);
  });

  it('reports a dashboard query or an alert naming a metric that does not exist', () => {
    const dashboard = {
      panels: [
        { type: 'row', panels: [{ targets: [{ expr: 'sum(rate(market_ingest_webhooks_total[5m]))' }] }] },
        { targets: [{ expr: 'max(market_ingest_no_such_metric)' }, { expr: 'vector(1)' }] },
      ],
      templating: { list: [{ type: 'query', query: 'label_values(market_ingest_nope_total, platform)' }] },
    };
    expect(unknownMetrics(dashboardExpressions(dashboard), known)).toEqual([
      'market_ingest_no_such_metric does not exist (in: max(market_ingest_no_such_metric))',
      'names no metric: vector(1)',
      'market_ingest_nope_total does not exist (in: market_ingest_nope_total)',
    ]);
    const rules =
      'groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: market_ingest_stream_lenght > 0\n';
    expect(unknownMetrics(alertExpressions(rules), known)).toEqual([
      'market_ingest_stream_lenght does not exist (in: market_ingest_stream_lenght > 0)',
    ]);
  });
});

describe('deploy/ names only metrics that exist', () => {
  it('the Grafana dashboard', () => {
    const dashboard = JSON.parse(readRepoFile('deploy/grafana/market-ingest.json')) as unknown;
    const expressions = dashboardExpressions(dashboard);
    expect(expressions.length).toBeGreaterThan(0);
    expect(unknownMetrics(expressions, known)).toEqual([]);
  });

  it('the Prometheus alerts', () => {
    const expressions = alertExpressions(readRepoFile('deploy/prometheus/alerts.yml'));
    expect(expressions.length).toBeGreaterThan(0);
    expect(unknownMetrics(expressions, known)).toEqual([]);
  });
});

describe('docs/operations.md', () => {
  it('lists every market_ingest metric, and no other', () => {
    expect(docsProblems(readRepoFile('docs/operations.md'), known, base)).toEqual([]);
  });

  it('the check finds an undocumented metric and a documented one that does not exist', () => {
    const doc =
      '## Metrics and alerts\n| `market_ingest_webhooks_total` | `market_ingest_gone_total` |\n## Next\n';
    const problems = docsProblems(doc, known, base);
    expect(problems).toContain('market_ingest_gone_total is documented but does not exist');
    expect(problems).toContain('market_ingest_stream_length is not documented');
    expect(problems).not.toContain('market_ingest_webhooks_total is not documented');
  });
});
