/**
 * `market-ingest trace --platform P --shop S (--order ID | --return ID | --product ID | --event
 * EVENT_ID) [--scan N] [--since ISO] [--json]` (CONTRACT §1 v2): "where is my order?" in one
 * command. The queries are in trace.ts; this file checks flags, connects, and prints the report
 * readably (or as JSON for scripts). Exit 0 when anything was found, 1 when nothing was.
 */
import { resolveMongoUrl, resolveRedisUrl } from '../shared/config.js';
import { isAppError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import type { DetailKind } from '../marketplaces/types.js';
import { connectMongo } from '../shared/mongo.js';
import { closeRedis, createRedis, isRedisConnectionError } from '../shared/redis.js';
import { PLATFORMS, type Platform } from '../shared/stream.js';
import { EXIT_FAILURE, EXIT_OK, type CommandContext, type CommandSpec, type FlagValues } from './dispatch.js';
import { parseIsoDate } from '../shared/time.js';
import {
  traceJourney,
  type Delivery,
  type ScanExtent,
  type TraceBounds,
  type TraceDeps,
  type TraceQuery,
  type TraceReport,
  type TracedEntry,
} from './trace.js';

/** Entries read from each stream by default: a few MB of webhooks, a second or two. */
export const DEFAULT_TRACE_SCAN = 10_000;
const MAX_TRACE_SCAN = 1_000_000;
const TARGETS = ['order', 'return', 'product', 'event'] as const;

function text(flags: FlagValues, name: string): string | undefined {
  const value = flags[name];
  return typeof value === 'string' ? value.trim() : undefined;
}

function validate(flags: FlagValues): string | undefined {
  const platform = text(flags, 'platform');
  if (platform === undefined) return '--platform is required';
  if (!(PLATFORMS as readonly string[]).includes(platform))
    return `--platform must be one of ${PLATFORMS.join(', ')}`;
  if (!text(flags, 'shop')) return '--shop is required';
  const given = TARGETS.filter((name) => text(flags, name) !== undefined);
  if (given.length !== 1) return 'give exactly one of --order, --return, --product, --event';
  if (!text(flags, given[0]!)) return `--${given[0]} must not be empty`;
  const scan = text(flags, 'scan');
  if (scan !== undefined && !(/^\d+$/.test(scan) && Number(scan) >= 1 && Number(scan) <= MAX_TRACE_SCAN))
    return `--scan takes a whole number from 1 to ${MAX_TRACE_SCAN}`;
  const since = text(flags, 'since');
  if (since !== undefined && !parseIsoDate(since))
    return '--since takes an ISO-8601 date or date-time with offset, e.g. 2026-11-20T00:00:00+07:00';
  return undefined;
}

function queryOf(flags: FlagValues): TraceQuery {
  const base = { platform: text(flags, 'platform') as Platform, shopId: text(flags, 'shop')! };
  const eventId = text(flags, 'event');
  if (eventId !== undefined) return { ...base, eventId };
  const kind = (['order', 'return', 'product'] as const).find((k) => text(flags, k) !== undefined)!;
  return { ...base, kind: kind satisfies DetailKind, entityId: text(flags, kind)! };
}

function boundsOf(flags: FlagValues): TraceBounds {
  const scan = text(flags, 'scan');
  const since = text(flags, 'since');
  return {
    scan: scan === undefined ? DEFAULT_TRACE_SCAN : Number(scan),
    since: since === undefined ? undefined : parseIsoDate(since),
  };
}

/** Redis and MongoDB for one trace; every failure to reach them is one line and exit 1. */
async function withSources(ctx: CommandContext, work: (deps: TraceDeps) => Promise<number>): Promise<number> {
  const config = ctx.config();
  const logger = createLogger({ level: 'silent', pretty: false });
  const redis = createRedis({ url: resolveRedisUrl(config), name: 'cli', logger });
  try {
    const mongo = await connectMongo({
      url: resolveMongoUrl(config),
      dbName: config.mongoDb,
      logger,
      appName: 'market-ingest-cli',
    });
    try {
      return await work({ redis, db: mongo.db, config });
    } finally {
      await mongo.close();
    }
  } catch (error) {
    // Driver messages name host:port at most, never the URL with its credentials.
    if (isAppError(error)) ctx.io.stderr(`market-ingest trace: ${error.message}\n`);
    else if (isRedisConnectionError(error))
      ctx.io.stderr(`market-ingest trace: cannot reach Redis (${(error as Error).message})\n`);
    else throw error;
    return EXIT_FAILURE;
  } finally {
    await closeRedis(redis);
  }
}

const iso = (ms: number) => new Date(ms).toISOString();
const versionText = (v: number) => (v > 0 ? `version ${v} (${iso(v * 1000)})` : 'version unknown');

function seconds(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)}m`;
  return `${(ms / 3_600_000).toFixed(1)}h`;
}

/** "looked at the newest 10000 of 48211 entries (back to …)", so the reader knows what was not seen. */
export function extentText(extent: ScanExtent, since: Date | undefined): string {
  if (extent.length === 0) return 'the stream is empty';
  const back = extent.oldestAt === null ? '' : `, back to ${iso(extent.oldestAt)}`;
  if (!extent.complete) return `looked at the newest ${extent.scanned} of ${extent.length} entries${back}`;
  if (since)
    return `looked at the ${extent.scanned} entries since ${since.toISOString()} (of ${extent.length})`;
  return `looked at all ${extent.length} entries${back}`;
}

function deliveryText(delivery: Delivery): string {
  switch (delivery.state) {
    case 'pending':
      return `pending: delivered ${delivery.deliveries}x, now with ${delivery.consumer}, idle ${seconds(delivery.idleMs)}`;
    case 'acknowledged':
      return 'delivered and acknowledged';
    case 'not delivered yet':
      return 'not delivered to a worker yet';
    case 'no consumer group':
      return 'no consumer group yet (no worker has started)';
  }
}

function entryLines(entry: TracedEntry): string[] {
  const retry = entry.retry
    ? `  retry of ${entry.retry.of} (${entry.retry.attempts} failed attempts${entry.retry.lastError ? `, last ${entry.retry.lastError}` : ''})`
    : '';
  const lines = [
    `  ${entry.id}  ${entry.source}  ${versionText(entry.version)}  event ${entry.eventId}  received ${iso(entry.receivedAt)}${retry}`,
    `      ${deliveryText(entry.delivery)}`,
  ];
  if (entry.outcome && 'deadLetter' in entry.outcome)
    lines.push(`      then dead-lettered as ${entry.outcome.deadLetter}`);
  if (entry.outcome && 'retryDueAt' in entry.outcome)
    lines.push(`      then acked and scheduled for a retry at ${iso(entry.outcome.retryDueAt)}`);
  return lines;
}

function streamSections(report: TraceReport, since: Date | undefined): string[] {
  const { scanned } = report;
  const lines = [`event stream ${scanned.events.key}: ${extentText(scanned.events, since)}`];
  if (report.entries.length === 0) lines.push('  no entries about it');
  for (const entry of report.entries) lines.push(...entryLines(entry));

  lines.push(
    '',
    `retry schedule ${scanned.retries.key}: looked at the earliest ${scanned.retries.scanned} of ${scanned.retries.waiting} waiting`,
  );
  if (report.retries.length === 0) lines.push('  none waiting');
  for (const r of report.retries)
    lines.push(
      `  due ${iso(r.dueAt)}  copy ${r.id} of ${r.retryOf}  ${versionText(r.version)}  ${r.attempts} failed attempts, last ${r.lastError || '?'}`,
    );

  lines.push('', `dead letters ${scanned.deadLetters.key}: ${extentText(scanned.deadLetters, since)}`);
  if (report.deadLetters.length === 0) lines.push('  none');
  for (const d of report.deadLetters)
    lines.push(
      `  ${d.id}  dead at ${iso(d.deadAt)}  ${d.errorCode} after ${d.deliveries} deliveries: ${d.errorMessage}`,
      `      was ${d.originalId} (${d.source}, ${versionText(d.version)}, event ${d.eventId}); market-ingest dlq show ${d.id}`,
    );

  lines.push('', 'sync_failures (MongoDB):');
  if (report.failures.length === 0) lines.push('  none');
  for (const f of report.failures) {
    const error = (f.error ?? {}) as { code?: unknown; message?: unknown };
    const at = f.failed_at instanceof Date ? f.failed_at.toISOString() : '?';
    lines.push(
      `  failed at ${at}  ${String(error.code)}: ${String(error.message)}  (stream id ${String(f.stream_id)}, deliveries ${String(f.deliveries)})`,
    );
  }
  return lines;
}

function documentLines(report: TraceReport): string[] {
  const { kind } = report.target;
  const doc = report.document;
  if (!doc) return [`stored ${kind ?? 'entity'}: none (not written yet, or never)`];
  const field = (name: string): string => {
    const value: unknown = doc[name];
    return value === undefined || value === null
      ? '-'
      : typeof value === 'string'
        ? value
        : JSON.stringify(value);
  };
  return [
    `stored ${kind}:`,
    `  version ${field('version')}  update_time ${field('update_time')}  status ${field('status')}`,
    `  content_hash ${field('content_hash')}`,
    `  synced_at ${field('synced_at')}  details_fetched_at ${field('details_fetched_at')}  sync_source ${field('sync_source')}`,
    `  is_valid ${field('is_valid')}${doc.is_deleted === true ? '  is_deleted true' : ''}`,
  ];
}

function entitySections(report: TraceReport, since: Date | undefined): string[] {
  const { scanned } = report;
  if (report.target.entityId === null || scanned.changes === null) {
    return ['the entity is unknown: no document, notifications or reconcile runs to show'];
  }
  const lines = [...documentLines(report)];
  lines.push('', `change notifications ${scanned.changes.key}: ${extentText(scanned.changes, since)}`);
  if (report.changes.length === 0) lines.push('  none');
  for (const c of report.changes)
    lines.push(`  ${c.id}  ${c.change}  ${versionText(c.version)}  at ${iso(c.at)}`);

  lines.push('', `reconcile runs (sync_runs, the last ${scanned.runs} that reported this shop):`);
  if (report.runs.length === 0) lines.push('  none tied to it');
  for (const run of report.runs) {
    const window = run.window ? `[${run.window.from.toISOString()}, ${run.window.to.toISOString()})` : '?';
    const started = run.startedAt?.toISOString() ?? '?';
    lines.push(
      `  ${run.runId}  ${run.job} (${run.trigger}) ${run.status}, started ${started}, shop ${run.shopStatus}`,
    );
    if (run.covers.length > 0) lines.push(`      window ${window} covers version ${run.covers.join(', ')}`);
    if (run.enqueued.length > 0) lines.push(`      enqueued ${run.enqueued.join(', ')}`);
  }
  return lines;
}

export function formatTrace(report: TraceReport, since?: Date): string {
  const { target } = report;
  const subject = target.eventId === null ? '' : `event ${target.eventId}: `;
  const what = target.entityId === null ? 'entity not found' : `${target.kind} ${target.entityId}`;
  const lines = [`trace ${target.platform} shop ${target.shopId}: ${subject}${what}`];
  if (!report.shopRegistered)
    lines.push(`  (no ${target.platform} shop ${target.shopId} in the shops collection)`);
  lines.push(
    '',
    ...streamSections(report, since),
    '',
    ...entitySections(report, since),
    '',
    'what trace cannot show:',
  );
  for (const limit of report.limits) lines.push(`  - ${limit}`);
  return `${lines.join('\n')}\n`;
}

function foundAnything(report: TraceReport): boolean {
  return (
    report.entries.length + report.retries.length + report.deadLetters.length + report.failures.length > 0 ||
    report.document !== null ||
    report.changes.length > 0
  );
}

export const traceCommand: CommandSpec = {
  name: 'trace',
  usage:
    '--platform P --shop S (--order ID | --return ID | --product ID | --event EVENT_ID) [--scan N] [--since ISO] [--json]',
  summary:
    "one entity's or event's journey: stream entries, pending, retries, dead letters, stored version, notifications, reconcile runs",
  options: {
    platform: { type: 'string' },
    shop: { type: 'string' },
    order: { type: 'string' },
    return: { type: 'string' },
    product: { type: 'string' },
    event: { type: 'string' },
    scan: { type: 'string' },
    since: { type: 'string' },
    json: { type: 'boolean' },
  },
  validate,
  run(ctx) {
    const query = queryOf(ctx.flags);
    const bounds = boundsOf(ctx.flags);
    return withSources(ctx, async (deps) => {
      const report = await traceJourney(deps, query, bounds);
      ctx.io.stdout(
        ctx.flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatTrace(report, bounds.since),
      );
      if (foundAnything(report)) return EXIT_OK;
      ctx.io.stderr(
        `market-ingest trace: nothing found within what was scanned (see above; --scan N looks further back)\n`,
      );
      return EXIT_FAILURE;
    });
  },
};
