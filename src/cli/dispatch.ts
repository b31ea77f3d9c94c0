/**
 * The command dispatcher behind `market-ingest`: finds the command named by the leading words
 * of argv, parses its flags strictly, and turns usage mistakes into exit code 2 with a usage
 * line on stderr. Commands themselves live with the role they belong to.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import {
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  UsageError,
  type CliIo,
  type CommandSpec,
  type FlagValues,
} from '../shared/command.js';
import { ConfigError, loadConfig, type Config } from '../shared/config.js';
import { createRedactor, environmentSecrets } from '../shared/redact.js';
import { isAppError, messageOf } from '../shared/errors.js';
import { DATA_DIR, findRecordedServers, type RecordedServers } from './services-record.js';

export * from '../shared/command.js';

const PROGRAM = 'market-ingest';

/**
 * The version in the package.json of the installed package: two directories above this module,
 * which is src/cli/dispatch.ts under tsx and dist/cli/dispatch.js once built.
 */
export function packageVersion(moduleUrl: string | URL = import.meta.url): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', moduleUrl), 'utf8')) as {
    version?: unknown;
  };
  if (typeof manifest.version !== 'string') throw new Error('package.json has no version');
  return manifest.version;
}

/** What the dispatcher needs to know about a command beyond CommandSpec. */
export interface CliCommandSpec extends CommandSpec {
  /**
   * The command starts its own Redis/MongoDB when REDIS_URL / MONGO_URL are unset (`start`), so
   * the dispatcher does not point it at servers recorded in data/services.json.
   */
  embedsServers?: boolean;
}

export function usageLine(command: CommandSpec): string {
  return `${PROGRAM} ${command.name}${command.usage ? ` ${command.usage}` : ''}`;
}

/** Usages longer than this get their summary on the next line, so --help stays readable. */
const HELP_USAGE_WIDTH = 44;

export function helpText(commands: readonly CommandSpec[]): string {
  const usages = commands.map((c) => usageLine(c).slice(PROGRAM.length + 1));
  const width = Math.min(HELP_USAGE_WIDTH, Math.max(...usages.map((u) => u.length)));
  const lines = commands.map((c, i) => {
    const usage = usages[i]!;
    return usage.length <= width
      ? `  ${usage.padEnd(width)}  ${c.summary}`
      : `  ${usage}
  ${' '.repeat(width)}  ${c.summary}`;
  });
  return [
    `Usage: ${PROGRAM} <command> [options]`,
    '',
    'Commands:',
    ...lines,
    '',
    'Options:',
    '  --help     this list (also after a command: its usage)',
    '  --version  the package version',
    '',
    `Run "${PROGRAM} <command> --help" for one command. Configuration comes from the environment (see README).`,
    '',
  ].join('\n');
}

function findCommand<T extends CommandSpec>(commands: readonly T[], argv: readonly string[]) {
  // Longest name first, so "reconcile run" wins over "reconcile".
  const byLength = [...commands].sort((a, b) => b.name.split(' ').length - a.name.split(' ').length);
  for (const command of byLength) {
    const words = command.name.split(' ');
    if (words.every((word, i) => argv[i] === word)) return { command, rest: argv.slice(words.length) };
  }
  return undefined;
}

/**
 * The one way commands print: both streams pass through a redactor that knows the secrets of
 * the environment (as given, valid or not) and the shapes of credentials (src/shared/redact.ts).
 */
export function redactingIo(io: CliIo): CliIo {
  const redact = createRedactor(environmentSecrets(io.env));
  return {
    ...io,
    stdout: (text) => io.stdout(redact(text)),
    stderr: (text) => io.stderr(redact(text)),
  };
}

export async function dispatch(
  commands: readonly CliCommandSpec[],
  argv: readonly string[],
  rawIo: CliIo,
): Promise<number> {
  const io = redactingIo(rawIo);
  const first = argv[0];
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    (first === undefined ? io.stderr : io.stdout)(helpText(commands));
    return first === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (first === '--version') {
    io.stdout(`${packageVersion()}\n`);
    return EXIT_OK;
  }

  const found = findCommand(commands, argv);
  if (!found) {
    const group = commands.filter((c) => c.name.startsWith(`${first} `));
    const hint =
      group.length > 0 ? group.map(usageLine).join('\n') : `Run "${PROGRAM} --help" for the commands.`;
    io.stderr(`${PROGRAM}: unknown command "${argv.slice(0, 2).join(' ')}"\n${hint}\n`);
    return EXIT_USAGE;
  }
  const { command, rest } = found;
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(`Usage: ${usageLine(command)}\n${command.summary}\n`);
    return EXIT_OK;
  }

  let flags: FlagValues;
  let positionals: string[];
  try {
    const parsed = parseArgs({
      args: [...rest],
      options: command.options ?? {},
      allowPositionals: command.positionals ?? false,
      strict: true,
    });
    flags = parsed.values as FlagValues;
    positionals = parsed.positionals;
    const problem = command.validate?.(flags, positionals);
    if (problem) throw new UsageError(problem);
  } catch (error) {
    return usageFailure(io, command, error);
  }

  // The one place where "REDIS_URL / MONGO_URL unset" is resolved for every command.
  const recorded: RecordedServers = command.embedsServers
    ? { notes: [] }
    : await findRecordedServers({ env: io.env, dataDir: DATA_DIR });
  for (const note of recorded.notes) io.stderr(`${note}\n`);
  let config: Readonly<Config> | undefined;
  try {
    return await command.run({
      flags,
      positionals,
      io,
      config: () => (config ??= withRecordedServers(loadConfig(io.env), recorded)),
    });
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr(error.problems.map((line) => `config: ${line}\n`).join(''));
      return EXIT_FAILURE;
    }
    if (error instanceof UsageError) return usageFailure(io, command, error);
    // A server that cannot be reached is an answer, not a bug: one plain line naming host:port.
    if (isAppError(error, 'ERR_REDIS_UNAVAILABLE') || isAppError(error, 'ERR_MONGO_UNAVAILABLE')) {
      io.stderr(`${PROGRAM} ${command.name}: ${error.message}\n`);
      return EXIT_FAILURE;
    }
    // Not reported by the command itself: one line, through the redacting output like the rest.
    io.stderr(`${PROGRAM}: ${messageOf(error)}\n`);
    return EXIT_FAILURE;
  }
}

function withRecordedServers(config: Readonly<Config>, recorded: RecordedServers): Readonly<Config> {
  if (!recorded.redisUrl && !recorded.mongoUrl) return config;
  return Object.freeze({
    ...config,
    redisUrl: config.redisUrl ?? recorded.redisUrl,
    mongoUrl: config.mongoUrl ?? recorded.mongoUrl,
  });
}

function usageFailure(io: CliIo, command: CommandSpec, error: unknown): number {
  const message = messageOf(error);
  io.stderr(`${PROGRAM} ${command.name}: ${message}\nUsage: ${usageLine(command)}\n`);
  return EXIT_USAGE;
}
