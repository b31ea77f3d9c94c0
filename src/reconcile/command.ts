/** `market-ingest reconcile` and `market-ingest reconcile run …` (CONTRACT §1). */
import { EXIT_FAILURE, EXIT_OK, type CliIo, type CommandSpec, type FlagValues } from '../shared/command.js';
import { isAppError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { configRedactor } from '../shared/redact.js';
import { openRuntime } from '../runtime.js';
import { DETAIL_KINDS, PLATFORMS, type DetailKind, type Platform } from '../shared/stream.js';
import type { RunMode } from './job.js';
import {
  buildReconcileScheduler,
  formatProgress,
  runReconcileRole,
  type ExclusiveRunResult,
} from './main.js';
import { isValidDay } from './window.js';

export const reconcileCommand: CommandSpec = {
  name: 'reconcile',
  summary: 'run the reconcile scheduler only (RECONCILE_CRON in TIMEZONE)',
  async run({ config }) {
    const settings = config();
    const logger = createLogger({ level: settings.logLevel, redact: configRedactor(settings) });
    return runReconcileRole(await openRuntime({ config: settings, logger, role: 'reconcile' }));
  },
};

function validateRunFlags(flags: FlagValues): string | undefined {
  const { date, from, to, platform } = flags as Record<string, string | undefined>;
  if (date !== undefined && (from !== undefined || to !== undefined))
    return 'give --date or --from/--to, not both';
  if ((from === undefined) !== (to === undefined)) return '--from and --to go together';
  for (const [flag, value] of [
    ['--date', date],
    ['--from', from],
    ['--to', to],
  ] as const) {
    if (value !== undefined && !isValidDay(value)) return `${flag} takes a day as YYYY-MM-DD, got "${value}"`;
  }
  if (from !== undefined && to !== undefined && from > to) return '--from must not be after --to';
  if (platform !== undefined && !(PLATFORMS as readonly string[]).includes(platform)) {
    return `--platform takes ${PLATFORMS.join(' or ')}, got "${platform}"`;
  }
  const kind = (flags as Record<string, string | undefined>).kind;
  if (kind !== undefined && parseKinds(kind) === undefined) {
    return `--kind takes a comma-separated list of ${DETAIL_KINDS.join(', ')}, got "${kind}"`;
  }
  return undefined;
}

/** `--kind order,return`: the kinds, or undefined when one is unknown (or none given). */
export function parseKinds(value: string): DetailKind[] | undefined {
  const kinds = value
    .split(',')
    .map((kind) => kind.trim())
    .filter(Boolean);
  if (kinds.length === 0 || !kinds.every((kind) => (DETAIL_KINDS as readonly string[]).includes(kind))) {
    return undefined;
  }
  return [...new Set(kinds)] as DetailKind[];
}

/** The run's result, or undefined when its `--shop`/`--platform` named nothing known (said on stderr). */
async function runOrUnknown(
  io: CliIo,
  start: () => Promise<ExclusiveRunResult>,
): Promise<ExclusiveRunResult | undefined> {
  try {
    return await start();
  } catch (error) {
    if (!isAppError(error, 'ERR_SHOP_UNKNOWN')) throw error;
    io.stderr(`reconcile run: ${error.message}\n`);
    return undefined;
  }
}

export const reconcileRunCommand: CommandSpec = {
  name: 'reconcile run',
  usage:
    '[--date YYYY-MM-DD | --from YYYY-MM-DD --to YYYY-MM-DD] [--platform tiktok|shopee] [--shop ID] [--kind order,return,…]',
  summary:
    'one reconcile (what the schedule would run now) or backfill (dates) run now, then exit: 0 ok, 1 if any shop failed or the filters select no shop',
  options: {
    date: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    platform: { type: 'string' },
    shop: { type: 'string' },
    kind: { type: 'string' },
  },
  validate: validateRunFlags,
  async run({ config, flags, io }) {
    const settings = config();
    const f = flags as Record<string, string | undefined>;
    const platform = f.platform as Platform | undefined;
    if (platform && !settings[platform]) {
      io.stderr(`reconcile run: platform ${platform} is disabled (its credentials are not set)\n`);
      return EXIT_FAILURE;
    }
    // Logs go to stderr so a terminal's progress line and a pipe's summary stay readable.
    const logger = createLogger({
      level: io.isTTY ? 'warn' : settings.logLevel,
      stderr: true,
      redact: configRedactor(settings),
    });
    const mode: RunMode =
      f.date !== undefined
        ? { type: 'days', firstDay: f.date, lastDay: f.date }
        : f.from !== undefined && f.to !== undefined
          ? { type: 'days', firstDay: f.from, lastDay: f.to }
          : { type: 'today' };
    const runtime = await openRuntime({ config: settings, logger, role: 'reconcile-cli' });
    try {
      const scheduler = buildReconcileScheduler(runtime);
      const result = await runOrUnknown(io, () =>
        scheduler.runExclusive({
          trigger: 'cli',
          mode,
          ...(platform ? { platform } : {}),
          ...(f.shop ? { shopId: f.shop } : {}),
          ...(f.kind ? { kinds: parseKinds(f.kind) } : {}),
          onProgress: (progress) => {
            if (io.isTTY) {
              io.stdout(`\r${formatProgress(progress, new Date())}`);
            } else {
              io.stdout(
                `${progress.chunk}: ${progress.chunkEnqueued} enqueued (${progress.chunksDone}/${progress.chunksTotal})\n`,
              );
            }
          },
        }),
      );
      if (result === undefined) return EXIT_FAILURE;
      if (io.isTTY) io.stdout('\n');
      if (!result.ran) {
        io.stderr(`reconcile run: skipped: ${result.reason}\n`);
        return EXIT_FAILURE;
      }
      const { summary } = result;
      io.stdout(
        `run ${summary.id}: ${summary.status}; ${summary.shops.length} shops, ${summary.pages} pages, ` +
          `${summary.listed} listed, ${summary.enqueued} enqueued\n`,
      );
      for (const error of summary.errors) {
        io.stderr(`  ${error.platform ?? '*'}:${error.shop_id ?? '*'} ${error.code}: ${error.message}\n`);
      }
      return summary.status === 'succeeded' ? EXIT_OK : EXIT_FAILURE;
    } finally {
      await runtime.close();
    }
  },
};
