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

export type ScenarioMarketplace = Pick<FakeMarketplace, 'putOrders' | 'putReturns' | 'putProducts'>;

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

export function createScenario(options: ScenarioOptions): Scenario {
  const { marketplace } = options;
  const now = options.now ?? Date.now;
  const seconds = () => Math.floor(now() / 1000);
  const random = seededRandom(options.seed);
  const generate = createGenerator({ seed: options.seed, baseTime: seconds() });
  const duplicateEvery = options.duplicateEvery ?? 10;
  const maxOpen = options.maxOpenOrders ?? 25;
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const recent: Delivery[] = [];
  let count = 0;

  const worlds = options.shops.map((shop) => seedShop(shop, marketplace, generate, seconds()));

  function deliver(world: ShopWorld, kind: Delivery['kind'], entityId: string, change: string) {
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

  function newOrder(world: ShopWorld): Delivery {
    const { rules, shop } = world;
    const order = rules.newOrder(generate, seconds());
    marketplace.putOrders(shop.platform, shop.shopId, [order]);
    world.open.push(order);
    return orderStatusWebhook(world, order);
  }

  function orderStatusWebhook(world: ShopWorld, order: Json): Delivery {
    const { rules, shop } = world;
    const status = rules.orderStatus(order);
    const send = deliver(world, 'order', rules.orderId(order), status);
    if (shop.platform === 'shopee')
      return send(3, shopeeWebhook(3, shop.shopId, shopeeData.order(order), seconds()));
    const type = status === CANCELLED ? 11 : 1;
    const data = type === 11 ? tiktokData.cancellation(order) : tiktokData.order(order);
    return send(type, tiktokWebhook(type, shop.shopId, data, seconds(), generate.digits(19)));
  }

  /** Shopee: an arranged parcel gets its tracking number (push code 4) before it ships. */
  function trackingNumber(world: ShopWorld, index: number): Delivery {
    const { rules, shop } = world;
    const trackingNo = `SPXSG${generate.digits(12)}`;
    const current = world.open[index]!;
    const order = {
      ...current,
      tracking_no: trackingNo,
      update_time: nextUpdateTime(current.update_time, seconds()),
    };
    world.open[index] = order;
    marketplace.putOrders(shop.platform, shop.shopId, [order]);
    const body = shopeeWebhook(4, shop.shopId, shopeeData.tracking(order, trackingNo), seconds());
    return deliver(world, 'order', rules.orderId(order), 'tracking number')(4, body);
  }

  function advanceOrder(world: ShopWorld): Delivery {
    const { rules, shop } = world;
    const index = Math.floor(random() * world.open.length);
    const current = world.open[index]!;
    const status = rules.orderStatus(current);
    if (shop.platform === 'shopee' && status === 'PROCESSED' && !current.tracking_no)
      return trackingNumber(world, index);
    const cancel = rules.cancellableFrom.has(status) && random() < CANCEL_CHANCE;
    const next = cancel ? CANCELLED : rules.orderFlow[rules.orderFlow.indexOf(status) + 1]!;
    const order = rules.withOrderStatus(current, next, seconds(), generate);
    marketplace.putOrders(shop.platform, shop.shopId, [order]);
    if (next === CANCELLED || next === rules.orderFlow.at(-1)) world.open.splice(index, 1);
    else world.open[index] = order;
    if (rules.returnableFrom.has(next)) world.returnable = [...world.returnable, order].slice(-RECENT);
    return orderStatusWebhook(world, order);
  }

  function returnWebhook(world: ShopWorld, ret: Json): Delivery {
    const { rules, shop } = world;
    const send = deliver(world, 'return', rules.returnId(ret), rules.returnStatus(ret));
    if (shop.platform === 'shopee')
      return send(29, shopeeWebhook(29, shop.shopId, shopeeData.return(ret), seconds()));
    return send(12, tiktokWebhook(12, shop.shopId, tiktokData.return(ret), seconds(), generate.digits(19)));
  }

  function newReturn(world: ShopWorld): Delivery {
    const order = world.returnable.splice(Math.floor(random() * world.returnable.length), 1)[0]!;
    const ret = world.rules.newReturn(generate, order, seconds());
    marketplace.putReturns(world.shop.platform, world.shop.shopId, [ret]);
    world.returns.push(ret);
    return returnWebhook(world, ret);
  }

  function advanceReturn(world: ShopWorld): Delivery {
    const { rules, shop } = world;
    const index = Math.floor(random() * world.returns.length);
    const current = world.returns[index]!;
    const next = rules.returnFlow[rules.returnFlow.indexOf(rules.returnStatus(current)) + 1]!;
    const ret = rules.withReturnStatus(current, next, seconds());
    marketplace.putReturns(shop.platform, shop.shopId, [ret]);
    if (next === rules.returnFlow.at(-1)) world.returns.splice(index, 1);
    else world.returns[index] = ret;
    return returnWebhook(world, ret);
  }

  /** TikTok only: Shopee sends no push for items (reconcile finds their changes). */
  function changeProduct(world: ShopWorld): Delivery {
    const { rules, shop } = world;
    const index = Math.floor(random() * world.products.length);
    const product = rules.withProductChange!(world.products[index]!, seconds(), random);
    world.products[index] = product;
    marketplace.putProducts(shop.platform, shop.shopId, [product]);
    const body = tiktokWebhook(5, shop.shopId, tiktokData.product(product), seconds(), generate.digits(19));
    return deliver(world, 'product', rules.productId(product), String(product.status))(5, body);
  }

  const ACTIONS: Record<Action, (world: ShopWorld) => Delivery> = {
    newOrder,
    advanceOrder,
    newReturn,
    advanceReturn,
    product: changeProduct,
  };

  function chooseAction(world: ShopWorld): Action {
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

  return {
    next() {
      count += 1;
      if (count % duplicateEvery === 0 && recent.length > 0) return { ...pick(recent), duplicate: true };
      const world = worlds[count % worlds.length]!;
      const delivery = ACTIONS[chooseAction(world)](world);
      recent.push(delivery);
      if (recent.length > RECENT) recent.shift();
      return delivery;
    },
  };
}

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
