/**
 * Real Redis and MongoDB for tests, benchmarks and the demo, choosing per service the first that
 * applies:
 *   1. the variable already set in the environment (REDIS_URL, MONGO_URL);
 *   2. a reachable Docker engine -> testcontainers (redis:7, mongo:7);
 *   3. a binary on PATH (redis-server; mongod or MONGOD_BIN) -> started on a free port;
 *   4. MongoDB only: the wire-compatible emulator (test/support/mongo-emulator).
 */
import { existsSync } from 'node:fs';

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

export async function redisBackend(): Promise<ServiceBackend> {
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

export async function mongoBackend(): Promise<ServiceBackend> {
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

/** Both services; if one cannot be had, the other is stopped again. */
export async function provideServices(): Promise<{ redis: ServiceBackend; mongo: ServiceBackend }> {
  const results = await Promise.allSettled([redisBackend(), mongoBackend()]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    for (const r of results) if (r.status === 'fulfilled') await r.value.stop();
    throw failed.reason;
  }
  const [redis, mongo] = results.map((r) => (r as PromiseFulfilledResult<ServiceBackend>).value) as [
    ServiceBackend,
    ServiceBackend,
  ];
  return { redis, mongo };
}
