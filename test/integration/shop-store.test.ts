/**
 * The shops store against the harness's real MongoDB-wire backend: encryption at rest, plaintext
 * mode, token persistence, the unique {platform, shop_id} key, and token-free listings.
 */
import { randomBytes } from 'node:crypto';
import type { Db } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { AppError } from '../../src/shared/errors.js';
import { COLLECTIONS, ensureIndexes } from '../../src/shared/mongo.js';
import { createShopStore, toPublicShop, type ShopStore } from '../../src/shared/store/shops.js';
import { createTestEnv, type TestEnv } from '../support/context.js';

const key = randomBytes(32);
const ACCESS = 'ROW_access_token_1234567890';
const REFRESH = 'ROW_refresh_token_0987654321';
const EXPIRES = new Date('2030-01-02T03:04:05.000Z');

let env: TestEnv;
let db: Db;
let now: Date;
const clock = () => now;

beforeEach(async () => {
  env = createTestEnv();
  db = (await env.mongo()).db;
  await ensureIndexes(db);
  now = new Date('2026-11-21T03:30:00.000Z');
});
afterEach(async () => {
  await env.cleanup();
});

/** A store with `encryptionKey` (the test key unless given; pass null for plaintext mode). */
function store(encryptionKey: Buffer | null = key): ShopStore {
  return createShopStore({ db, encryptionKey: encryptionKey ?? undefined, clock });
}

async function rawShop(platform: string, shopId: string) {
  return db.collection(COLLECTIONS.shops).findOne({ platform, shop_id: shopId });
}

async function addTikTok(shops: ShopStore, shopId = '7001') {
  return shops.upsert({
    platform: 'tiktok',
    shop_id: shopId,
    access_token: ACCESS,
    refresh_token: REFRESH,
    access_token_expires_at: EXPIRES,
    shop_cipher: 'ROW_cipher',
    name: 'Demo Shop',
  });
}

