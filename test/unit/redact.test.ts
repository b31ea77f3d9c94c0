/** The one redaction point (src/shared/redact.ts) and the CLI output that goes through it. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { dispatch, type CliIo, type CommandSpec } from '../../src/cli/dispatch.js';
import { loadConfig } from '../../src/shared/config.js';
import {
  configSecrets,
  createRedactor,
  environmentSecrets,
  REDACTED,
  urlPassword,
} from '../../src/shared/redact.js';

const KEY = randomBytes(32);

describe('createRedactor', () => {
  it('replaces a secret as is, URL-encoded, URL-decoded and inside a JSON string', () => {
    const redact = createRedactor(['p@ss"w/rd%21']);
    expect(redact('a p@ss"w/rd%21 b')).toBe(`a ${REDACTED} b`);
    expect(redact(`a ${encodeURIComponent('p@ss"w/rd%21')} b`)).toBe(`a ${REDACTED} b`);
    expect(redact('a p@ss"w/rd! b')).toBe(`a ${REDACTED} b`);
    expect(redact(JSON.stringify({ m: 'a p@ss"w/rd%21 b' }))).toBe(JSON.stringify({ m: `a ${REDACTED} b` }));
  });

  it('hides the password of any URL, known or not, and keeps the rest readable', () => {
    const redact = createRedactor();
    expect(redact('Redis at redis://:hunter22@10.0.0.5:6379/0: WRONGPASS')).toBe(
      'Redis at redis://:***@10.0.0.5:6379/0: WRONGPASS',
    );
    expect(redact('"mongodb://app:s3cr@t@m1:27017,m2:27017/db"')).toBe(
      '"mongodb://app:***@m1:27017,m2:27017/db"',
    );
    expect(redact('http://127.0.0.1:8080/webhooks/tiktok')).toBe('http://127.0.0.1:8080/webhooks/tiktok');
  });

  it("strips Redis AUTH credentials from ioredis' command arguments, whatever the password", () => {
    const redact = createRedactor();
    const hello = JSON.stringify({ command: { name: 'hello', args: ['3', 'AUTH', 'default', 'pw-1'] } });
    const auth = JSON.stringify({ command: { name: 'auth', args: ['pw-2'] } });
    const user = JSON.stringify({ args: ['AUTH', 'ops', 'pw-3'] });
    expect(redact(hello)).toBe(
      JSON.stringify({ command: { name: 'hello', args: ['3', 'AUTH', REDACTED, REDACTED] } }),
    );
    expect(redact(auth)).toBe(JSON.stringify({ command: { name: 'auth', args: [REDACTED] } }));
    expect(redact(user)).toBe(JSON.stringify({ args: ['AUTH', REDACTED, REDACTED] }));
  });

  it('hides access and refresh tokens in query strings', () => {
    expect(createRedactor()('GET /token/refresh?app_key=k&refresh_token=RT-1&access_token=AT-1#x')).toBe(
      `GET /token/refresh?app_key=k&refresh_token=${REDACTED}&access_token=${REDACTED}#x`,
    );
  });

  it('ignores values too short to tell from ordinary text, and unset ones', () => {
    expect(createRedactor(['ab', undefined, ''])('a table about cabs')).toBe('a table about cabs');
  });
});

describe('the secrets of a configuration', () => {
  const env = {
    REDIS_URL: 'redis://:redis%40pw@127.0.0.1:6379',
    MONGO_URL: 'mongodb://app:mongo-pw@127.0.0.1:27017',
    TIKTOK_APP_KEY: 'app-key',
    TIKTOK_APP_SECRET: 'tiktok-secret',
    SHOPEE_PARTNER_ID: '1',
    SHOPEE_PARTNER_KEY: 'shopee-key',
    SHOPEE_PUSH_PARTNER_KEY: 'shopee-push-key',
    TOKEN_ENCRYPTION_KEY: KEY.toString('base64'),
  };
  const expected = [
    'redis%40pw',
    'mongo-pw',
    'tiktok-secret',
    'shopee-key',
    'shopee-push-key',
    KEY.toString('hex'),
    KEY.toString('hex').toUpperCase(),
    KEY.toString('base64'),
  ];

  it('configSecrets: every secret of a loaded Config, the key in each encoding', () => {
    expect(configSecrets(loadConfig(env))).toEqual(expect.arrayContaining(expected));
    expect(configSecrets(loadConfig(env))).not.toContain('app-key');
  });

  it('environmentSecrets: the same from the raw environment, before or without a valid Config', () => {
    expect(environmentSecrets(env)).toEqual(expect.arrayContaining(expected));
    expect(environmentSecrets({ ...env, PORT: 'not a port' })).toEqual(expect.arrayContaining(expected));
    expect(environmentSecrets({ TOKEN_ENCRYPTION_KEY: KEY.toString('hex') })).toContain(
      KEY.toString('base64'),
    );
  });

  it('urlPassword: the password as written, or undefined', () => {
    expect(urlPassword('rediss://u:p%2Fw@h:6380')).toBe('p%2Fw');
    expect(urlPassword('redis://h:6379')).toBeUndefined();
    expect(urlPassword(undefined)).toBeUndefined();
  });
});

describe('command output', () => {
  const env = {
    REDIS_URL: 'redis://:cli-redis-pw@127.0.0.1:6379',
    TOKEN_ENCRYPTION_KEY: KEY.toString('hex'),
  };

  async function runCommand(run: CommandSpec['run']) {
    let output = '';
    const io: CliIo = { stdout: (t) => (output += t), stderr: (t) => (output += t), env, isTTY: false };
    const code = await dispatch([{ name: 'leak', summary: 'prints what it is given', run }], ['leak'], io);
    return { code, output };
  }

  it('issue 12 #2: whatever a command prints on stdout or stderr passes through the redactor', async () => {
    const { code, output } = await runCommand(({ io }) => {
      io.stdout(`Redis at ${env.REDIS_URL}\n`);
      io.stderr(`key ${KEY.toString('base64')} password cli-redis-pw\n`);
      return Promise.resolve(0);
    });
    expect(code).toBe(0);
    expect(output).toBe(`Redis at redis://:***@127.0.0.1:6379\nkey ${REDACTED} password ${REDACTED}\n`);
  });

  it('an error the command did not report is one redacted line and exit 1', async () => {
    const { code, output } = await runCommand(() => Promise.reject(new Error(`lost ${env.REDIS_URL}`)));
    expect(code).toBe(1);
    expect(output).toBe('market-ingest: lost redis://:***@127.0.0.1:6379\n');
  });
});
