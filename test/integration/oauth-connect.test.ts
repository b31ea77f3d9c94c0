/**
 * Issue 13: connecting shops through the marketplaces' authorization flow, end to end over real
 * HTTP: `shops connect` prints the link → the fake marketplace's authorize page approves and
 * redirects → the ingest callback takes the state, exchanges the code, discovers the shops and
 * stores them → a webhook for a connected shop is processed by the worker with the new token.
 * Also: bad, reused, expired and foreign states; a reused code; token-exchange failures; a grant
 * listing two TikTok shops; a Shopee main account with two shops; reconnecting a deauthorized shop.
 */
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';

import { COMMANDS } from '../../src/cli/commands.js';
import { dispatch, type CliIo } from '../../src/cli/dispatch.js';
import { startIngest, type RunningIngest } from '../../src/ingest/main.js';
import { createShopeeClient } from '../../src/marketplaces/shopee/client.js';
import { shopeeSignedAuthorizationLink } from '../../src/marketplaces/shopee/oauth.js';
import { createTikTokClient } from '../../src/marketplaces/tiktok/client.js';
import { tiktokAuthorizationLink } from '../../src/marketplaces/tiktok/oauth.js';
import { registerAuthorizationExpiry } from '../../src/reconcile/authorization-metrics.js';
import { COLLECTIONS } from '../../src/shared/mongo.js';
import { createOAuthStateStore, oauthStateKeyPrefix } from '../../src/shared/store/oauth-state.js';
import type { Platform } from '../../src/shared/stream.js';
import { silentLogger } from '../support/context.js';
import { startFakeMarketplace } from '../support/fake-marketplace/index.js';
import { createPipeline, pipelineEnv, type Pipeline } from '../support/pipeline.js';

interface Setup {
  pipeline: Pipeline;
  ingest: RunningIngest;
  cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
}

const setups: Setup[] = [];

afterEach(async () => {
  for (const s of setups.splice(0)) {
    await s.ingest.close();
    await s.pipeline.cleanup();
  }
});

async function setup(): Promise<Setup> {
  const pipeline = await createPipeline();
  const ingest = await startIngest({ ...pipeline.env.config, host: '127.0.0.1', port: 0 }, silentLogger);
  const { fake } = pipeline;
  fake.oauth.setTikTokRedirectUrl(`${ingest.address}/oauth/tiktok/callback`);
  const env = pipelineEnv(pipeline, {
    OAUTH_REDIRECT_BASE_URL: ingest.address,
    TIKTOK_SERVICE_ID: fake.oauth.serviceId,
    TIKTOK_AUTHORIZE_URL: fake.oauth.tiktokAuthorizeUrl,
    SHOPEE_AUTHORIZE_URL: fake.oauth.shopeeAuthorizeUrl,
    LOG_LEVEL: 'silent',
  });
  const cli = async (args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), env, isTTY: false };
    const code = await dispatch(COMMANDS, args, io);
    return { code, stdout: out.join(''), stderr: err.join('') };
  };
  const s = { pipeline, ingest, cli };
  setups.push(s);
  return s;
}

/** The links `shops connect` printed, in order. */
async function links(s: Setup, platform: Platform, extra: string[] = []): Promise<string[]> {
  const run = await s.cli(['shops', 'connect', '--platform', platform, ...extra]);
  expect(run).toMatchObject({ code: 0, stderr: '' });
  return [...run.stdout.matchAll(/^ {2}(http\S+)$/gm)].map((m) => m[1]!);
}

/** Opens `link` at the fake marketplace: where its authorize page redirects the seller. */
async function approve(link: string): Promise<string> {
  const answer = await fetch(link, { redirect: 'manual' });
  expect(answer.status).toBe(302);
  return answer.headers.get('location')!;
}

async function open(url: string): Promise<{ status: number; html: string }> {
  const answer = await fetch(url);
  expect(answer.headers.get('content-type')).toMatch(/^text\/html/);
  return { status: answer.status, html: await answer.text() };
}

