import { describe, expect, it } from 'vitest';

import { ConfigError, loadConfig, redactUrl, VARIABLES } from '../../src/shared/config.js';

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the CONTRACT §2 defaults to an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      redisUrl: undefined,
      mongoUrl: undefined,
      mongoDb: 'market_ingest',
      host: '0.0.0.0',
      port: 8080,
      streamKey: 'market-ingest:events',
      deadLetterStreamKey: 'market-ingest:dead',
      changesStreamKey: 'market-ingest:changes',
      consumerGroup: 'market-ingest-workers',
      streamMaxLen: 1_000_000,
      batchSize: 500,
      detailBatchSize: 50,
      maxDeliveries: 5,
      claimIdleMs: 60_000,
      dedupeTtlSeconds: 86_400,
      bodyLimitBytes: 1_048_576,
      tiktok: undefined,
      shopee: undefined,
      reconcileCron: '0 */6 * * *',
      timezone: 'Asia/Ho_Chi_Minh',
      timezoneOffset: '+07:00',
      tokenEncryptionKey: undefined,
      logLevel: 'info',
    });
    expect(config.consumerName).toMatch(new RegExp(`-${process.pid}$`));
  });

  it('returns a frozen object', () => {
    const config = loadConfig({ TIKTOK_APP_KEY: 'k', TIKTOK_APP_SECRET: 's' });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.tiktok)).toBe(true);
  });

  it('enables a platform only when both of its credentials are set', () => {
    const config = loadConfig({
      TIKTOK_APP_KEY: 'key',
      TIKTOK_APP_SECRET: 'secret',
      SHOPEE_PARTNER_ID: '2001234',
      SHOPEE_PARTNER_KEY: 'pkey',
      SHOPEE_WEBHOOK_URL: 'https://hooks.example.com/webhooks/shopee',
    });
    expect(config.tiktok).toEqual({
      appKey: 'key',
      appSecret: 'secret',
      apiBaseUrl: 'https://open-api.tiktokglobalshop.com',
      authBaseUrl: 'https://auth.tiktok-shops.com',
      authorizeUrl: 'https://services.tiktokshop.com/open/authorize',
      rateLimitPerMinute: 600,
    });
    expect(config.shopee).toMatchObject({
      partnerId: 2001234,
      partnerKey: 'pkey',
      webhookUrl: 'https://hooks.example.com/webhooks/shopee',
    });
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ PORT: '', MONGO_URL: '  ' })).toMatchObject({ port: 8080, mongoUrl: undefined });
  });

  it('reports one readable line per bad variable, all at once', () => {
    const problems = problemsOf({
      PORT: 'abc',
      MONGO_URL: 'bad',
      DETAIL_BATCH_SIZE: '51',
      LOG_LEVEL: 'loud',
    });
    expect(problems).toEqual([
      'MONGO_URL="bad" must be a URL starting with mongodb:// or mongodb+srv://',
      'PORT="abc" must be a whole number from 0 to 65535',
      'DETAIL_BATCH_SIZE="51" must be a whole number from 1 to 50',
      'LOG_LEVEL="loud" must be one of fatal, error, warn, info, debug, trace, silent',
    ]);
  });

  it.each([
    ['PORT', '65536'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['REDIS_URL', 'http://localhost:6379'],
    ['TIMEZONE', 'Mars/Olympus'],
    ['TIMEZONE_OFFSET', '7'],
    ['RECONCILE_CRON', 'every six hours'],
    ['TRUST_PROXY', 'maybe'],
    ['TIKTOK_API_BASE_URL', 'ftp://x'],
    ['BATCH_SIZE', '0'],
  ])('rejects %s=%s naming the variable', (name, value) => {
    const problems = problemsOf({ [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${name}=`));
  });

  it('never prints a secret value, even an invalid one', () => {
    const problems = problemsOf({
      TOKEN_ENCRYPTION_KEY: 'super-secret-but-short',
      TIKTOK_APP_SECRET: 'hunter2',
    });
    const text = problems.join('\n');
    expect(text).toContain('TOKEN_ENCRYPTION_KEY must be 32 bytes');
    expect(text).toContain('TIKTOK_APP_KEY must be set when TIKTOK_APP_SECRET is set');
    expect(text).not.toContain('super-secret');
    expect(text).not.toContain('hunter2');
  });

  it('hides the password of a bad URL', () => {
    const problems = problemsOf({ MONGO_URL: 'postgres://admin:pa55word@db:5432/x' });
    expect(problems[0]).toContain('admin:***@db');
    expect(problems[0]).not.toContain('pa55word');
  });

  it('accepts an encryption key as hex or base64 and decodes it to 32 bytes', () => {
    const key = Buffer.alloc(32, 7);
    expect(loadConfig({ TOKEN_ENCRYPTION_KEY: key.toString('hex') }).tokenEncryptionKey).toEqual(key);
    expect(loadConfig({ TOKEN_ENCRYPTION_KEY: key.toString('base64') }).tokenEncryptionKey).toEqual(key);
    expect(problemsOf({ TOKEN_ENCRYPTION_KEY: Buffer.alloc(16).toString('base64') })).toHaveLength(1);
  });

  it('lists every variable of CONTRACT §2', () => {
    const names = VARIABLES.map((v) => v.name);
    for (const required of [
      'REDIS_URL',
      'MONGO_URL',
      'MONGO_DB',
      'HOST',
      'PORT',
      'STREAM_KEY',
      'DEAD_LETTER_STREAM_KEY',
      'CHANGES_STREAM_KEY',
      'CONSUMER_GROUP',
      'CONSUMER_NAME',
      'STREAM_MAXLEN',
      'BATCH_SIZE',
      'DETAIL_BATCH_SIZE',
      'MAX_DELIVERIES',
      'CLAIM_IDLE_MS',
      'DEDUPE_TTL_SECONDS',
      'BODY_LIMIT_BYTES',
      'TIKTOK_APP_KEY',
      'TIKTOK_APP_SECRET',
      'TIKTOK_API_BASE_URL',
      'TIKTOK_AUTH_BASE_URL',
      'SHOPEE_PARTNER_ID',
      'SHOPEE_PARTNER_KEY',
      'SHOPEE_API_BASE_URL',
      'SHOPEE_WEBHOOK_URL',
      'TIKTOK_RATE_LIMIT_PER_MINUTE',
      'SHOPEE_RATE_LIMIT_PER_MINUTE',
      'RECONCILE_CRON',
      'TIMEZONE',
      'TIMEZONE_OFFSET',
      'TOKEN_ENCRYPTION_KEY',
      'LOG_LEVEL',
    ]) {
      expect(names).toContain(required);
    }
  });
});

describe('redactUrl', () => {
  it('replaces the password and keeps the rest', () => {
    expect(redactUrl('mongodb://user:secret@host:27017/db')).toBe('mongodb://user:***@host:27017/db');
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });
});
