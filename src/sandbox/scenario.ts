/**
 * The simulated shops' life: new orders that move UNPAID → … → COMPLETED (some cancelled on the
 * way; Shopee's get a tracking-number push), returns on delivered orders, products listed and
 * delisted. Each step changes the object at the simulated marketplace first, then yields the
 * webhook the marketplace would send about it; every n-th delivery repeats a recent one, as
 * marketplaces deliver at least once. Deterministic for a seed.
 */
import { ENTITY_RULES, CANCELLED, nextUpdateTime, type EntityRules } from './entities.js';
import { createGenerator, seededRandom, type Generator } from './marketplace/generators.js';
import type { FakeMarketplace } from './marketplace/index.js';
import type { FakePlatform, Json } from './marketplace/state.js';
import { shopeeData, shopeeWebhook, tiktokData, tiktokWebhook } from './webhooks.js';

export interface ScenarioShop {
  platform: FakePlatform;
  shopId: string;
}

export type ScenarioMarketplace = Pick<FakeMarketplace, 'putOrders' | 'putReturns' | 'putProducts'> &
  /** Where given, shipped orders get carrier scans (their tracking has events to show). */
  Partial<Pick<FakeMarketplace, 'addTrackingEvents'>>;

export interface Delivery {
  platform: FakePlatform;
  shopId: string;
  kind: 'order' | 'return' | 'product';
  entityId: string;
  /** What changed: the new status, or "tracking number". */
  change: string;
  /** TikTok type / Shopee push code. */
  type: number;
  body: string;
  /** A body delivered before, sent again. */
  duplicate: boolean;
}

export interface ScenarioOptions {
  marketplace: ScenarioMarketplace;
  shops: readonly ScenarioShop[];
  seed: number;
  /** ms since the epoch */
  now?: () => number;
  /** Every n-th delivery repeats one of the last few. Default 10. */
  duplicateEvery?: number;
  /** Open orders per shop before new ones wait for old ones to finish. Default 25. */
  maxOpenOrders?: number;
}

export interface Scenario {
  /** Changes one thing at the marketplace and returns the webhook announcing it. */
  next(): Delivery;
}

interface ShopWorld {
  shop: ScenarioShop;
  rules: EntityRules;
  /** Orders not in a final status. */
  open: Json[];
  /** Delivered orders without a return yet (the latest few). */
  returnable: Json[];
  /** Returns not in a final status. */
  returns: Json[];
  products: Json[];
}

type Action = 'newOrder' | 'advanceOrder' | 'newReturn' | 'advanceReturn' | 'product';

const RECENT = 20;
const CANCEL_CHANCE = 0.12;

/** What every step uses: the marketplace it changes, the seeded randomness, the clock. */
interface Context {
  marketplace: ScenarioMarketplace;
  generate: Generator;
  random: () => number;
  /** unix seconds */
  seconds: () => number;
}

export function createScenario(options: ScenarioOptions): Scenario {
  const now = options.now ?? Date.now;
  const seconds = () => Math.floor(now() / 1000);
  const random = seededRandom(options.seed);
  const generate = createGenerator({ seed: options.seed, baseTime: seconds() });
  const context: Context = { marketplace: options.marketplace, generate, random, seconds };
  const duplicateEvery = options.duplicateEvery ?? 10;
  const maxOpen = options.maxOpenOrders ?? 25;
  const worlds = options.shops.map((shop) => seedShop(shop, options.marketplace, generate, seconds()));
  const recent: Delivery[] = [];
  let count = 0;

  return {
    next() {
      count += 1;
      if (count % duplicateEvery === 0 && recent.length > 0)
        return { ...recent[Math.floor(random() * recent.length)]!, duplicate: true };
      const world = worlds[count % worlds.length]!;
      const delivery = STEPS[chooseAction(world, random, maxOpen)](context, world);
      recent.push(delivery);
      if (recent.length > RECENT) recent.shift();
      return delivery;
    },
  };
}

function chooseAction(world: ShopWorld, random: () => number, maxOpen: number): Action {
  const weighted: [Action, number][] = [
    ['newOrder', world.open.length < maxOpen ? 3 : 0],
    ['advanceOrder', world.open.length > 0 ? 5 : 0],
    ['newReturn', world.returnable.length > 0 ? 1 : 0],
    ['advanceReturn', world.returns.length > 0 ? 1 : 0],
    ['product', world.rules.withProductChange && world.products.length > 0 ? 1 : 0],
  ];
  const total = weighted.reduce((sum, [, weight]) => sum + weight, 0);
  let roll = random() * total;
  for (const [action, weight] of weighted) {
    roll -= weight;
    if (roll < 0) return action;
  }
  return 'newOrder';
}