async function storedShops(s: Setup) {
  return s.pipeline.runtime.shops.list();
}

describe('shops connect → authorize → callback', () => {
  it('a TikTok grant with two shops: both stored with cipher and tokens; a webhook is processed with the new token', async () => {
    const s = await setup();
    const { fake } = s.pipeline;
    const a = fake.addShop('tiktok', { name: 'Shop <A>' });
    const b = fake.addShop('tiktok');
    fake.oauth.approveAs('tiktok', { shopIds: [a.shopId, b.shopId] });

    const [serviceLink, legacyLink] = await links(s, 'tiktok');
    expect(serviceLink).toContain(`service_id=${fake.oauth.serviceId}`);
    expect(legacyLink).toContain('/oauth/authorize?app_key=');
    const callback = await approve(serviceLink!);
    expect(callback.startsWith(`${s.ingest.address}/oauth/tiktok/callback?code=`)).toBe(true);

    const page = await open(callback);
    expect(page.status).toBe(200);
    expect(page.html).toContain(`Shop &lt;A&gt; (shop ${a.shopId}): connected`);
    expect(page.html).toContain(`(shop ${b.shopId}): connected`);

    const stored = await storedShops(s);
    expect(stored.map((shop) => shop.shop_id).sort()).toEqual([a.shopId, b.shopId].sort());
    for (const shop of stored) {
      const atFake = fake.shop('tiktok', shop.shop_id);
      expect(shop).toMatchObject({
        status: 'active',
        access_token: atFake.accessToken,
        refresh_token: atFake.refreshToken,
        shop_cipher: atFake.shopCipher,
      });
      expect(shop.access_token).not.toBe(a.accessToken); // the exchange issued a new pair
      expect(shop.authorization_expires_at).toBeInstanceOf(Date);
    }

    // A webhook for the connected shop: the worker fetches the order with the exchanged token.
    const [order] = fake.seedOrders('tiktok', a.shopId, 1);
    await s.pipeline.startWorker();
    const answer = await fake.sendTikTokWebhook(`${s.ingest.address}/webhooks/tiktok`, {
      type: 1,
      tts_notification_id: 'oauth-e2e-1',
      shop_id: a.shopId,
      timestamp: Number(order!.update_time),
      data: { order_id: order!.id, order_status: order!.status, update_time: order!.update_time },
    });
    expect(answer.status).toBe(200);
    await s.pipeline.drained();
    const { db } = s.pipeline.runtime.mongo;
    const doc = await db.collection(COLLECTIONS.orders).findOne({ shop_id: a.shopId, order_id: order!.id });
    expect(doc).not.toBeNull();
    expect(fake.calls.count({ platform: 'tiktok', endpoint: '/order/202309/orders', succeeded: true })).toBe(
      1,
    );
  });

  it('a replayed callback stores nothing twice and answers 400, not 500', async () => {
    const s = await setup();
    const { fake } = s.pipeline;
    const shop = fake.addShop('tiktok');
    fake.oauth.approveAs('tiktok', { shopIds: [shop.shopId] });
    const callback = await approve((await links(s, 'tiktok'))[0]!);
    expect((await open(callback)).status).toBe(200);
    const [first] = await storedShops(s);

    const replay = await open(callback);
    expect(replay.status).toBe(400);
    expect(replay.html).toContain('already used');
    expect(fake.oauth.codes()).toEqual({ issued: 1, used: 1 });
    const [after] = await storedShops(s);
    expect(after!.updated_at).toEqual(first!.updated_at);
  });

  it('bad, missing, expired and foreign states: 400 and nothing exchanged or stored', async () => {
    const s = await setup();
    const { fake } = s.pipeline;
    const shop = fake.addShop('tiktok');
    fake.oauth.approveAs('tiktok', { shopIds: [shop.shopId] });
    const callback = new URL(await approve((await links(s, 'tiktok'))[0]!));
    const code = callback.searchParams.get('code')!;
    const base = `${s.ingest.address}/oauth/tiktok/callback`;

    const forged = await open(`${base}?code=${code}&state=${'A'.repeat(43)}`);
    expect(forged.status).toBe(400);
    expect(forged.html).toContain('unknown, was already used, or expired');
    expect((await open(`${base}?code=${code}`)).status).toBe(400);
    expect((await open(`${base}?code=${code}&state=%3Cscript%3E`)).html).not.toContain('<script>');

    // A state issued 1 s before, with a 1 s lifetime: expired.
    const states = createOAuthStateStore({
      redis: s.pipeline.runtime.redis,
      keyPrefix: oauthStateKeyPrefix(s.pipeline.env.config.streamKey),
      ttlSeconds: 1,
    });
    const expiring = await states.issue('tiktok');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await open(`${base}?code=${code}&state=${expiring}`)).status).toBe(400);

    // A Shopee link's state is no TikTok state.
    const shopeeState = await states.issue('shopee');
    const foreign = await open(`${base}?code=${code}&state=${shopeeState}`);
    expect(foreign.status).toBe(400);
    expect(foreign.html).toContain('made for shopee');

    expect(fake.oauth.codes()).toEqual({ issued: 1, used: 0 });
    expect(await storedShops(s)).toEqual([]);
  });

  it('a code refused by the marketplace is a 400 page; a marketplace outage a 502; nothing stored', async () => {
    const s = await setup();
    const { fake } = s.pipeline;
    const shop = fake.addShop('tiktok');
    fake.oauth.approveAs('tiktok', { shopIds: [shop.shopId] });
    const base = `${s.ingest.address}/oauth/tiktok/callback`;

    const stateOf = async () => new URL((await links(s, 'tiktok'))[0]!).searchParams.get('state')!;
    const refused = await open(`${base}?code=TTC_not_issued&state=${await stateOf()}`);
    expect(refused.status).toBe(400);
    expect(refused.html).toContain('Authorization refused');

    fake.knobs.failNext({ status: 503 }, { endpoint: '/api/v2/token/get', times: 5 });
    const callback = await approve((await links(s, 'tiktok'))[0]!);
    const outage = await open(callback);
    expect(outage.status).toBe(502);
    expect(outage.html).not.toContain('injected');
    expect(await storedShops(s)).toEqual([]);
  });

  it('shops connect --code: exchanges once; the same code again is refused (exit 1, nothing stored twice)', async () => {
    const s = await setup();
    const { fake } = s.pipeline;
    const shop = fake.addShop('tiktok', { name: 'CLI shop' });
    fake.oauth.approveAs('tiktok', { shopIds: [shop.shopId] });
    const code = new URL(await approve((await links(s, 'tiktok'))[0]!)).searchParams.get('code')!;

    const first = await s.cli(['shops', 'connect', '--platform', 'tiktok', '--code', code]);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toMatch(new RegExp(`^connected tiktok shop ${shop.shopId} \\(CLI shop\\)`));
    const [stored] = await storedShops(s);

    const again = await s.cli(['shops', 'connect', '--platform', 'tiktok', '--code', code]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('auth_code is invalid, used or expired');
    const [after] = await storedShops(s);
    expect(after!.updated_at).toEqual(stored!.updated_at);

    const usage = await s.cli(['shops', 'connect', '--platform', 'shopee', '--code', code]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--shop-id ID or --main-account-id ID');
  });

  it('a Shopee main account with two shops: both stored, named by get_shop_info, with the authorization end', async () => {
    const s = await setup();
    const { fake } = s.pipeline;
    const ends = new Date(Date.now() + 200 * 86_400_000);
    ends.setMilliseconds(0);
    const x = fake.addShop('shopee', { name: 'Shopee X', authorizationExpiresAt: ends });
    const y = fake.addShop('shopee', { name: 'Shopee Y', authorizationExpiresAt: ends });
    fake.oauth.approveAs('shopee', { mainAccountId: '880001', shopIds: [x.shopId, y.shopId] });

    const [signed, openLink] = await links(s, 'shopee');
    expect(signed).toContain('/api/v2/shop/auth_partner?partner_id=');
    expect(openLink).toContain('/auth?partner_id=');
    const callback = await approve(signed!);
    expect(new URL(callback).searchParams.get('main_account_id')).toBe('880001');
    const page = await open(callback);
    expect(page.status).toBe(200);
    expect(page.html).toContain(`Shopee X (shop ${x.shopId}): connected`);

    const stored = await storedShops(s);
    expect(stored.map((shop) => [shop.shop_id, shop.name])).toEqual(
      [
        [x.shopId, 'Shopee X'],
        [y.shopId, 'Shopee Y'],
      ].sort(),
    );
    for (const shop of stored) {
      expect(shop).toMatchObject({
        status: 'active',
        access_token: fake.shop('shopee', shop.shop_id).accessToken,
      });
      expect(shop.authorization_expires_at).toEqual(ends);
    }
    const list = await s.cli(['shops', 'list']);
    expect(list.stdout).toContain(ends.toISOString());

    // The gauge the 7-day alert watches: seconds left, one series per shop.
    const registry = new Registry();
    const at = Date.now();
    registerAuthorizationExpiry({
      registry,
      shops: s.pipeline.runtime.shops,
      logger: silentLogger,
      now: () => at,
    });
    const text = await registry.metrics();
    const left = Math.round((ends.getTime() - at) / 1000);
    expect(text).toContain(
      `market_ingest_shop_authorization_expiry_seconds{platform="shopee",shop_id="${x.shopId}"} ${left}`,
    );
  });

  it('a Shopee shop account through the newer link; reconnecting a deauthorized shop makes it active again', async () => {
    const s = await setup();
    const { fake } = s.pipeline;
    const shopId = await s.pipeline.addShop('shopee');
    await s.pipeline.runtime.shops.setStatus('shopee', shopId, 'deauthorized');
    fake.oauth.approveAs('shopee', { shopIds: [shopId] });

    const callback = new URL(await approve((await links(s, 'shopee'))[1]!));
    expect(callback.searchParams.get('shop_id')).toBe(shopId);
    // Shopee may append its own echo of `state` to the redirect URL that already carries it.
    callback.searchParams.append('state', callback.searchParams.get('state')!);
    const page = await open(callback.toString());
    expect(page.status).toBe(200);
    expect(page.html).toContain(`(shop ${shopId}): reconnected`);
    const shop = await s.pipeline.runtime.shops.get('shopee', shopId);
    expect(shop).toMatchObject({ status: 'active', access_token: fake.shop('shopee', shopId).accessToken });
  });

  it('get_shop_info failing does not lose the grant: the shop is stored without a name', async () => {
    const s = await setup();
    const { fake } = s.pipeline;
    const shop = fake.addShop('shopee', { name: 'Unnamed' });
    fake.oauth.approveAs('shopee', { shopIds: [shop.shopId] });
    fake.knobs.failNext({ status: 400 }, { endpoint: '/api/v2/shop/get_shop_info' });

    const page = await open(await approve((await links(s, 'shopee'))[0]!));
    expect(page.status).toBe(200);
    expect(await s.pipeline.runtime.shops.get('shopee', shop.shopId)).toMatchObject({
      status: 'active',
      name: null,
      access_token: fake.shop('shopee', shop.shopId).accessToken,
    });
  });

  it('shops connect says what is missing: a Shopee redirect URL, a disabled platform', async () => {
    const s = await setup();
    const io = (env: Record<string, string>) => ({
      stdout: () => undefined,
      stderr: (t: string) => err.push(t),
      env,
      isTTY: false,
    });
    const err: string[] = [];
    const base: Record<string, string> = { ...pipelineEnv(s.pipeline), LOG_LEVEL: 'silent' };
    const noRedirect = await dispatch(COMMANDS, ['shops', 'connect', '--platform', 'shopee'], io(base));
    expect(noRedirect).toBe(1);
    expect(err.join('')).toContain('set OAUTH_REDIRECT_BASE_URL or give --redirect-url');

    err.length = 0;
    const withoutTikTok: Record<string, string> = { ...base };
    delete withoutTikTok.TIKTOK_APP_KEY;
    delete withoutTikTok.TIKTOK_APP_SECRET;
    const disabled = await dispatch(
      COMMANDS,
      ['shops', 'connect', '--platform', 'tiktok'],
      io(withoutTikTok),
    );
    expect(disabled).toBe(1);
    expect(err.join('')).toContain('tiktok is not configured');
  });
});

