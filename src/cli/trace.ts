/**
 * The queries behind `market-ingest trace`: one entity's (or one event's) journey through every
 * place the service leaves a trace of it, read-only:
 *
 *   event stream      entries about it (webhook / reconcile / replay / retried copies), each with
 *                     its delivery state from the consumer group (XPENDING, last-delivered-id);
 *   retry schedule    copies waiting for their next try (`<STREAM_KEY>:retry`);
 *   dead letters      the dead-letter stream, and `sync_failures` in MongoDB;
 *   stored document   version, content_hash, synced_at, details_fetched_at, sync_source;
 *   notifications     CHANGES_STREAM_KEY entries about it;
 *   reconcile runs    `sync_runs` whose window for the shop covers a version seen here, or that
 *                     were running when a reconcile entry about it was added.
 *
 * Redis cannot search a stream, so each is read newest first and the scan is bounded (entries,
 * and optionally a start time); the report says how far back each scan went. Lives in src/cli
 * because it reads what ingest, the consumer and reconcile write.
 */
import type { Db, Document } from 'mongodb';

import { retryScheduleKey } from '../consumer/group.js';
import { DEFAULT_RECONCILED_KINDS } from '../reconcile/feed.js';
import type { Config } from '../shared/config.js';
import { ENTITY_ID_FIELD, KIND_STORAGE } from '../shared/documents.js';
import type { DetailKind } from '../marketplaces/types.js';
import { COLLECTIONS } from '../shared/mongo.js';
import type { Redis } from '../shared/redis.js';
import { fieldsToRecord, type Platform } from '../shared/stream.js';

export type TraceConfig = Pick<
  Config,
  'streamKey' | 'deadLetterStreamKey' | 'changesStreamKey' | 'consumerGroup'
>;

/** What to trace: an entity, or one event (its entity is then found from its entries). */
export type TraceQuery = { platform: Platform; shopId: string } & (
  { kind: DetailKind; entityId: string } | { eventId: string }
);

export interface TraceBounds {
  /** Newest entries read from each stream, and earliest members read from the retry schedule. */
  scan: number;
  /** Stream entries added before this are not read. */
  since?: Date;
}

/** How much of a stream a scan covered. */
export interface ScanExtent {
  key: string;
  length: number;
  scanned: number;
  /** True when the scan reached the stream's start (or `since`) before its entry budget ran out. */
  complete: boolean;
  /** ms timestamp of the oldest entry read (its stream id), null when none was. */
  oldestAt: number | null;
}

export type Delivery =
  | { state: 'pending'; consumer: string; idleMs: number; deliveries: number }
  | { state: 'acknowledged' }
  | { state: 'not delivered yet' }
  | { state: 'no consumer group' };

export interface TracedEntry {
  id: string;
  source: string;
  version: number;
  eventId: string;
  eventType: string;
  receivedAt: number;
  /** Set on retried copies: the first copy's id, real attempts so far, the last error. */
  retry: { of: string; attempts: number; lastError: string } | null;
  delivery: Delivery;
  /** What became of it when that is known: dead-lettered (dead letter id) or waiting for a retry. */
  outcome: { deadLetter: string } | { retryDueAt: number } | null;
}

export interface TracedRetry {
  /** Stream id of the copy that failed and was moved here. */
  id: string;
  kind: string;
  entityId: string;
  eventId: string;
  version: number;
  dueAt: number;
  retryOf: string;
  attempts: number;
  lastError: string;
}

export interface TracedDeadLetter {
  id: string;
  originalId: string;
  source: string;
  version: number;
  eventId: string;
  errorCode: string;
  errorMessage: string;
  deliveries: number;
  deadAt: number;
}

export interface TracedChange {
  id: string;
  change: string;
  version: number;
  at: number;
}

export interface TracedRun {
  runId: string;
  job: string;
  trigger: string;
  status: string;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** The run's window for this shop, [from, to). */
  window: { from: Date; to: Date } | null;
  shopStatus: string;
  /** Versions seen in this trace that fall in the window: the listing would have returned them. */
  covers: number[];
  /** Reconcile entries of this trace added while the run was running. */
  enqueued: string[];
}

