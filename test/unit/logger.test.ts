import { describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/shared/config.js';
import { createLogger } from '../../src/shared/logger.js';
import { configRedactor } from '../../src/shared/redact.js';
import { captureLogs } from '../support/logs.js';

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
