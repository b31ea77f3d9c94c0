/**
 * vitest globalSetup: provides REDIS_URL and MONGO_URL to every test, choosing per service the
 * first that applies:
 *   1. the variable already set in the environment;
 *   2. a reachable Docker engine -> testcontainers (redis:7, mongo:7);
 *   3. a binary on PATH (redis-server; mongod or MONGOD_BIN) -> started on a free port;
 *   4. MongoDB only: the wire-compatible emulator (test/support/mongo-emulator).
 * It prints one line per service naming the backend, so a test log always says what it ran on.
 */
import { existsSync } from 'node:fs';
import type { TestProject } from 'vitest/node';

import { ConfigError, loadConfig } from '../../src/shared/config.js';
import {
  emulatorAvailable,
  findOnPath,
  startMongod,
  startMongoEmulator,
  startRedisServer,
} from './processes.js';

export interface ServiceBackend {
  url: string;
  description: string;
  stop(): Promise<void>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    mongoUrl: string;
    mongoBackend: string;
  }
}

function dockerReachable(): boolean {
  if (process.env.TESTCONTAINERS_DISABLED === 'true') return false;
  if (process.env.DOCKER_HOST) return true;
  return existsSync('/var/run/docker.sock');
}

async function fromContainer(image: string, port: number, scheme: string): Promise<ServiceBackend> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer(image)
    .withExposedPorts(port)
    .withWaitStrategy(Wait.forListeningPorts())
    .start();
  const url = `${scheme}://${container.getHost()}:${container.getMappedPort(port)}`;
  return {
    url,
    description: `testcontainers ${image} at ${url}`,
    stop: async () => void (await container.stop()),
  };
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

async function redisBackend(): Promise<ServiceBackend> {
  if (process.env.REDIS_URL) {
    return {
      url: process.env.REDIS_URL,
      description: 'REDIS_URL from the environment',
      stop: async () => {},
    };
  }
  if (dockerReachable()) {
    try {
      return await fromContainer('redis:7', 6379, 'redis');
    } catch (error) {
      process.stderr.write(
        `docker looked reachable but failed (${(error as Error).message}); trying redis-server\n`,
      );
    }
  }
  const binary = findOnPath('redis-server');
  if (!binary) throw new Error('no Redis for tests: set REDIS_URL, run Docker, or install redis-server');
  const server = await startRedisServer(binary);
  return { url: server.url, description: server.description, stop: () => server.stop() };
}

async function mongoBackend(): Promise<ServiceBackend> {
  if (process.env.MONGO_URL) {
    return {
      url: process.env.MONGO_URL,
      description: 'MONGO_URL from the environment',
      stop: async () => {},
    };
  }
  if (dockerReachable()) {
    try {
      const backend = await fromContainer('mongo:7', 27017, 'mongodb');
      return { ...backend, url: `${backend.url}/?directConnection=true` };
    } catch (error) {
      process.stderr.write(
        `docker looked reachable but failed (${(error as Error).message}); trying mongod\n`,
      );
    }
  }
  const mongod = process.env.MONGOD_BIN ?? findOnPath('mongod');
  if (mongod) {
    const server = await startMongod(mongod);
    return { url: server.url, description: server.description, stop: () => server.stop() };
  }
  if (!emulatorAvailable()) {
    throw new Error(
      'no MongoDB for tests: set MONGO_URL, run Docker, put mongod on PATH (or MONGOD_BIN), ' +
        'or apt-get install python3-mockupdb python3-mongomock for the emulator',
    );
  }
  const emulator = await startMongoEmulator();
  return { url: emulator.url, description: emulator.description, stop: () => emulator.stop() };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  checkEnvironmentUrls();
  const results = await Promise.allSettled([redisBackend(), mongoBackend()]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    // Do not leave the other service running when one could not be had.
    for (const r of results) if (r.status === 'fulfilled') await r.value.stop();
    throw failed.reason;
  }
  const [redis, mongo] = results.map((r) => (r as PromiseFulfilledResult<ServiceBackend>).value) as [
    ServiceBackend,
    ServiceBackend,
  ];
  process.stdout.write(`redis: ${redis.description}\nmongo: ${mongo.description}\n`);
  project.provide('redisUrl', redis.url);
  project.provide('mongoUrl', mongo.url);
  project.provide('mongoBackend', mongo.description);
  return async () => {
    await Promise.all([redis.stop(), mongo.stop()]);
  };
}