export interface TraceReport {
  target: {
    platform: Platform;
    shopId: string;
    kind: string | null;
    entityId: string | null;
    eventId: string | null;
  };
  /** Whether the shop is in the `shops` collection. */
  shopRegistered: boolean;
  group: { name: string; exists: boolean; lastDeliveredId: string | null };
  entries: TracedEntry[];
  retries: TracedRetry[];
  deadLetters: TracedDeadLetter[];
  failures: Document[];
  document: Document | null;
  changes: TracedChange[];
  runs: TracedRun[];
  scanned: {
    events: ScanExtent;
    deadLetters: ScanExtent;
    changes: ScanExtent | null;
    retries: { key: string; waiting: number; scanned: number };
    runs: number;
  };
  /** What the data cannot tell, for this trace. */
  limits: string[];
}

export interface TraceDeps {
  redis: Redis;
  db: Db;
  config: TraceConfig;
  now?: () => number;
}

type RawEntry = [id: string, fields: string[]];
type Fields = Record<string, string>;
type Matcher = (fields: Fields) => boolean;

const PAGE = 1_000;
/** sync_failures documents and sync_runs read per trace. */
const FAILURES_LIMIT = 20;
const RUNS_LIMIT = 20;

const DOCUMENT_FIELDS = [
  'version',
  'content_hash',
  'synced_at',
  'details_fetched_at',
  'sync_source',
  'update_time',
  'status',
  'is_valid',
  'validation_errors',
  'is_deleted',
] as const;

