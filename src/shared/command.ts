/**
 * What a command of `market-ingest` is. Roles declare their commands with these types (so they
 * never import the CLI); src/cli collects them and dispatches.
 */
import type { ParseArgsConfig } from 'node:util';

import type { Config } from './config.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  isTTY: boolean;
}

export type FlagValues = Record<string, string | boolean | string[] | boolean[] | undefined>;

export interface CommandContext {
  flags: FlagValues;
  positionals: string[];
  io: CliIo;
  /** Loads and validates the environment; config errors are reported by the dispatcher. */
  config: () => Readonly<Config>;
}

export interface CommandSpec {
  /** One or two words, e.g. "start" or "dlq list". */
  name: string;
  /** Usage after the command name, e.g. "[--limit N] [--json]". */
  usage?: string;
  summary: string;
  options?: NonNullable<ParseArgsConfig['options']>;
  /** Positional arguments accepted after the command name. */
  positionals?: boolean;
  /** Cross-flag checks; return a message to reject the call as a usage error. */
  validate?: (flags: FlagValues, positionals: string[]) => string | undefined;
  run(ctx: CommandContext): Promise<number>;
}

/** Thrown by a command to report a usage mistake found while running (exit 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}
