/**
 * What a shop-level stream entry (kind `shop`) asks of the worker, by platform and event type.
 * The adapters emit three: TikTok 6 and Shopee 2 (the seller revoked the app) and TikTok 7 (the
 * authorization ends soon: a notice, the shop keeps syncing until then).
 */
import type { Platform } from '../shared/stream.js';

export type ShopEventAction = 'deauthorize' | 'authorization-ending';

/** TikTok 7 is a notice; every other shop event is a deauthorization, as before issue 13. */
export function shopEventAction(platform: Platform, eventType: string): ShopEventAction {
  return platform === 'tiktok' && eventType === '7' ? 'authorization-ending' : 'deauthorize';
}