describe('the fake marketplace checks authorization as the real ones', () => {
  const noTokens = { saveTokens: () => Promise.resolve(), loadTokens: () => Promise.resolve(null) };
  const unmetered = { acquire: () => Promise.resolve(), penalize: () => Promise.resolve() };
  const common = {
    limiter: unmetered,
    tokens: noTokens,
    logger: silentLogger,
    timeoutMs: 5_000,
    maxAttempts: 1,
  };

  it('codes expire (TikTok 30 min, Shopee 10 min); a Shopee signed link dies after 5 min or with a wrong sign', async () => {
    let clock = Date.now();
    const fake = await startFakeMarketplace({ now: () => clock, timestampToleranceSeconds: 100_000 });
    try {
      const tt = fake.addShop('tiktok');
      const sp = fake.addShop('shopee');
      fake.oauth.approveAs('tiktok', { shopIds: [tt.shopId] });
      fake.oauth.approveAs('shopee', { shopIds: [sp.shopId] });
      fake.oauth.setTikTokRedirectUrl('http://127.0.0.1:9/oauth/tiktok/callback');
      const tiktok = createTikTokClient({
        ...fake.credentials.tiktok,
        apiBaseUrl: fake.tiktokBaseUrl,
        authBaseUrl: fake.authBaseUrl,
        detailBatchSize: 50,
        now: () => clock,
        ...common,
      });
      const shopee = createShopeeClient({
        ...fake.credentials.shopee,
        apiBaseUrl: fake.shopeeBaseUrl,
        detailBatchSize: 50,
        now: () => clock,
        ...common,
      });
      const codeOf = async (link: string) => new URL(await approve(link)).searchParams.get('code')!;
      const ttCode = await codeOf(
        tiktokAuthorizationLink({
          kind: 'service',
          serviceId: fake.oauth.serviceId,
          authorizeUrl: fake.oauth.tiktokAuthorizeUrl,
          state: 's',
        }),
      );
      const signed = (timestamp: number, key = fake.credentials.shopee.partnerKey) =>
        shopeeSignedAuthorizationLink({
          apiBaseUrl: fake.shopeeBaseUrl,
          partnerId: fake.credentials.shopee.partnerId,
          partnerKey: key,
          timestamp,
          redirectUrl: 'http://127.0.0.1:9/oauth/shopee/callback',
        });
      const spCode = await codeOf(signed(Math.floor(clock / 1000)));

      expect(
        (await fetch(signed(Math.floor(clock / 1000), 'wrong-key'), { redirect: 'manual' })).status,
      ).toBe(403);
      expect((await fetch(signed(Math.floor(clock / 1000) - 301), { redirect: 'manual' })).status).toBe(400);

      clock += 11 * 60_000;
      await expect(shopee.exchangeAuthCode(spCode, { shopId: sp.shopId })).rejects.toMatchObject({
        code: 'ERR_MARKETPLACE_REJECTED',
      });
      const grant = await tiktok.exchangeAuthCode(ttCode); // 11 min: still valid
      expect(grant.access_token).toBe(fake.shop('tiktok', tt.shopId).accessToken);

      const late = await codeOf(
        tiktokAuthorizationLink({
          kind: 'legacy',
          appKey: fake.credentials.tiktok.appKey,
          authBaseUrl: fake.authBaseUrl,
          state: 's',
        }),
      );
      clock += 31 * 60_000;
      await expect(tiktok.exchangeAuthCode(late)).rejects.toMatchObject({ code: 'ERR_MARKETPLACE_REJECTED' });
      await Promise.all([tiktok.close(), shopee.close()]);
    } finally {
      await fake.close();
    }
  });
});
