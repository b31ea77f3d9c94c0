/** CLI commands for ops: `pending`, `dlq list|replay|purge` (CONTRACT §1). */
import {
  EXIT_FAILURE,
  EXIT_OK,
  UsageError,
  type CommandContext,
  type CommandSpec,
} from '../shared/command.js';
import { resolveRedisUrl } from '../shared/config.js';
import { isAppError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import {
  closeRedis,
  createRedis,
  isRedisConnectionError,
  redisUnreachable,
  type Redis,
} from '../shared/redis.js';
import {
  listDeadLetters,
  pendingSummary,
  purgeDeadLetters,
  replayDeadLetters,
  type PendingSummary,
} from './ops.js';

async function withRedis<T>(ctx: CommandContext, work: (redis: Redis) => Promise<T>): Promise<T> {
  const config = ctx.config();
  const logger = createLogger({ level: 'error', pretty: false });
  // Default profile: commands wait for the connection (briefly) instead of failing before it is up.
  const redis = createRedis({ url: resolveRedisUrl(config), name: 'cli', logger });
  try {
    return await work(redis);
  } catch (error) {
    // Down or unreachable: a typed error the dispatcher reports as "cannot reach Redis at host:port".
    if (isRedisConnectionError(error)) throw redisUnreachable(resolveRedisUrl(config), { cause: error });
    throw new Error(
      `Redis at ${resolveRedisUrl(config)}: ${error instanceof Error ? error.message : String(error)}`,
    );
  } finally {
    await closeRedis(redis);
  }
}

function positiveInteger(value: unknown, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} takes a whole number >= 1`);
  return n;
}

function duration(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)}m`;
  return `${(ms / 3_600_000).toFixed(1)}h`;
}

function formatRetries(retries: PendingSummary['retries']): string[] {
  if (retries.waiting === 0) return [];
  const due =
    retries.nextDueInMs === null
      ? '-'
      : retries.nextDueInMs <= 0
        ? 'now'
        : `in ${duration(retries.nextDueInMs)}`;
  const lines = ['', `waiting for retry: ${retries.waiting}   next due: ${due}`, 'by last error:'];
  for (const [code, count] of Object.entries(retries.byLastError).sort(([, a], [, b]) => b - a)) {
    lines.push(`  ${code}  ${count}`);
  }
  return lines;
}

export function formatPending(summary: PendingSummary): string {
  if (!summary.groupExists) {
    const retries = formatRetries(summary.retries).join('\n');
    return `stream ${summary.stream}: ${summary.streamLength} entries; consumer group ${summary.group} does not exist yet (no worker has started)\n${retries ? `${retries}\n` : ''}`;
  }
  const lines = [
    `stream ${summary.stream} (${summary.streamLength} entries), group ${summary.group}`,
    `pending: ${summary.pending}   not yet delivered (lag): ${summary.lag ?? 'unknown'}   oldest idle: ${duration(summary.oldestIdleMs)}`,
  ];
  if (summary.consumers.length > 0) {
    lines.push('', 'consumers:');
    for (const c of summary.consumers)
      lines.push(`  ${c.name}  pending ${c.pending}  idle ${duration(c.idleMs)}`);
  }
  if (summary.topShops.length > 0) {
    lines.push('', `top shops by pending (of ${summary.sampled} examined):`);
    for (const s of summary.topShops) lines.push(`  ${s.platform}:${s.shopId}  ${s.pending}`);
  }
  const deliveries = Object.entries(summary.deliveries).sort(([a], [b]) => Number(a) - Number(b));
  if (deliveries.length > 0) {
    lines.push('', 'deliveries so far:');
    for (const [times, count] of deliveries) lines.push(`  ${times}x  ${count}`);
  }
  lines.push(...formatRetries(summary.retries));
  return `${lines.join('\n')}\n`;
}

