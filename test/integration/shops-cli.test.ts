/**
 * `market-ingest shops add | list | remove` through the real dispatcher, in process, against the
 * harness's MongoDB-wire backend (and once as a child process, to prove it exits on its own).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { COMMANDS } from '../../src/cli/commands.js';
import { dispatch, type CliIo } from '../../src/cli/dispatch.js';
import { parseIsoDate } from '../../src/shared/time.js';
import { COLLECTIONS } from '../../src/shared/mongo.js';
import { createShopStore } from '../../src/shared/store/shops.js';
import { createTestEnv, type TestEnv } from '../support/context.js';
import {
  startFakeMarketplace,
  TIKTOK_ENDPOINTS,
  type FakeMarketplace,
} from '../support/fake-marketplace/index.js';
import { fakeMarketplaceEnv } from '../support/pipeline.js';

const ACCESS = 'ROW_cli_access_token_abcdef';
const REFRESH = 'ROW_cli_refresh_token_uvwxyz';
const KEY_HEX = randomBytes(32).toString('hex');

let env: TestEnv;

beforeEach(() => {
  env = createTestEnv();
});
afterEach(async () => {
  await env.cleanup();
});

function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { MONGO_URL: env.mongoUrl, MONGO_DB: env.config.mongoDb, LOG_LEVEL: 'silent', ...extra };
}

async function cli(args: string[], extra: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    env: baseEnv(extra),
    isTTY: false,
  };
  const code = await dispatch(COMMANDS, args, io);
  return { code, stdout: out.join(''), stderr: err.join('') };
}

const addArgs = [
  'shops',
  'add',
  '--platform',
  'tiktok',
  '--shop-id',
  '7001',
  '--access-token',
  ACCESS,
  '--refresh-token',
  REFRESH,
  '--access-token-expires-at',
  '2030-01-02T03:04:05Z',
  '--shop-cipher',
  'ROW_cipher',
  '--name',
  'Demo Shop',
];

describe('shops CLI', () => {
  it('add stores the shop (encrypted with a key), list shows it without tokens, remove deletes it', async () => {
    const withKey = { TOKEN_ENCRYPTION_KEY: KEY_HEX };
    const added = await cli(addArgs, withKey);
    expect(added).toMatchObject({ code: 0, stderr: '' });
    expect(added.stdout).toBe('added tiktok shop 7001 (tokens encrypted at rest)\n');

    const { db } = await env.mongo();
    const raw = await db.collection(COLLECTIONS.shops).findOne({ platform: 'tiktok', shop_id: '7001' });
    expect(raw?.access_token).toMatch(/^enc:v1:/);
    expect(JSON.stringify(raw)).not.toContain(ACCESS);
    const shop = await createShopStore({ db, encryptionKey: Buffer.from(KEY_HEX, 'hex') }).get(
      'tiktok',
      '7001',
    );
    expect(shop).toMatchObject({
      access_token: ACCESS,
      refresh_token: REFRESH,
      access_token_expires_at: new Date('2030-01-02T03:04:05Z'),
      shop_cipher: 'ROW_cipher',
      name: 'Demo Shop',
      status: 'active',
    });

    // Adding again replaces the credentials of the same shop.
    const again = await cli(
      ['shops', 'add', '--platform', 'tiktok', '--shop-id', '7001', '--access-token', 'ROW_2'],
      withKey,
    );
    expect(again.stdout).toMatch(/^updated tiktok shop 7001/);
    expect(await db.collection(COLLECTIONS.shops).countDocuments()).toBe(1);

    // Listing needs no key and never shows a token, encrypted or not.
    const listed = await cli(['shops', 'list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^PLATFORM\s+SHOP_ID\s+STATUS\s+NAME\s+ACCESS_TOKEN\s+EXPIRES/);
    expect(listed.stdout).toMatch(
      /tiktok\s+7001\s+active\s+Demo Shop\s+set\s+2030-01-02T03:04:05.000Z\s+-\s+set/,
    );
    for (const secret of [ACCESS, REFRESH, 'ROW_2', 'ROW_cipher', 'enc:v1']) {
      expect(listed.stdout).not.toContain(secret);
    }

    const removed = await cli(['shops', 'remove', '--platform', 'tiktok', '--shop-id', '7001']);
    expect(removed).toMatchObject({ code: 0, stdout: 'removed tiktok shop 7001\n' });
    expect(await db.collection(COLLECTIONS.shops).countDocuments()).toBe(0);
    expect((await cli(['shops', 'list'])).stdout).toBe('no shops\n');
  });

  it('without TOKEN_ENCRYPTION_KEY add stores tokens as given and says so', async () => {
    const added = await cli([
      'shops',
      'add',
      '--platform',
      'shopee',
      '--shop-id',
      '55',
      '--access-token',
      ACCESS,
    ]);
    expect(added.code).toBe(0);
    expect(added.stdout).toContain('tokens stored unencrypted: set TOKEN_ENCRYPTION_KEY');
    const { db } = await env.mongo();
    expect((await db.collection(COLLECTIONS.shops).findOne({ shop_id: '55' }))?.access_token).toBe(ACCESS);
  });

  it('list --json is token-free JSON with whether each token is set and its expiry', async () => {
    await cli(addArgs);
    await cli(['shops', 'add', '--platform', 'shopee', '--shop-id', '55', '--access-token', 'ROW_shopee']);
    const listed = await cli(['shops', 'list', '--json']);
    expect(listed.code).toBe(0);
    const shops = JSON.parse(listed.stdout) as Record<string, unknown>[];
    expect(shops).toHaveLength(2);
    expect(shops[0]).toMatchObject({
      platform: 'shopee',
      shop_id: '55',
      has_access_token: true,
      has_refresh_token: false,
      access_token_expires_at: null,
    });
    expect(shops[1]).toMatchObject({
      platform: 'tiktok',
      shop_id: '7001',
      status: 'active',
      has_access_token: true,
      has_refresh_token: true,
      access_token_expires_at: '2030-01-02T03:04:05.000Z',
    });
    for (const shop of shops) {
      expect(shop).not.toHaveProperty('access_token');
      expect(shop).not.toHaveProperty('refresh_token');
    }
    for (const secret of [ACCESS, REFRESH, 'ROW_shopee']) expect(listed.stdout).not.toContain(secret);
  });

  it('list shows the readable shops and names a malformed document on stderr (exit 1); remove deletes it', async () => {
    await cli(addArgs, { TOKEN_ENCRYPTION_KEY: KEY_HEX });
    const { db } = await env.mongo();
    await db.collection(COLLECTIONS.shops).insertOne({
      platform: 'shopee',
      shop_id: 'broken',
      status: 'active',
      access_token: 7,
      created_at: new Date(),
      updated_at: new Date(),
    });

    const listed = await cli(['shops', 'list']);
    expect(listed.code).toBe(1);
    expect(listed.stdout).toContain('7001');
    expect(listed.stdout).not.toContain('broken');
    expect(listed.stderr).toMatch(/^market-ingest shops list: skipped: shopee shop broken: .*access_token/);
    const json = await cli(['shops', 'list', '--json']);
    expect((JSON.parse(json.stdout) as { shop_id: string }[]).map((s) => s.shop_id)).toEqual(['7001']);

    expect((await cli(['shops', 'remove', '--platform', 'shopee', '--shop-id', 'broken'])).code).toBe(0);
    expect((await cli(['shops', 'list'])).code).toBe(0);
  });

  it('remove of an unknown shop exits 1 with a clear message', async () => {
    const result = await cli(['shops', 'remove', '--platform', 'shopee', '--shop-id', 'nope']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('market-ingest shops remove: no shopee shop "nope"\n');
  });

  it.each([
    [
      ['shops', 'add', '--platform', 'lazada', '--shop-id', '1', '--access-token', 't'],
      '--platform must be one of',
    ],
    [['shops', 'add', '--shop-id', '1', '--access-token', 't'], '--platform is required'],
    [['shops', 'add', '--platform', 'tiktok', '--access-token', 't'], '--shop-id is required'],
    [['shops', 'add', '--platform', 'tiktok', '--shop-id', '1'], '--access-token is required'],
    [
      ['shops', 'add', '--platform', 'tiktok', '--shop-id', ' ', '--access-token', 't'],
      '--shop-id must not be empty',
    ],
    [
      [
        'shops',
        'add',
        '--platform',
        'tiktok',
        '--shop-id',
        '1',
        '--access-token',
        't',
        '--access-token-expires-at',
        'tomorrow',
      ],
      '--access-token-expires-at must be an ISO-8601',
    ],
    [
      ['shops', 'add', '--platform', 'tiktok', '--shop-id', '1', '--access-token', 't', '--bogus'],
      "Unknown option '--bogus'",
    ],
    [['shops', 'remove', '--platform', 'tiktok'], '--shop-id is required'],
    [['shops', 'remove', '--shop-id', '1', '--platform', 'TikTok'], '--platform must be one of'],
    [['shops', 'list', '--all'], "Unknown option '--all'"],
    [['shops'], 'unknown command'],
  ])('bad flags exit 2 with a usage line: %j', async (args, message) => {
    const result = await cli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr).toContain('market-ingest shops');
    expect(result.stdout).toBe('');
  });

  it('bad configuration exits 1 naming the variable; an unreachable MongoDB exits 1', async () => {
    const bad = await cli(['shops', 'list'], { MONGO_URL: 'bad' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(
      'config: MONGO_URL="bad" must be a URL starting with mongodb:// or mongodb+srv://\n',
    );

    const badKey = await cli(addArgs, { TOKEN_ENCRYPTION_KEY: 'short' });
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toContain('config: TOKEN_ENCRYPTION_KEY must be 32 bytes');
    expect(badKey.stderr).not.toContain('short');

    const down = await cli(['shops', 'list'], {
      MONGO_URL: 'mongodb://127.0.0.1:1',
    });
    expect(down.code).toBe(1);
    expect(down.stderr).toBe('market-ingest shops list: cannot reach MongoDB at 127.0.0.1:1\n');
  });

  it('the executable runs shops add and list and exits by itself', () => {
    const run = (args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, ...baseEnv() },
        timeout: 20_000,
      });
    const added = run([
      'shops',
      'add',
      '--platform',
      'shopee',
      '--shop-id',
      '9',
      '--access-token',
      ACCESS,
      '--refresh-token',
      REFRESH,
    ]);
    expect(added.stderr).toBe('');
    expect(added.status).toBe(0);
    const listed = run(['shops', 'list']);
    expect(listed.status).toBe(0);
    expect(listed.stdout).toMatch(/shopee\s+9\s+active/);
    expect(listed.stdout).not.toContain(ACCESS);
  });
});

describe('shops add checks each platform (issue 12 #6)', () => {
  let fake: FakeMarketplace;
  beforeEach(async () => {
    fake = await startFakeMarketplace({ seed: 12 });
  });
  afterEach(async () => {
    await fake.close();
  });

  async function storedShops() {
    const { db } = await env.mongo();
    return db
      .collection(COLLECTIONS.shops)
      .find({}, { projection: { _id: 0 } })
      .toArray();
  }

  it('issue 12 #6: a Shopee shop id that is not a number ("abc") is refused with exit 2 and nothing is stored', async () => {
    const refused = await cli([
      'shops',
      'add',
      '--platform',
      'shopee',
      '--shop-id',
      'abc',
      '--access-token',
      'ROW_t',
      '--refresh-token',
      'ROW_r',
    ]);

    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--shop-id of a Shopee shop is its number, digits only (got "abc")');
    expect(refused.stderr).toContain('Usage: market-ingest shops add');
    expect(await storedShops()).toEqual([]);
  });

  it("issue 12 #6: a TikTok shop added without --shop-cipher gets its cipher from TikTok's authorized shops", async () => {
    const shop = fake.addShop('tiktok', { name: 'Fake Shop One' });
    const args = ['shops', 'add', '--platform', 'tiktok', '--shop-id', shop.shopId];

    const added = await cli(
      [...args, '--access-token', shop.accessToken, '--refresh-token', shop.refreshToken],
      fakeMarketplaceEnv(fake),
    );

    expect(added).toMatchObject({ code: 0, stderr: '' });
    expect(added.stdout).toContain("shop cipher fetched from TikTok's authorized shops");
    expect(added.stdout).not.toContain(shop.shopCipher!);
    expect(await storedShops()).toEqual([
      expect.objectContaining({ shop_id: shop.shopId, shop_cipher: shop.shopCipher, name: 'Fake Shop One' }),
    ]);
    const [call] = fake.calls.log.filter((c) => c.endpoint === TIKTOK_ENDPOINTS.authorizedShops);
    expect(call).toMatchObject({ status: 200, errorCode: null });
    expect(call!.query).not.toHaveProperty('shop_cipher');
  });

  it('issue 12 #6: without --shop-cipher, a TikTok shop is refused with one clear line (exit 1) when the fetch fails', async () => {
    const shop = fake.addShop('tiktok');
    const other = fake.addShop('tiktok');
    const add = (shopId: string, token: string, env: Record<string, string>) =>
      cli(['shops', 'add', '--platform', 'tiktok', '--shop-id', shopId, '--access-token', token], env);

    const wrongToken = await add(shop.shopId, 'ROW_not_a_token', fakeMarketplaceEnv(fake));
    expect(wrongToken.code).toBe(1);
    expect(wrongToken.stderr).toMatch(
      /^market-ingest shops add: could not fetch the shop cipher from TikTok \(tiktok get_authorized_shops: code 36009004: .*\); give --shop-cipher\n/,
    );
    expect(wrongToken.stderr).not.toContain('ROW_not_a_token');

    const notInGrant = await add(shop.shopId, other.accessToken, fakeMarketplaceEnv(fake));
    expect(notInGrant.code).toBe(1);
    expect(notInGrant.stderr).toContain(
      `the access token does not authorize TikTok shop ${shop.shopId} (it authorizes: ${other.shopId})`,
    );

    const disabled = await add(shop.shopId, shop.accessToken, {});
    expect(disabled.code).toBe(1);
    expect(disabled.stderr).toContain('a TikTok shop needs --shop-cipher');
    expect(disabled.stderr).toContain('TIKTOK_APP_KEY and TIKTOK_APP_SECRET are not set');

    expect(await storedShops()).toEqual([]);
  });

  it('issue 12 #6: a shop added without a refresh token is stored with a warning on stderr saying when it stops syncing', async () => {
    const shopee = await cli([
      'shops',
      'add',
      '--platform',
      'shopee',
      '--shop-id',
      '123456',
      '--access-token',
      'ROW_a',
    ]);
    expect(shopee.code).toBe(0);
    expect(shopee.stderr).toBe(
      'market-ingest shops add: warning: no refresh token, so the access token cannot be renewed: shopee shop 123456 stops syncing when it expires (Shopee access tokens last about 4 hours). Add it again with --refresh-token.\n',
    );
    const tiktok = await cli([
      ...addArgs.slice(0, 8),
      '--shop-cipher',
      'ROW_cipher',
      '--access-token-expires-at',
      '2030-01-02T03:04:05Z',
    ]);
    expect(tiktok.code).toBe(0);
    expect(tiktok.stderr).toContain(
      'tiktok shop 7001 stops syncing when it expires (at 2030-01-02T03:04:05.000Z)',
    );
    expect((await storedShops()).map((s) => String(s.shop_id)).sort()).toEqual(['123456', '7001']);
    // With a refresh token there is nothing to warn about.
    expect((await cli(addArgs)).stderr).toBe('');
  });

  it('shops list says what each token expiry means: expired, expiring soon, renewable or not', async () => {
    const hour = 3_600_000;
    const at = (ms: number) => new Date(Date.now() + ms).toISOString();
    const add = (shopId: string, expires: string, refresh: boolean) =>
      cli([
        'shops',
        'add',
        '--platform',
        'shopee',
        '--shop-id',
        shopId,
        '--access-token',
        'ROW_a',
        '--access-token-expires-at',
        expires,
        ...(refresh ? ['--refresh-token', 'ROW_r'] : []),
      ]);
    await add('1', at(-hour), false);
    await add('2', at(-hour), true);
    await add('3', at(3 * hour), false);
    await add('4', at(30 * 24 * hour), false);

    const listed = await cli(['shops', 'list']);

    expect(listed.code).toBe(0);
    const lines = listed.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/EXPIRES\s+AUTHORIZED_UNTIL\s+REFRESH_TOKEN\s+CIPHER\s+TOKEN$/);
    expect(lines[1]).toMatch(/^shopee\s+1\s+active\s.*EXPIRED, no refresh token: add the shop again$/);
    expect(lines[2]).toMatch(/^shopee\s+2\s+active\s.*\sset\s+-\s+expired \(renewed on next use\)$/);
    expect(lines[3]).toMatch(/^shopee\s+3\s+active\s.*expires in \d\.\dh, no refresh token$/);
    expect(lines[4]).toMatch(/^shopee\s+4\s+active\s.*\sok$/);
    const json = JSON.parse((await cli(['shops', 'list', '--json'])).stdout) as { token_state: string }[];
    expect(json.map((s) => s.token_state)).toEqual(['expired', 'expired', 'expiring', 'ok']);
  });
});

describe('parseIsoDate', () => {
  it('accepts ISO dates and date-times with an offset', () => {
    expect(parseIsoDate('2030-01-02T03:04:05Z')?.toISOString()).toBe('2030-01-02T03:04:05.000Z');
    expect(parseIsoDate('2030-01-02T10:04:05.123+07:00')?.toISOString()).toBe('2030-01-02T03:04:05.123Z');
    expect(parseIsoDate('2030-01-02T03:04Z')?.toISOString()).toBe('2030-01-02T03:04:00.000Z');
    expect(parseIsoDate('2030-01-02')?.toISOString()).toBe('2030-01-02T00:00:00.000Z');
  });

  it('rejects ambiguous or impossible values', () => {
    for (const value of [
      '2030-01-02T03:04:05',
      '2030-02-30',
      '2030-13-01T00:00:00Z',
      '1893456000',
      'tomorrow',
      '',
    ]) {
      expect(parseIsoDate(value), value).toBeUndefined();
    }
  });
});
