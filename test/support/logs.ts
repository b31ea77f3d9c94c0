/** A real pino logger whose JSON lines are kept in memory, for tests that check what is logged. */
import { Writable } from 'node:stream';

import { createLogger, type Logger } from '../../src/shared/logger.js';

export interface CapturedLogs {
  lines: Record<string, unknown>[];
  destination: Writable;
  logger: Logger;
}

export function captureLogs(level: 'trace' | 'debug' | 'info' | 'warn' | 'error' = 'info'): CapturedLogs {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { lines, destination, logger: createLogger({ level, destination }) };
}
