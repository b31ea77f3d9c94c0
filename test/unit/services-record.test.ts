/**
 * data/services.json and how commands choose their servers from it (issue 12 #1), with the
 * reachability probe passed in; and `serverAddress`, the only way error messages name a server.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import {
  findRecordedServers,
  readServicesRecord,
  removeServicesRecord,
  writeServicesRecord,
  type ServicesRecord,
} from '../../src/cli/services-record.js';
import { serverAddress } from '../../src/shared/config.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mi-record-'));
  dirs.push(dir);
  return join(dir, 'data');
}

const running: ServicesRecord = {
  version: 1,
  pid: 4242,
  startedAt: '2026-11-29T10:00:00.000Z',
  redis: { url: 'redis://127.0.0.1:41234', dataDir: '/x/data/redis' },
  mongo: { url: 'mongodb://127.0.0.1:41235/', dataDir: '/x/data/mongo' },
};

const alive = (urls: string[]) => (url: string) => Promise.resolve(urls.includes(url));

describe('services record', () => {
  it('is written whole (no temporary file left), read back, and removed only by its own start', () => {
    const dir = dataDir();
    writeServicesRecord(dir, running);
    expect(readdirSync(dir)).toEqual(['services.json']);
    expect(readServicesRecord(dir)).toEqual({ status: 'ok', record: running });

    removeServicesRecord(dir, 1); // another start's pid: untouched
    expect(readServicesRecord(dir)).toEqual({ status: 'ok', record: running });
    removeServicesRecord(dir, 4242);
    expect(readServicesRecord(dir)).toEqual({ status: 'absent' });
  });

  it('uses the recorded servers that answer, for the variables that are unset, in one line', async () => {
    const dir = dataDir();
    writeServicesRecord(dir, running);
    const probe = alive([running.redis!.url, running.mongo!.url]);
    expect(await findRecordedServers({ env: {}, dataDir: dir, probe })).toEqual({
      redisUrl: running.redis!.url,
      mongoUrl: running.mongo!.url,
      notes: [
        `using the embedded Redis at 127.0.0.1:41234 and MongoDB at 127.0.0.1:41235 started by market-ingest start (${dir}/services.json)`,
      ],
    });
    // A variable that is set wins, silently; empty counts as unset, as in loadConfig.
    expect(
      await findRecordedServers({
        env: { REDIS_URL: 'redis://elsewhere:6379', MONGO_URL: ' ' },
        dataDir: dir,
        probe,
      }),
    ).toEqual({
      mongoUrl: running.mongo!.url,
      notes: [
        `using the embedded MongoDB at 127.0.0.1:41235 started by market-ingest start (${dir}/services.json)`,
      ],
    });
  });

  it('falls back to the defaults, saying why, for recorded servers that do not answer', async () => {
    const dir = dataDir();
    writeServicesRecord(dir, running);
    const found = await findRecordedServers({ env: {}, dataDir: dir, probe: alive([running.mongo!.url]) });
    expect(found).toEqual({
      mongoUrl: running.mongo!.url,
      notes: [
        `using the embedded MongoDB at 127.0.0.1:41235 started by market-ingest start (${dir}/services.json)`,
        `the embedded Redis at 127.0.0.1:41234 recorded in ${dir}/services.json is not running (market-ingest start, pid 4242, ended without a clean stop); using 127.0.0.1:6379 (REDIS_URL unset)`,
      ],
    });
  });

  it('without a record uses the defaults silently; an unreadable one is said and ignored', async () => {
    const dir = dataDir();
    const probe = alive([]);
    expect(await findRecordedServers({ env: {}, dataDir: dir, probe })).toEqual({ notes: [] });
    writeServicesRecord(dir, running);
    writeFileSync(join(dir, 'services.json'), '{"half": ');
    expect(await findRecordedServers({ env: {}, dataDir: dir, probe })).toEqual({
      notes: [
        `${dir}/services.json is not a services record written by market-ingest start; using the defaults`,
      ],
    });
  });
});

describe('serverAddress', () => {
  it.each([
    ['redis://127.0.0.1:6390', '127.0.0.1:6390'],
    ['redis://redis', 'redis:6379'],
    ['rediss://:p@ss/w?rd#@cache.example.com:6380/0', 'cache.example.com:6380'],
    ['redis://default:s3cret@[::1]:6379', '[::1]:6379'],
    ['mongodb://user:pa:ss@a:27017,b:27018/db?replicaSet=rs0', 'a:27017,b:27018'],
    ['mongodb://mongo/market_ingest', 'mongo:27017'],
    ['mongodb+srv://user:s3cret@cluster0.example.net/db', 'cluster0.example.net'],
  ])('%s -> %s (never the credentials)', (url, address) => {
    expect(serverAddress(url)).toBe(address);
  });
});
