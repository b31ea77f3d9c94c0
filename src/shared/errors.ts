/**
 * Typed errors with stable string codes.
 *
 * Callers decide what to do from `code` and `retryable`, never from message text:
 * the HTTP layer maps codes to status codes, the consumer decides ack / leave pending /
 * dead-letter. Messages are for humans and may change; codes may not.
 */

export const ERROR_CODES = {
  // Configuration and process
  ERR_CONFIG: { retryable: false },
  ERR_USAGE: { retryable: false },
  // Webhook ingest (CONTRACT §3)
  ERR_SIGNATURE: { retryable: false },
  ERR_PAYLOAD: { retryable: false },
  ERR_TOO_LARGE: { retryable: false },
  ERR_MEDIA_TYPE: { retryable: false },
  ERR_RATE_LIMITED: { retryable: true },
  ERR_UNAVAILABLE: { retryable: true },
  ERR_NOT_FOUND: { retryable: false },
  // Stream entries and processing
  ERR_STREAM_ENTRY: { retryable: false },
  ERR_PLATFORM_DISABLED: { retryable: false },
  ERR_SHOP_UNKNOWN: { retryable: false },
  ERR_SHOP_DEAUTHORIZED: { retryable: false },
  // A shop document that cannot be read: malformed, or tokens that do not decrypt with
  // TOKEN_ENCRYPTION_KEY. An operator can fix it, so work for that shop waits instead of dying.
  ERR_SHOP_UNREADABLE: { retryable: true },
  ERR_MONGO_UNAVAILABLE: { retryable: true },
  // MongoDB refused one document (e.g. too large): retrying the same document cannot help.
  ERR_MONGO_REJECTED: { retryable: false },
  // The event stream holds STREAM_MAXLEN unprocessed entries: new events are refused (503).
  ERR_BACKLOG_FULL: { retryable: true },
  // The entry was removed from the stream (XDEL/XTRIM) before it was processed.
  ERR_STREAM_TRIMMED: { retryable: false },
  // The marketplace did not return an entity it notified us about (yet): eventual consistency.
  ERR_ENTITY_NOT_FOUND: { retryable: true },
  // The marketplace returned an older version than the event announced: try again later.
  ERR_STALE_DETAILS: { retryable: true },
  // Delivered MAX_DELIVERIES times without an outcome (e.g. the worker died each time).
  ERR_DELIVERY_LIMIT: { retryable: false },
  ERR_REDIS_UNAVAILABLE: { retryable: true },
  // Marketplace API
  ERR_MARKETPLACE_RATE_LIMITED: { retryable: true },
  ERR_MARKETPLACE_AUTH: { retryable: false },
  ERR_MARKETPLACE_TRANSIENT: { retryable: true },
  ERR_MARKETPLACE_REJECTED: { retryable: false },
  ERR_MARKETPLACE_RESPONSE: { retryable: false },
  // Shop authorization (OAuth): a `state` that is unknown, already used or expired (10 min).
  ERR_OAUTH_STATE: { retryable: false },
  // Mapping marketplace objects to documents
  ERR_MAPPING: { retryable: false },
  // Anything we did not anticipate: retry, and let MAX_DELIVERIES bound it.
  ERR_INTERNAL: { retryable: true },
} as const satisfies Record<string, { retryable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface AppErrorOptions {
  cause?: unknown;
  /** Overrides the code's default retry meaning (e.g. a 4xx that is known to be transient). */
  retryable?: boolean;
  /** Extra structured context for logs. Never put secrets here. */
  details?: Record<string, unknown>;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
    this.details = options.details;
  }

  toJSON(): { code: ErrorCode; message: string; retryable: boolean } {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }
}

export function isAppError(error: unknown, code?: ErrorCode): error is AppError {
  return error instanceof AppError && (code === undefined || error.code === code);
}

/**
 * Wraps anything thrown into an AppError, keeping an existing AppError as is.
 * Unknown errors become ERR_INTERNAL (retryable): the delivery limit bounds them.
 */
export function toAppError(error: unknown, fallback: ErrorCode = 'ERR_INTERNAL'): AppError {
  if (error instanceof AppError) return error;
  return new AppError(fallback, messageOf(error), { cause: error });
}

/** The message of anything thrown (an Error's message, else its string form). */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
