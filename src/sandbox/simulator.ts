/**
 * The sandbox's marketplace side: the simulated TikTok Shop + Shopee with credentials generated
 * for this run, its shops and their scenario, and the service configuration that points at it
 * (whatever marketplace credentials the environment holds are ignored).
 */
import { randomBytes, randomInt } from 'node:crypto';

import { loadConfig, type Config } from '../shared/config.js';
import type { Shop } from '../marketplaces/types.js';
import { startFakeMarketplace, type FakeMarketplace } from './marketplace/index.js';
import { createScenario, type Scenario, type ScenarioShop } from './scenario.js';

/** Fixed ids, so a sandbox restarted on the same database finds its shops again. */
export const SANDBOX_SHOPS: readonly (ScenarioShop & { name: string })[] = [
  { platform: 'tiktok', shopId: '7494000000000000101', name: 'Sandbox Apparel (TikTok Shop)' },
  { platform: 'tiktok', shopId: '7494000000000000102', name: 'Sandbox Home (TikTok Shop)' },
  { platform: 'shopee', shopId: '800000101', name: 'Sandbox Gadgets (Shopee)' },
  { platform: 'shopee', shopId: '800000102', name: 'Sandbox Kitchen (Shopee)' },
];

/** Names the sandbox uses where the environment leaves the defaults: never a real deployment's. */
export const SANDBOX_NAMES = {
  mongoDb: 'market_ingest_sandbox',
  streamKey: 'market-ingest-sandbox:events',
  deadLetterStreamKey: 'market-ingest-sandbox:dead',
  changesStreamKey: 'market-ingest-sandbox:changes',
  consumerGroup: 'market-ingest-sandbox-workers',
} as const satisfies Partial<Config>;

/** The simulator does not limit callers; the service's own per-shop budget stays at the default. */
const RATE_LIMIT_PER_MINUTE = 600;

export interface Simulator {
  marketplace: FakeMarketplace;
  /** The shops as the service stores them, with the simulator's current tokens. */
  shops: Shop[];
  scenario: Scenario;
  /** Idempotent. */
  close(): Promise<void>;
}

export async function startSimulator(options: { seed?: number } = {}): Promise<Simulator> {
  const secret = () => randomBytes(16).toString('hex');
  const marketplace = await startFakeMarketplace({
    tiktok: { appKey: `sandbox${randomBytes(4).toString('hex')}`, appSecret: secret() },
    // A push key of its own, as Shopee's console gives: the service must verify pushes with it.
    shopee: { partnerId: randomInt(1_000_000, 9_999_999), partnerKey: secret(), pushPartnerKey: secret() },
  });
  for (const { platform, shopId, name } of SANDBOX_SHOPS) marketplace.addShop(platform, { shopId, name });
  const scenario = createScenario({
    marketplace,
    shops: SANDBOX_SHOPS,
    seed: options.seed ?? randomInt(2 ** 31),
  });
  return {
    marketplace,
    shops: SANDBOX_SHOPS.map(({ platform, shopId }) => marketplace.toShop(platform, shopId)),
    scenario,
    close: () => marketplace.close(),
  };
}

/**
 * The service's configuration for the sandbox: both platforms pointed at the simulator with its
 * credentials, the given Redis/MongoDB, and the sandbox's own database and stream names wherever
 * the environment leaves them at their defaults.
 */
export function sandboxConfig(
  configured: Readonly<Config>,
  marketplace: Pick<FakeMarketplace, 'credentials' | 'tiktokBaseUrl' | 'authBaseUrl' | 'shopeeBaseUrl'>,
  urls: { redisUrl: string | undefined; mongoUrl: string | undefined },
): Readonly<Config> {
  const defaults = loadConfig({});
  const own = <K extends keyof typeof SANDBOX_NAMES>(key: K) =>
    configured[key] === defaults[key] ? SANDBOX_NAMES[key] : configured[key];
  const { tiktok, shopee } = marketplace.credentials;
  return Object.freeze({
    ...configured,
    ...urls,
    mongoDb: own('mongoDb'),
    streamKey: own('streamKey'),
    deadLetterStreamKey: own('deadLetterStreamKey'),
    changesStreamKey: own('changesStreamKey'),
    consumerGroup: own('consumerGroup'),
    tiktok: Object.freeze({
      appKey: tiktok.appKey,
      appSecret: tiktok.appSecret,
      apiBaseUrl: marketplace.tiktokBaseUrl,
      authBaseUrl: marketplace.authBaseUrl,
      rateLimitPerMinute: RATE_LIMIT_PER_MINUTE,
    }),
    shopee: Object.freeze({
      partnerId: shopee.partnerId,
      partnerKey: shopee.partnerKey,
      pushPartnerKey: shopee.pushPartnerKey,
      apiBaseUrl: marketplace.shopeeBaseUrl,
      // Rebuilt from the request: the simulator signs the URL it posts to.
      webhookUrl: undefined,
      rateLimitPerMinute: RATE_LIMIT_PER_MINUTE,
    }),
  });
}
