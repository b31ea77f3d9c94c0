/**
 * vitest globalSetup: provides REDIS_URL and MONGO_URL to every test (see services.ts for how
 * each is chosen) and prints one line per service naming the backend, so a test log always
 * says what it ran on.
 */
import type { TestProject } from 'vitest/node';

import { ConfigError, loadConfig } from '../../src/shared/config.js';
import { provideServices } from './services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    mongoUrl: string;
    mongoBackend: string;
  }
}

/** Rejects a bad REDIS_URL / MONGO_URL with the same one-line messages as the service. */
function checkEnvironmentUrls(): void {
  try {
    loadConfig({ REDIS_URL: process.env.REDIS_URL, MONGO_URL: process.env.MONGO_URL });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(error.problems.map((line) => `config: ${line}\n`).join(''));
    process.exit(1);
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  checkEnvironmentUrls();
  const { redis, mongo } = await provideServices();
  process.stdout.write(`redis: ${redis.description}\nmongo: ${mongo.description}\n`);
  project.provide('redisUrl', redis.url);
  project.provide('mongoUrl', mongo.url);
  project.provide('mongoBackend', mongo.description);
  return async () => {
    await Promise.all([redis.stop(), mongo.stop()]);
  };
}
