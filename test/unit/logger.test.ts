import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/shared/config.js';
import { AppError } from '../../src/shared/errors.js';
import { createLogger } from '../../src/shared/logger.js';
import { configRedactor } from '../../src/shared/redact.js';
import { closeRedis, createRedis } from '../../src/shared/redis.js';
import { captureLogs } from '../support/logs.js';
import { waitFor } from '../support/wait.js';

const capture = () => captureLogs();

describe('createLogger', () => {
  it('writes JSON lines with a string level', () => {
    const { lines, destination } = capture();
    createLogger({ level: 'info', destination }).info({ component: 'test' }, 'hello');
    expect(lines[0]).toMatchObject({ level: 'info', component: 'test', msg: 'hello' });
  });

  it('redacts authorization headers, tokens and secrets wherever they are logged', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ level: 'info', destination });
    logger.info(
      {
        headers: { authorization: 'deadbeef' },
        shop: { access_token: 'tok-1', refresh_token: 'tok-2', name: 'Shop A' },
        appSecret: 'app-secret',
        authorization: 'raw-sig',
      },
      'with secrets',
    );
    const text = JSON.stringify(lines[0]);
    for (const secret of ['deadbeef', 'tok-1', 'tok-2', 'app-secret', 'raw-sig'])
      expect(text).not.toContain(secret);
    expect(text).toContain('Shop A');
  });

  it("issue 12 #2: a failed Redis handshake's AUTH arguments never reach a log line, whatever the password", () => {
    const { lines, destination } = capture();
    // The shape ioredis gives the error of a refused `HELLO 3 AUTH user password`.
    const refused = Object.assign(new Error('WRONGPASS invalid username-password pair'), {
      command: { name: 'hello', args: ['3', 'AUTH', 'default', 'wrong-pw-5Kd2'] },
    });
    createLogger({ level: 'info', destination }).fatal({ err: refused }, 'worker stopped unexpectedly');
    const text = JSON.stringify(lines);
    expect(text).toContain('WRONGPASS');
    expect(text).not.toContain('wrong-pw-5Kd2');
  });

  it('issue 12 #2: the configured secrets are replaced wherever they appear in a line, messages included', () => {
    const config = loadConfig({
      REDIS_URL: 'redis://:redis-pw-8Qe1@127.0.0.1:6379',
      MONGO_URL: 'mongodb://app:mongo-pw-3Lc7@127.0.0.1:27017',
      TIKTOK_APP_KEY: 'key',
      TIKTOK_APP_SECRET: 'tiktok-secret-9Fz4',
    });
    const { lines, destination } = capture();
    const logger = createLogger({ level: 'info', destination, redact: configRedactor(config) }).child({
      component: 'test',
    });
    logger.error(
      { err: new Error('signed with tiktok-secret-9Fz4'), detail: { note: 'mongo-pw-3Lc7 redis-pw-8Qe1' } },
      'failed for tiktok-secret-9Fz4 at redis://:redis-pw-8Qe1@127.0.0.1:6379',
    );
    const text = JSON.stringify(lines);
    for (const secret of ['tiktok-secret-9Fz4', 'mongo-pw-3Lc7', 'redis-pw-8Qe1'])
      expect(text).not.toContain(secret);
    expect(lines[0]).toMatchObject({
      component: 'test',
      msg: 'failed for [redacted] at redis://:***@127.0.0.1:6379',
    });
  });

  it('respects the level', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ level: 'warn', destination });
    logger.info('dropped');
    logger.warn('kept');
    expect(lines.map((l) => l.msg)).toEqual(['kept']);
  });
});

describe('errors in logs (issue 12 #7)', () => {
  it('issue 12 #7: a Redis connection error is logged with its type, message and stack', async () => {
    const { lines, logger } = captureLogs();
    const redis = createRedis({ url: 'redis://127.0.0.1:1', name: 'test', logger });
    try {
      await waitFor(() => lines.some((l) => l.msg === 'redis connection error; reconnecting'), 10_000);
    } finally {
      await closeRedis(redis);
    }
    const line = lines.find((l) => l.msg === 'redis connection error; reconnecting')!;
    expect(line.err).toMatchObject({
      type: 'Error',
      message: 'connect ECONNREFUSED 127.0.0.1:1',
      stack: expect.stringContaining('ECONNREFUSED') as unknown,
      code: 'ECONNREFUSED',
    });
  });

  it('issue 12 #7: an AppError is written as type/message/stack with its code and cause; nothing else of a driver error', () => {
    const { lines, logger } = captureLogs();
    // What ioredis attaches to a failed command: AUTH's arguments, password included.
    const refused = Object.assign(new Error('WRONGPASS invalid username-password pair'), {
      command: { name: 'auth', args: ['default', 's3cret-in-args'] },
    });
    logger.error({ err: new AppError('ERR_REDIS_UNAVAILABLE', 'redis refused us', { cause: refused }) }, 'x');
    logger.error({ err: 'a thrown string' }, 'y');
    const [first, second] = lines;
    expect(first!.err).toEqual({
      type: 'AppError',
      message: 'redis refused us',
      stack: expect.stringMatching(/^AppError: redis refused us\n\s+at /) as unknown,
      code: 'ERR_REDIS_UNAVAILABLE',
      retryable: true,
      cause: {
        type: 'Error',
        message: 'WRONGPASS invalid username-password pair',
        stack: expect.stringContaining('WRONGPASS') as unknown,
      },
    });
    expect(JSON.stringify(first)).not.toContain('s3cret-in-args');
    expect(second!.err).toEqual({ type: 'NonError', message: 'a thrown string' });
  });

  it('issue 12 #7: src logs the error itself under err, never a hand-made object or toJSON()', () => {
    const root = join(process.cwd(), 'src');
    const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    const offences: string[] = [];
    for (const file of files) {
      readFileSync(join(root, file), 'utf8')
        .split('\n')
        .forEach((line, index) => {
          if (/\berr: *(\{|[^,}]*\.toJSON\(\)|errorInfo\()/.test(line))
            offences.push(`${file}:${index + 1}: ${line.trim()}`);
        });
    }
    expect(files.length).toBeGreaterThan(50);
    expect(offences).toEqual([]);
  });
});