function delivery(world: ShopWorld, kind: Delivery['kind'], entityId: string, change: string) {
  return (type: number, body: string): Delivery => ({
    platform: world.shop.platform,
    shopId: world.shop.shopId,
    kind,
    entityId,
    change,
    type,
    body,
    duplicate: false,
  });
}

function orderStatusWebhook(ctx: Context, world: ShopWorld, order: Json): Delivery {
  const { rules, shop } = world;
  const status = rules.orderStatus(order);
  const send = delivery(world, 'order', rules.orderId(order), status);
  if (shop.platform === 'shopee')
    return send(3, shopeeWebhook(3, shop.shopId, shopeeData.order(order), ctx.seconds()));
  const type = status === CANCELLED ? 11 : 1;
  const data = type === 11 ? tiktokData.cancellation(order) : tiktokData.order(order);
  return send(type, tiktokWebhook(type, shop.shopId, data, ctx.seconds(), ctx.generate.digits(19)));
}

function newOrder(ctx: Context, world: ShopWorld): Delivery {
  const { rules, shop } = world;
  const order = rules.newOrder(ctx.generate, ctx.seconds());
  ctx.marketplace.putOrders(shop.platform, shop.shopId, [order]);
  world.open.push(order);
  return orderStatusWebhook(ctx, world, order);
}

/** Shopee: an arranged parcel gets its tracking number (push code 4) before it ships. */
function trackingNumber(ctx: Context, world: ShopWorld, index: number): Delivery {
  const { rules, shop } = world;
  const trackingNo = `SPXSG${ctx.generate.digits(12)}`;
  const current = world.open[index]!;
  const order = {
    ...current,
    tracking_no: trackingNo,
    update_time: nextUpdateTime(current.update_time, ctx.seconds()),
  };
  world.open[index] = order;
  ctx.marketplace.putOrders(shop.platform, shop.shopId, [order]);
  const body = shopeeWebhook(4, shop.shopId, shopeeData.tracking(order, trackingNo), ctx.seconds());
  return delivery(world, 'order', rules.orderId(order), 'tracking number')(4, body);
}

function advanceOrder(ctx: Context, world: ShopWorld): Delivery {
  const { rules, shop } = world;
  const index = Math.floor(ctx.random() * world.open.length);
  const current = world.open[index]!;
  const status = rules.orderStatus(current);
  if (shop.platform === 'shopee' && status === 'PROCESSED' && !current.tracking_no)
    return trackingNumber(ctx, world, index);
  const cancel = rules.cancellableFrom.has(status) && ctx.random() < CANCEL_CHANCE;
  const next = cancel ? CANCELLED : rules.orderFlow[rules.orderFlow.indexOf(status) + 1]!;
  const order = rules.withOrderStatus(current, next, ctx.seconds(), ctx.generate);
  ctx.marketplace.putOrders(shop.platform, shop.shopId, [order]);
  carrierScan(ctx, world, order, next);
  if (next === CANCELLED || next === rules.orderFlow.at(-1)) world.open.splice(index, 1);
  else world.open[index] = order;
  if (rules.returnableFrom.has(next)) world.returnable = [...world.returnable, order].slice(-RECENT);
  return orderStatusWebhook(ctx, world, order);
}

/** The carrier's scan when an order ships or arrives (TikTok says nothing of a status per scan). */
const CARRIER_SCANS: Record<FakePlatform, Record<string, { description: string; status?: string }>> = {
  tiktok: { IN_TRANSIT: { description: 'In transit' }, DELIVERED: { description: 'Delivered' } },
  shopee: {
    SHIPPED: { description: 'Parcel picked up by the carrier', status: 'PICKED_UP' },
    TO_CONFIRM_RECEIVE: { description: 'Parcel delivered', status: 'DELIVERED' },
  },
};

