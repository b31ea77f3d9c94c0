import { describe, expect, it } from 'vitest';

import { shopEventAction } from '../../src/consumer/shop-events.js';

describe('shopEventAction', () => {
  it('TikTok 6 and Shopee 2 deauthorize the shop', () => {
    expect(shopEventAction('tiktok', '6')).toBe('deauthorize');
    expect(shopEventAction('shopee', '2')).toBe('deauthorize');
  });

  it('TikTok 7 is an "authorization ends soon" notice, never a deauthorization', () => {
    expect(shopEventAction('tiktok', '7')).toBe('authorization-ending');
  });

  it('the event type is read per platform: a Shopee 7 is not a TikTok notice', () => {
    expect(shopEventAction('shopee', '7')).toBe('deauthorize');
  });
});
