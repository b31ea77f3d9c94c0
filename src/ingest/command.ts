import type { CommandSpec } from '../shared/command.js';
import { createLogger } from '../shared/logger.js';
import { configRedactor } from '../shared/redact.js';
import { runIngest } from './main.js';

/** `market-ingest ingest`: the webhook HTTP server only (CONTRACT §1). */
export const ingestCommand: CommandSpec = {
  name: 'ingest',
  summary: 'run the webhook HTTP server only (verify, dedupe, append to the event stream)',
  async run({ config }) {
    const settings = config();
    return runIngest(settings, createLogger({ level: settings.logLevel, redact: configRedactor(settings) }));
  },
};