function carrierScan(ctx: Context, world: ShopWorld, order: Json, status: string): void {
  const scan = CARRIER_SCANS[world.shop.platform][status];
  if (!scan || !ctx.marketplace.addTrackingEvents) return;
  const [firstPackage] = Array.isArray(order.package_list) ? (order.package_list as Json[]) : [];
  const packageNumber = typeof firstPackage?.package_number === 'string' ? firstPackage.package_number : '';
  ctx.marketplace.addTrackingEvents(
    world.shop.platform,
    world.shop.shopId,
    world.rules.orderId(order),
    [{ time: ctx.seconds(), ...scan }],
    {
      packageNumber,
      ...(scan.status === 'DELIVERED' ? { logisticsStatus: 'LOGISTICS_DELIVERY_DONE' } : {}),
    },
  );
}

function returnWebhook(ctx: Context, world: ShopWorld, ret: Json): Delivery {
  const { rules, shop } = world;
  const send = delivery(world, 'return', rules.returnId(ret), rules.returnStatus(ret));
  if (shop.platform === 'shopee')
    return send(29, shopeeWebhook(29, shop.shopId, shopeeData.return(ret), ctx.seconds()));
  const body = tiktokWebhook(12, shop.shopId, tiktokData.return(ret), ctx.seconds(), ctx.generate.digits(19));
  return send(12, body);
}

function newReturn(ctx: Context, world: ShopWorld): Delivery {
  const order = world.returnable.splice(Math.floor(ctx.random() * world.returnable.length), 1)[0]!;
  const ret = world.rules.newReturn(ctx.generate, order, ctx.seconds());
  ctx.marketplace.putReturns(world.shop.platform, world.shop.shopId, [ret]);
  world.returns.push(ret);
  return returnWebhook(ctx, world, ret);
}

function advanceReturn(ctx: Context, world: ShopWorld): Delivery {
  const { rules, shop } = world;
  const index = Math.floor(ctx.random() * world.returns.length);
  const current = world.returns[index]!;
  const next = rules.returnFlow[rules.returnFlow.indexOf(rules.returnStatus(current)) + 1]!;
  const ret = rules.withReturnStatus(current, next, ctx.seconds());
  ctx.marketplace.putReturns(shop.platform, shop.shopId, [ret]);
  if (next === rules.returnFlow.at(-1)) world.returns.splice(index, 1);
  else world.returns[index] = ret;
  return returnWebhook(ctx, world, ret);
}

/** TikTok only: Shopee sends no push for items (reconcile finds their changes). */
function changeProduct(ctx: Context, world: ShopWorld): Delivery {
  const { rules, shop } = world;
  const index = Math.floor(ctx.random() * world.products.length);
  const product = rules.withProductChange!(world.products[index]!, ctx.seconds(), ctx.random);
  world.products[index] = product;
  ctx.marketplace.putProducts(shop.platform, shop.shopId, [product]);
  const body = tiktokWebhook(
    5,
    shop.shopId,
    tiktokData.product(product),
    ctx.seconds(),
    ctx.generate.digits(19),
  );
  return delivery(world, 'product', rules.productId(product), String(product.status))(5, body);
}

const STEPS: Record<Action, (ctx: Context, world: ShopWorld) => Delivery> = {
  newOrder,
  advanceOrder,
  newReturn,
  advanceReturn,
  product: changeProduct,
};

/** A shop's history at the marketplace: a few products and one order at every open status. */
function seedShop(
  shop: ScenarioShop,
  marketplace: ScenarioMarketplace,
  generate: Generator,
  at: number,
): ShopWorld {
  const rules = ENTITY_RULES[shop.platform];
  const world: ShopWorld = { shop, rules, open: [], returnable: [], returns: [], products: [] };
  world.products = Array.from({ length: 4 }, () => rules.newProduct(generate, at - 3_600));
  marketplace.putProducts(shop.platform, shop.shopId, world.products);
  const { orderFlow } = rules;
  for (const [step, status] of orderFlow.slice(0, -1).entries()) {
    let order = rules.newOrder(generate, at - 1_800);
    for (const next of orderFlow.slice(1, step + 1))
      order = rules.withOrderStatus(order, next, at - 900, generate);
    if (shop.platform === 'shopee' && orderFlow.indexOf(status) > orderFlow.indexOf('PROCESSED'))
      order = { ...order, tracking_no: `SPXSG${generate.digits(12)}` };
    world.open.push(order);
    if (rules.returnableFrom.has(status)) world.returnable.push(order);
  }
  marketplace.putOrders(shop.platform, shop.shopId, world.open);
  return world;
}