function streamIdMs(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

/** Orders stream ids numerically (as strings "1700000000000-10" < "1700000000000-9"). */
export function compareStreamIds(a: string, b: string): number {
  const [aMs, aSeq] = a.split('-').map(Number) as [number, number];
  const [bMs, bSeq] = b.split('-').map(Number) as [number, number];
  return aMs - bMs || aSeq - bSeq;
}

/** The newest entries of a stream that match, oldest first, within the bounds; and how far it looked. */
export async function scanNewest(
  redis: Redis,
  key: string,
  bounds: TraceBounds,
  match: Matcher,
): Promise<{ found: RawEntry[]; extent: ScanExtent }> {
  const floor = bounds.since ? `${bounds.since.getTime()}-0` : '-';
  const extent: ScanExtent = {
    key,
    length: await redis.xlen(key),
    scanned: 0,
    complete: false,
    oldestAt: null,
  };
  const found: RawEntry[] = [];
  let top = '+';
  for (;;) {
    const count = Math.min(PAGE, bounds.scan - extent.scanned);
    if (count <= 0) break;
    const page = (await redis.xrevrange(key, top, floor, 'COUNT', count)) as RawEntry[];
    for (const entry of page) if (match(fieldsToRecord(entry[1]))) found.push(entry);
    extent.scanned += page.length;
    if (page.length > 0) extent.oldestAt = streamIdMs(page[page.length - 1]![0]);
    if (page.length < count) {
      extent.complete = true;
      break;
    }
    top = `(${page[page.length - 1]![0]}`;
  }
  // The budget ran out exactly at the start of what there is to read: that is complete too.
  if (!extent.complete) extent.complete = (await redis.xrevrange(key, top, floor, 'COUNT', 1)).length === 0;
  return { found: found.reverse(), extent };
}

function matcherFor(query: TraceQuery): Matcher {
  const { platform, shopId } = query;
  if ('eventId' in query) {
    return (f) => f.platform === platform && f.shop_id === shopId && f.event_id === query.eventId;
  }
  return (f) =>
    f.platform === platform &&
    f.shop_id === shopId &&
    f.kind === query.kind &&
    f.entity_id === query.entityId;
}

const count = (value: string | undefined) => (value && /^\d{1,16}$/.test(value) ? Number(value) : 0);

async function groupInfo(redis: Redis, config: TraceConfig): Promise<TraceReport['group']> {
  const groups = (await redis.xinfo('GROUPS', config.streamKey).catch(() => [])) as unknown[][];
  for (const pairs of groups) {
    const record = fieldsToRecord(pairs.map(String));
    if (record.name === config.consumerGroup) {
      return {
        name: config.consumerGroup,
        exists: true,
        lastDeliveredId: record['last-delivered-id'] ?? null,
      };
    }
  }
  return { name: config.consumerGroup, exists: false, lastDeliveredId: null };
}

/** Each entry's state in the group: XPENDING for the pending ones, last-delivered-id for the rest. */
async function deliveries(
  redis: Redis,
  config: TraceConfig,
  group: TraceReport['group'],
  ids: readonly string[],
): Promise<Delivery[]> {
  if (!group.exists) return ids.map(() => ({ state: 'no consumer group' }));
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.xpending(config.streamKey, config.consumerGroup, id, id, 1);
  const replies = (await pipeline.exec()) ?? [];
  return ids.map((id, i) => {
    const [error, rows] = replies[i] ?? [new Error('no reply'), null];
    if (error) throw error;
    const row = (rows as [string, string, number, number][])[0];
    if (row)
      return { state: 'pending', consumer: row[1], idleMs: Number(row[2]), deliveries: Number(row[3]) };
    const delivered = group.lastDeliveredId !== null && compareStreamIds(id, group.lastDeliveredId) <= 0;
    return delivered ? { state: 'acknowledged' } : { state: 'not delivered yet' };
  });
}

function toEntry([id, flat]: RawEntry, delivery: Delivery): TracedEntry {
  const f = fieldsToRecord(flat);
  return {
    id,
    source: f.source ?? '?',
    version: count(f.version),
    eventId: f.event_id ?? '',
    eventType: f.event_type ?? '',
    receivedAt: count(f.received_at),
    retry: f.retry_of ? { of: f.retry_of, attempts: count(f.attempts), lastError: lastError(f) } : null,
    delivery,
    outcome: null,
  };
}

function lastError(f: Fields): string {
  return f.last_error_code ? `${f.last_error_code}: ${f.last_error_message ?? ''}` : '';
}

/** The earliest `scan` members of the retry schedule that match (members are `{id, f: fields}`). */
async function scanRetries(
  redis: Redis,
  key: string,
  scan: number,
  match: Matcher,
): Promise<{ found: TracedRetry[]; extent: TraceReport['scanned']['retries'] }> {
  const [waiting, members] = await Promise.all([
    redis.zcard(key),
    redis.zrange(key, '0', String(scan - 1), 'WITHSCORES'),
  ]);
  const found: TracedRetry[] = [];
  for (let i = 0; i + 1 < members.length; i += 2) {
    let member: { id?: unknown; f?: unknown };
    try {
      member = JSON.parse(members[i]!) as { id?: unknown; f?: unknown };
    } catch {
      continue; // not ours to explain here; `pending` counts unreadable members
    }
    if (!Array.isArray(member.f)) continue;
    const f = fieldsToRecord(member.f.map(String));
    if (!match(f)) continue;
    const id = String(member.id);
    found.push({
      id,
      kind: f.kind ?? '',
      entityId: f.entity_id ?? '',
      eventId: f.event_id ?? '',
      version: count(f.version),
      dueAt: Number(members[i + 1]),
      retryOf: f.retry_of ?? id,
      attempts: count(f.attempts),
      lastError: lastError(f),
    });
  }
  return { found, extent: { key, waiting, scanned: members.length / 2 } };
}

function toDeadLetter([id, flat]: RawEntry): TracedDeadLetter {
  const f = fieldsToRecord(flat);
  return {
    id,
    originalId: f.original_id ?? '',
    source: f.source ?? '?',
    version: count(f.version),
    eventId: f.event_id ?? '',
    errorCode: f.error_code ?? '',
    errorMessage: f.error_message ?? '',
    deliveries: count(f.deliveries),
    deadAt: count(f.dead_at),
  };
}

/** Marks the entries whose fate is known: moved to the dead-letter stream, or to the retry schedule. */
function attachOutcomes(entries: TracedEntry[], retries: TracedRetry[], dead: TracedDeadLetter[]): void {
  const deadByOriginal = new Map(dead.map((d) => [d.originalId, d.id]));
  const retryById = new Map(retries.map((r) => [r.id, r.dueAt]));
  for (const entry of entries) {
    const deadId = deadByOriginal.get(entry.id);
    const dueAt = retryById.get(entry.id);
    if (deadId !== undefined) entry.outcome = { deadLetter: deadId };
    else if (dueAt !== undefined) entry.outcome = { retryDueAt: dueAt };
  }
}

async function findFailures(db: Db, query: TraceQuery): Promise<Document[]> {
  const filter: Document = { platform: query.platform, shop_id: query.shopId };
  if ('eventId' in query) filter.event_id = query.eventId;
  else Object.assign(filter, { kind: query.kind, entity_id: query.entityId });
  return db
    .collection(COLLECTIONS.syncFailures)
    .find(filter, { projection: { _id: 0, payload: 0 } })
    .sort({ failed_at: -1 })
    .limit(FAILURES_LIMIT)
    .toArray();
}

async function findDocument(db: Db, platform: Platform, shopId: string, kind: DetailKind, entityId: string) {
  const projection: Document = { _id: 0 };
  for (const field of DOCUMENT_FIELDS) projection[field] = 1;
  return db
    .collection(KIND_STORAGE[kind].collection)
    .findOne({ platform, shop_id: shopId, [ENTITY_ID_FIELD[kind]]: entityId }, { projection });
}

interface RecordedRun {
  run_id?: unknown;
  job?: unknown;
  trigger?: unknown;
  status?: unknown;
  started_at?: unknown;
  finished_at?: unknown;
  window?: { from?: unknown; to?: unknown };
  shops?: {
    platform?: unknown;
    shop_id?: unknown;
    status?: unknown;
    window?: { from?: unknown; to?: unknown };
  }[];
}

const asDate = (value: unknown): Date | null => (value instanceof Date ? value : null);
const asText = (value: unknown): string => (typeof value === 'string' ? value : '?');

/**
 * `sync_runs` keep per-shop counts, not ids: a run is tied to this entity when its window for the
 * shop covers a version seen here (the listing returned it, if the marketplace reported that
 * update time then), or when a reconcile entry about it was added while the run was running.
 */
async function findRuns(
  db: Db,
  query: TraceQuery,
  versions: readonly number[],
  reconcileEntries: readonly TracedEntry[],
  now: number,
): Promise<{ runs: TracedRun[]; read: number }> {
  const recorded = (await db
    .collection(COLLECTIONS.syncRuns)
    .find(
      { shops: { $elemMatch: { platform: query.platform, shop_id: query.shopId } } },
      { projection: { _id: 0 } },
    )
    .sort({ started_at: -1 })
    .limit(RUNS_LIMIT)
    .toArray()) as RecordedRun[];
  const runs: TracedRun[] = [];
  for (const run of recorded) {
    const report = run.shops?.find((s) => s.platform === query.platform && s.shop_id === query.shopId);
    const from = asDate(report?.window?.from ?? run.window?.from);
    const to = asDate(report?.window?.to ?? run.window?.to);
    const window = from && to ? { from, to } : null;
    const covers = window
      ? versions.filter((v) => v * 1000 >= window.from.getTime() && v * 1000 < window.to.getTime())
      : [];
    const startedAt = asDate(run.started_at);
    const finishedAt = asDate(run.finished_at);
    const during = (at: number) =>
      startedAt !== null && at >= startedAt.getTime() && at <= (finishedAt?.getTime() ?? now);
    const enqueued = reconcileEntries.filter((e) => during(e.receivedAt)).map((e) => e.id);
    if (covers.length === 0 && enqueued.length === 0) continue;
    runs.push({
      runId: asText(run.run_id),
      job: asText(run.job),
      trigger: asText(run.trigger),
      status: asText(run.status),
      startedAt,
      finishedAt,
      window,
      shopStatus: asText(report?.status),
      covers: [...new Set(covers)].sort((a, b) => a - b),
      enqueued,
    });
  }
  return { runs, read: recorded.length };
}

function toChange([id, flat]: RawEntry): TracedChange {
  const f = fieldsToRecord(flat);
  return { id, change: f.change ?? '?', version: count(f.version), at: count(f.at) };
}

/** The entity an event is about, from the first record found of it that names one. */
function resolveEntity(
  query: TraceQuery,
  records: readonly { kind?: unknown; entity_id?: unknown }[],
): { kind: string; entityId: string } | null {
  if (!('eventId' in query)) return { kind: query.kind, entityId: query.entityId };
  for (const { kind, entity_id: entityId } of records) {
    if (typeof kind === 'string' && kind && typeof entityId === 'string' && entityId)
      return { kind, entityId };
  }
  return null;
}

const isDetailKind = (kind: string): kind is DetailKind =>
  kind === 'order' || kind === 'return' || kind === 'product';

function limitsOf(report: TraceReport): string[] {
  const limits = [
    'An acknowledged entry keeps no delivery count or consumer in Redis: only pending entries show them.',
    'sync_runs record counts per shop, not ids: a run is shown when its window for the shop covers a ' +
      'version seen here, or when a reconcile entry about it was added while it ran.',
    'Entries trimmed from a stream (processed, and older than what it keeps) are gone; the stored ' +
      'document and sync_failures remain.',
  ];
  const { kind } = report.target;
  if (kind !== null && isDetailKind(kind) && !DEFAULT_RECONCILED_KINDS.includes(kind)) {
    limits.push(`Reconcile does not list ${kind}s: they arrive by webhook (and replay) only.`);
  }
  if (report.target.eventId !== null && report.target.kind === null) {
    limits.push('The event was not found in what was scanned, so its entity is unknown.');
  }
  return limits;
}

/** Scans and queries everything about the query's entity or event; see the module comment. */
export async function traceJourney(
  deps: TraceDeps,
  query: TraceQuery,
  bounds: TraceBounds,
): Promise<TraceReport> {
  const report = await traceEvents(deps, query, bounds);
  const { kind, entityId } = report.target;
  if (kind !== null && isDetailKind(kind) && entityId !== null) {
    await traceEntity(deps, report, kind, entityId, bounds);
  }
  report.limits = limitsOf(report);
  return report;
}

/** The event-level part: stream entries and their delivery, retries, dead letters, sync_failures. */
async function traceEvents(deps: TraceDeps, query: TraceQuery, bounds: TraceBounds): Promise<TraceReport> {
  const { redis, db, config } = deps;
  const match = matcherFor(query);
  const [events, dead, retried, failures, group, shop] = await Promise.all([
    scanNewest(redis, config.streamKey, bounds, match),
    scanNewest(redis, config.deadLetterStreamKey, bounds, match),
    scanRetries(redis, retryScheduleKey(config.streamKey), bounds.scan, match),
    findFailures(db, query),
    groupInfo(redis, config),
    db
      .collection(COLLECTIONS.shops)
      .findOne({ platform: query.platform, shop_id: query.shopId }, { projection: { _id: 1 } }),
  ]);
  const states = await deliveries(
    redis,
    config,
    group,
    events.found.map(([id]) => id),
  );
  const entries = events.found.map((entry, i) => toEntry(entry, states[i]!));
  const deadLetters = dead.found.map(toDeadLetter);
  attachOutcomes(entries, retried.found, deadLetters);
  const entity = resolveEntity(query, [
    ...[...events.found, ...dead.found].map(([, flat]) => fieldsToRecord(flat)),
    ...retried.found.map((r) => ({ kind: r.kind, entity_id: r.entityId })),
    ...failures,
  ]);
  return {
    target: {
      platform: query.platform,
      shopId: query.shopId,
      kind: entity?.kind ?? null,
      entityId: entity?.entityId ?? null,
      eventId: 'eventId' in query ? query.eventId : null,
    },
    shopRegistered: shop !== null,
    group,
    entries,
    retries: retried.found,
    deadLetters,
    failures,
    document: null,
    changes: [],
    runs: [],
    scanned: {
      events: events.extent,
      deadLetters: dead.extent,
      changes: null,
      retries: retried.extent,
      runs: 0,
    },
    limits: [],
  };
}

/** The entity-level part: stored document, change notifications, reconcile runs. */
async function traceEntity(
  deps: TraceDeps,
  report: TraceReport,
  kind: DetailKind,
  entityId: string,
  bounds: TraceBounds,
): Promise<void> {
  const { platform, shopId } = report.target;
  const sameEntity: Matcher = (f) =>
    f.platform === platform && f.shop_id === shopId && f.kind === kind && f.entity_id === entityId;
  const [document, changes] = await Promise.all([
    findDocument(deps.db, platform, shopId, kind, entityId),
    scanNewest(deps.redis, deps.config.changesStreamKey, bounds, sameEntity),
  ]);
  report.document = document;
  report.changes = changes.found.map(toChange);
  report.scanned.changes = changes.extent;
  const versions = [
    ...report.entries.map((e) => e.version),
    ...report.deadLetters.map((d) => d.version),
    ...report.changes.map((c) => c.version),
    ...(typeof document?.version === 'number' ? [document.version] : []),
  ].filter((v) => v > 0);
  const reconcileEntries = report.entries.filter((e) => e.source === 'reconcile');
  const { runs, read } = await findRuns(
    deps.db,
    { platform, shopId, kind, entityId },
    versions,
    reconcileEntries,
    (deps.now ?? Date.now)(),
  );
  report.runs = runs;
  report.scanned.runs = read;
}
