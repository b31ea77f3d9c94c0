import type { CommandSpec } from '../shared/command.js';
import { createLogger } from '../shared/logger.js';
import { configRedactor } from '../shared/redact.js';
import { openRuntime } from '../runtime.js';
import { runWorkerRole } from './main.js';

/** `market-ingest worker`: the stream consumer only (CONTRACT §1). */
export const workerCommand: CommandSpec = {
  name: 'worker',
  summary: 'run the stream consumer only (fetch details, store in MongoDB, ack)',
  async run({ config }) {
    const settings = config();
    const logger = createLogger({ level: settings.logLevel, redact: configRedactor(settings) });
    const runtime = await openRuntime({ config: settings, logger, role: 'worker' });
    return runWorkerRole(runtime);
  },
};
