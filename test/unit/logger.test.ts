import { describe, expect, it } from 'vitest';

import { createLogger } from '../../src/shared/logger.js';
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

  it('respects the level', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ level: 'warn', destination });
    logger.info('dropped');
    logger.warn('kept');
    expect(lines.map((l) => l.msg)).toEqual(['kept']);
  });
});
