/**
 * pino factory. JSON lines by default; human-readable output only when stdout is a terminal
 * (never keyed on NODE_ENV). Secrets are redacted twice: by key wherever they appear in a logged
 * object (REDACTED_PATHS), and by value and shape in every finished line (src/shared/redact.ts),
 * which also catches a secret inside a message or an error's properties (ioredis' `command.args`).
 */
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

import type { LogLevel } from './config.js';
import { createRedactor, type Redactor } from './redact.js';

export type { Logger } from 'pino';

/** Paths removed from every log line: credentials in headers, tokens, keys and secrets. */
export const REDACTED_PATHS = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'request.headers.authorization',
  'req.headers["x-tts-access-token"]',
  'headers["x-tts-access-token"]',
  'access_token',
  'refresh_token',
  '*.access_token',
  '*.refresh_token',
  'accessToken',
  'refreshToken',
  '*.accessToken',
  '*.refreshToken',
  'secret',
  '*.secret',
  'appSecret',
  '*.appSecret',
  'partnerKey',
  '*.partnerKey',
  'pushPartnerKey',
  '*.pushPartnerKey',
  'tokenEncryptionKey',
  '*.tokenEncryptionKey',
  'password',
  '*.password',
];

export interface LoggerFactoryOptions {
  level: LogLevel;
  /** Defaults to stdout; tests pass a stream to read what was logged. */
  destination?: DestinationStream;
  /** Force pretty output on or off; by default pretty only when stdout is a TTY. */
  pretty?: boolean;
  /** Log to stderr (JSON), keeping stdout for a command's own output. */
  stderr?: boolean;
  /**
   * Applied to every line before it is written: roles pass `configRedactor(config)` so the
   * configured secrets are replaced too. Default: the shape rules only (URL passwords, AUTH).
   */
  redact?: Redactor;
}

/** What `err` becomes in a log line. */
export interface SerializedError {
  type: string;
  message: string;
  stack?: string;
  code?: string | number;
  retryable?: boolean;
  details?: Record<string, unknown>;
  cause?: SerializedError;
}

const MAX_CAUSES = 3;

/**
 * The one convention for errors in logs: log the thrown value itself, `{ err: error }`. It is
 * written as type/message/stack, plus an AppError's code/retryable/details and the cause chain,
 * and nothing else: other properties of driver errors (ioredis keeps a failed command's
 * arguments, AUTH's password among them) never reach a log line. A value that is not an Error
 * (a thrown string) keeps its text under `message`.
 */
export function serializeError(value: unknown, depth = 0): SerializedError {
  if (!(value instanceof Error)) {
    const { message, code } = (typeof value === 'object' && value !== null ? value : {}) as {
      message?: unknown;
      code?: unknown;
    };
    return {
      type: 'NonError',
      message: typeof message === 'string' ? message : String(value),
      ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    };
  }
  const { code, retryable, details } = value as { code?: unknown; retryable?: unknown; details?: unknown };
  return {
    type: value.constructor.name || value.name,
    message: value.message,
    stack: value.stack ?? '',
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    ...(typeof retryable === 'boolean' ? { retryable } : {}),
    ...(details !== null && typeof details === 'object'
      ? { details: details as Record<string, unknown> }
      : {}),
    ...(value.cause !== undefined && depth < MAX_CAUSES
      ? { cause: serializeError(value.cause, depth + 1) }
      : {}),
  };
}

export function createLogger(options: LoggerFactoryOptions): Logger {
  const base: LoggerOptions = {
    level: options.level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { err: (value: unknown) => serializeError(value) },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    // The finished line, whatever the serializers made of an error: nothing is written unredacted.
    hooks: { streamWrite: options.redact ?? createRedactor() },
  };
  if (options.destination) return pino(base, options.destination);
  if (options.stderr) return pino(base, pino.destination(2));
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  if (pretty) {
    const prettyStream = loadPrettyStream();
    if (prettyStream) return pino(base, prettyStream);
  }
  return pino(base);
}

/** pino-pretty is loaded only on a TTY; production installs still work if it is absent. */
function loadPrettyStream(): DestinationStream | undefined {
  try {
    const require = createRequire(import.meta.url);
    const pretty = require('pino-pretty') as (opts: Record<string, unknown>) => DestinationStream;
    return pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
  } catch {
    return undefined;
  }
}