describe('shop store', () => {
  it('encrypts tokens at rest and decrypts them on get', async () => {
    const shops = store();
    const { shop, created } = await addTikTok(shops);
    expect(created).toBe(true);
    expect(shop).toMatchObject({ has_access_token: true, has_refresh_token: true, status: 'active' });
    expect(JSON.stringify(shop)).not.toContain(ACCESS);

    const raw = await rawShop('tiktok', '7001');
    expect(raw).not.toBeNull();
    expect(raw!.access_token).toMatch(/^enc:v1:/);
    expect(raw!.refresh_token).toMatch(/^enc:v1:/);
    const serialized = JSON.stringify(raw);
    expect(serialized).not.toContain(ACCESS);
    expect(serialized).not.toContain(REFRESH);
    // CONTRACT §5 fields, with Dates as Dates.
    expect(raw).toMatchObject({
      platform: 'tiktok',
      shop_id: '7001',
      status: 'active',
      shop_cipher: 'ROW_cipher',
      name: 'Demo Shop',
    });
    expect(raw!.access_token_expires_at).toBeInstanceOf(Date);
    expect((raw!.access_token_expires_at as Date).toISOString()).toBe(EXPIRES.toISOString());
    expect(raw!.created_at).toBeInstanceOf(Date);
    expect(raw!.updated_at).toBeInstanceOf(Date);

    expect(await shops.get('tiktok', '7001')).toEqual({
      platform: 'tiktok',
      shop_id: '7001',
      status: 'active',
      access_token: ACCESS,
      refresh_token: REFRESH,
      access_token_expires_at: EXPIRES,
      shop_cipher: 'ROW_cipher',
      name: 'Demo Shop',
      created_at: now,
      updated_at: now,
    });
    expect(await shops.get('tiktok', 'missing')).toBeNull();
    expect(await shops.get('shopee', '7001')).toBeNull();
  });

  it('stores tokens as given without a key, and reads them back after a key is set', async () => {
    await addTikTok(store(null));
    const raw = await rawShop('tiktok', '7001');
    expect(raw!.access_token).toBe(ACCESS);
    expect(raw!.refresh_token).toBe(REFRESH);
    expect((await store(null).get('tiktok', '7001'))?.access_token).toBe(ACCESS);
    // Plaintext stored earlier stays readable once a key is configured.
    expect((await store(key).get('tiktok', '7001'))?.refresh_token).toBe(REFRESH);
  });

  it('loadTokens answers the stored tokens decrypted, or null for an unknown shop', async () => {
    await addTikTok(store());
    expect(await store().loadTokens('tiktok', '7001')).toEqual({
      access_token: ACCESS,
      refresh_token: REFRESH,
      access_token_expires_at: EXPIRES,
    });
    expect(await store().loadTokens('shopee', '7001')).toBeNull();
  });

  it('re-adding credentials without the key succeeds when the kept tokens are encrypted', async () => {
    await addTikTok(store(key));
    const { created } = await store(null).upsert({
      platform: 'tiktok',
      shop_id: '7001',
      access_token: 'ROW_plain_new',
    });
    expect(created).toBe(false);
    // Mixed storage is fine: each value says whether it is encrypted.
    expect(await store(key).get('tiktok', '7001')).toMatchObject({
      access_token: 'ROW_plain_new',
      refresh_token: REFRESH,
    });
  });

  it('an encrypted shop read without the key or with another key is ERR_SHOP_UNREADABLE naming it, token-free', async () => {
    await addTikTok(store(key));
    for (const other of [null, randomBytes(32)]) {
      for (const read of [
        (shops: ShopStore) => shops.get('tiktok', '7001'),
        (shops: ShopStore) => shops.loadTokens('tiktok', '7001'),
      ]) {
        const error = await read(store(other)).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(AppError);
        expect(error).toMatchObject({ code: 'ERR_SHOP_UNREADABLE', retryable: true });
        expect((error as AppError).message).toContain('tiktok shop 7001');
        expect((error as AppError).message).not.toContain(ACCESS);
        expect((error as AppError).message).not.toContain(REFRESH);
      }
    }
  });

  it('isolates unreadable shop documents: get throws for that shop, listings report it beside the others', async () => {
    await addTikTok(store(), 'good');
    await addTikTok(store(randomBytes(32)), 'other-key');
    await db.collection(COLLECTIONS.shops).insertOne({
      platform: 'tiktok',
      shop_id: 'malformed',
      status: 'active',
      access_token: 42,
      created_at: 'yesterday',
      updated_at: now,
    });
    const shops = store();

    await expect(shops.get('tiktok', 'malformed')).rejects.toMatchObject({ code: 'ERR_SHOP_UNREADABLE' });
    await expect(shops.listActive()).rejects.toMatchObject({ code: 'ERR_SHOP_UNREADABLE' });
    const active = await shops.listActiveIsolated('tiktok');
    expect(active.shops.map((s) => s.shop_id)).toEqual(['good']);
    expect(active.unreadable.map((u) => [u.shop_id, u.error.code])).toEqual([
      ['malformed', 'ERR_SHOP_UNREADABLE'],
      ['other-key', 'ERR_SHOP_UNREADABLE'],
    ]);
    expect(active.unreadable[0]!.error.message).toMatch(/tiktok shop malformed: .*access_token.*created_at/);
    expect(active.unreadable[1]!.error.message).toMatch(/tiktok shop other-key: its tokens cannot be read/);
    expect(JSON.stringify(active.unreadable.map((u) => u.error.message))).not.toContain(ACCESS);

    // Display needs no decryption: only the malformed document is left out.
    const listed = await shops.listPublic();
    expect(listed.shops.map((s) => s.shop_id)).toEqual(['good', 'other-key']);
    expect(listed.unreadable).toEqual([
      { platform: 'tiktok', shop_id: 'malformed', error: expect.any(AppError) as AppError },
    ]);
  });

  it('saveTokens persists refreshed tokens (encrypted) and bumps updated_at only', async () => {
    const shops = store();
    await addTikTok(shops);
    now = new Date('2026-11-21T04:00:00.000Z');
    const newExpiry = new Date('2030-06-01T00:00:00.000Z');
    await shops.saveTokens('tiktok', '7001', {
      access_token: 'ROW_new_access',
      refresh_token: 'ROW_new_refresh',
      access_token_expires_at: newExpiry,
    });
    const shop = await shops.get('tiktok', '7001');
    expect(shop).toMatchObject({
      access_token: 'ROW_new_access',
      refresh_token: 'ROW_new_refresh',
      access_token_expires_at: newExpiry,
      created_at: new Date('2026-11-21T03:30:00.000Z'),
      updated_at: now,
      shop_cipher: 'ROW_cipher',
    });
    expect(JSON.stringify(await rawShop('tiktok', '7001'))).not.toContain('ROW_new_');

    const error = await shops
      .saveTokens('tiktok', 'gone', { access_token: 'x', refresh_token: null, access_token_expires_at: null })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('ERR_SHOP_UNKNOWN');
  });

  it('keeps one document per {platform, shop_id}: a second upsert updates, reactivates, keeps omitted fields', async () => {
    const shops = store();
    await addTikTok(shops);
    await shops.setStatus('tiktok', '7001', 'deauthorized');
    now = new Date('2026-11-22T00:00:00.000Z');
    const { created } = await shops.upsert({
      platform: 'tiktok',
      shop_id: '7001',
      access_token: 'ROW_reauthorized',
      name: null,
    });
    expect(created).toBe(false);
    expect(await shops.get('tiktok', '7001')).toMatchObject({
      status: 'active',
      access_token: 'ROW_reauthorized',
      refresh_token: REFRESH, // omitted: kept
      shop_cipher: 'ROW_cipher', // omitted: kept
      name: null, // null: cleared
      created_at: new Date('2026-11-21T03:30:00.000Z'),
      updated_at: now,
    });
    expect(
      await db.collection(COLLECTIONS.shops).countDocuments({ platform: 'tiktok', shop_id: '7001' }),
    ).toBe(1);

    // The same id on the other platform is another shop.
    const shopee = await shops.upsert({ platform: 'shopee', shop_id: '7001', access_token: 'ROW_shopee' });
    expect(shopee.created).toBe(true);
    expect(shopee.shop).toMatchObject({
      has_refresh_token: false,
      access_token_expires_at: null,
      shop_cipher: null,
      name: null,
    });

    // The unique index itself rejects a duplicate written behind the store's back.
    const duplicate = await db
      .collection(COLLECTIONS.shops)
      .insertOne({ platform: 'tiktok', shop_id: '7001' })
      .catch((e: unknown) => e);
    expect((duplicate as { code?: number }).code).toBe(11000);
  });

  it('concurrent upserts of a new shop leave exactly one document', async () => {
    const shops = store();
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        shops.upsert({ platform: 'shopee', shop_id: 'race', access_token: `ROW_${i}` }),
      ),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await db.collection(COLLECTIONS.shops).countDocuments({ shop_id: 'race' })).toBe(1);
  });

  it('setAuthorizationExpiry sets only the authorization end (TikTok type 7)', async () => {
    const shops = store();
    await addTikTok(shops, '1');
    const before = await shops.get('tiktok', '1');
    const ends = new Date('2026-12-06T10:00:00Z');
    expect(await shops.setAuthorizationExpiry('tiktok', '1', ends)).toBe(true);
    expect(await shops.setAuthorizationExpiry('tiktok', 'nope', ends)).toBe(false);
    const after = await shops.get('tiktok', '1');
    expect(after).toEqual({ ...before, authorization_expires_at: ends, updated_at: after?.updated_at });
    expect((await shops.listPublic()).shops[0]?.authorization_expires_at).toEqual(ends);
  });

  it('setStatus marks deauthorization; listActive skips those shops', async () => {
    const shops = store();
    await addTikTok(shops, '1');
    await addTikTok(shops, '2');
    await shops.upsert({ platform: 'shopee', shop_id: '3', access_token: 'ROW_s3' });
    expect(await shops.setStatus('tiktok', '2', 'deauthorized')).toBe(true);
    expect(await shops.setStatus('tiktok', 'nope', 'deauthorized')).toBe(false);

    expect((await shops.listActive()).map((s) => `${s.platform}/${s.shop_id}`)).toEqual([
      'shopee/3',
      'tiktok/1',
    ]);
    expect((await shops.listActive('tiktok')).map((s) => s.shop_id)).toEqual(['1']);
    const all = await shops.list();
    expect(all.map((s) => [s.shop_id, s.status])).toEqual([
      ['3', 'active'],
      ['1', 'active'],
      ['2', 'deauthorized'],
    ]);
    expect(all.find((s) => s.shop_id === '1')?.access_token).toBe(ACCESS);
    expect((await shops.list({ platform: 'tiktok', status: 'deauthorized' })).map((s) => s.shop_id)).toEqual([
      '2',
    ]);
  });

  it('listPublic and toPublicShop carry no tokens, and listPublic needs no key', async () => {
    await addTikTok(store());
    await store().upsert({ platform: 'shopee', shop_id: '9', access_token: 'ROW_only_access' });

    const { shops: listed, unreadable } = await store(null).listPublic();
    expect(unreadable).toEqual([]);
    expect(listed).toEqual([
      {
        platform: 'shopee',
        shop_id: '9',
        status: 'active',
        name: null,
        shop_cipher: null,
        has_access_token: true,
        has_refresh_token: false,
        access_token_expires_at: null,
        created_at: now,
        updated_at: now,
      },
      expect.objectContaining({
        platform: 'tiktok',
        shop_id: '7001',
        has_access_token: true,
        has_refresh_token: true,
        access_token_expires_at: EXPIRES,
      }),
    ]);
    const shown = JSON.stringify(listed);
    for (const secret of [ACCESS, REFRESH, 'ROW_only_access', 'enc:v1']) expect(shown).not.toContain(secret);

    const shop = (await store().get('tiktok', '7001'))!;
    const pub = toPublicShop(shop);
    expect(pub).not.toHaveProperty('access_token');
    expect(pub).not.toHaveProperty('refresh_token');
    expect(JSON.stringify(pub)).not.toContain(ACCESS);
  });

  it('remove deletes one shop and reports whether it existed', async () => {
    const shops = store();
    await addTikTok(shops, '1');
    await addTikTok(shops, '2');
    expect(await shops.remove('tiktok', '1')).toBe(true);
    expect(await shops.remove('tiktok', '1')).toBe(false);
    expect(await shops.remove('shopee', '2')).toBe(false);
    expect(await shops.get('tiktok', '1')).toBeNull();
    expect((await shops.list()).map((s) => s.shop_id)).toEqual(['2']);
  });

  it('rejects invalid input before writing', async () => {
    const shops = store();
    for (const input of [
      { platform: 'tiktok' as const, shop_id: ' ', access_token: 'x' },
      { platform: 'tiktok' as const, shop_id: '1', access_token: '' },
      { platform: 'lazada' as never, shop_id: '1', access_token: 'x' },
      {
        platform: 'tiktok' as const,
        shop_id: '1',
        access_token: 'x',
        access_token_expires_at: new Date('x'),
      },
    ]) {
      const error = await shops.upsert(input).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AppError);
    }
    expect(await db.collection(COLLECTIONS.shops).countDocuments()).toBe(0);
  });
});