export const pendingCommand: CommandSpec = {
  name: 'pending',
  usage: '[--json] [--sample N]',
  summary: "summary of the consumer group's pending entries (what XPENDING shows, readable)",
  options: { json: { type: 'boolean' }, sample: { type: 'string' } },
  async run(ctx) {
    const sample = ctx.flags.sample === undefined ? 1000 : positiveInteger(ctx.flags.sample, '--sample');
    const summary = await withRedis(ctx, (redis) => pendingSummary(redis, ctx.config(), sample));
    ctx.io.stdout(ctx.flags.json ? `${JSON.stringify(summary, null, 2)}\n` : formatPending(summary));
    return EXIT_OK;
  },
};

export const dlqListCommand: CommandSpec = {
  name: 'dlq list',
  usage: '[--limit N] [--json]',
  summary: 'list dead-lettered entries, oldest first',
  options: { limit: { type: 'string' }, json: { type: 'boolean' } },
  async run(ctx) {
    const limit = ctx.flags.limit === undefined ? 50 : positiveInteger(ctx.flags.limit, '--limit');
    const entries = await withRedis(ctx, (redis) => listDeadLetters(redis, ctx.config(), limit));
    if (ctx.flags.json) {
      ctx.io.stdout(`${JSON.stringify(entries, null, 2)}\n`);
    } else if (entries.length === 0) {
      ctx.io.stdout('the dead-letter stream is empty\n');
    } else {
      for (const { id, fields: f } of entries) {
        const when = f.dead_at ? new Date(Number(f.dead_at)).toISOString() : '?';
        ctx.io.stdout(
          `${id}  ${when}  ${f.platform}:${f.shop_id} ${f.kind} ${f.entity_id}  ${f.error_code} after ${f.deliveries} deliveries: ${f.error_message}\n`,
        );
      }
    }
    return EXIT_OK;
  },
};

export const dlqReplayCommand: CommandSpec = {
  name: 'dlq replay',
  usage: 'ID... | --all',
  summary:
    'move dead letters back to the event stream (source=replay); refused (exit 1) if it would exceed STREAM_MAXLEN',
  options: { all: { type: 'boolean' } },
  positionals: true,
  validate: (flags, ids) => {
    if (flags.all && ids.length > 0) return 'give entry ids or --all, not both';
    if (!flags.all && ids.length === 0) return 'give at least one entry id, or --all';
    const bad = ids.find((id) => !/^\d+-\d+$/.test(id));
    return bad ? `"${bad}" is not a stream entry id (like 1732170000000-0)` : undefined;
  },
  async run(ctx) {
    // A full event stream is an answer, not a Redis failure: withRedis must not reword it.
    const result = await withRedis(ctx, (redis) =>
      replayDeadLetters(redis, ctx.config(), ctx.flags.all ? 'all' : ctx.positionals).catch(
        (error: unknown) => {
          if (isAppError(error, 'ERR_BACKLOG_FULL')) return error;
          throw error;
        },
      ),
    );
    if (isAppError(result)) {
      ctx.io.stderr(`dlq replay refused: ${result.message}\n`);
      return EXIT_FAILURE;
    }
    for (const { deadId, newId } of result.replayed) ctx.io.stdout(`replayed ${deadId} as ${newId}\n`);
    for (const id of result.notFound) ctx.io.stderr(`not in the dead-letter stream: ${id}\n`);
    ctx.io.stdout(`${result.replayed.length} replayed\n`);
    return result.notFound.length > 0 ? EXIT_FAILURE : EXIT_OK;
  },
};

export const dlqPurgeCommand: CommandSpec = {
  name: 'dlq purge',
  usage: '[--before ISO]',
  summary: 'delete dead letters (all, or those dead-lettered before a time)',
  options: { before: { type: 'string' } },
  validate: (flags) =>
    flags.before !== undefined && Number.isNaN(Date.parse(String(flags.before)))
      ? `--before takes an ISO-8601 time such as 2026-11-01T00:00:00+07:00`
      : undefined,
  async run(ctx) {
    const before = ctx.flags.before === undefined ? undefined : new Date(String(ctx.flags.before));
    const removed = await withRedis(ctx, (redis) => purgeDeadLetters(redis, ctx.config(), before));
    ctx.io.stdout(`${removed} dead letters removed\n`);
    return EXIT_OK;
  },
};

export const OPS_COMMANDS = [pendingCommand, dlqListCommand, dlqReplayCommand, dlqPurgeCommand];
