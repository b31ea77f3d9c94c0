import { describe, expect, it } from 'vitest';

import { AppError, ERROR_CODES, isAppError, toAppError } from '../../src/shared/errors.js';

describe('AppError', () => {
  it('carries a stable code and the retry meaning of that code', () => {
    expect(new AppError('ERR_MARKETPLACE_TRANSIENT', 'x').retryable).toBe(true);
    expect(new AppError('ERR_MARKETPLACE_AUTH', 'x').retryable).toBe(false);
    expect(new AppError('ERR_PAYLOAD', 'x', { retryable: true }).retryable).toBe(true);
  });

  it('keeps the cause and serialises without it', () => {
    const cause = new Error('socket hang up');
    const error = new AppError('ERR_UNAVAILABLE', 'redis down', { cause });
    expect(error.cause).toBe(cause);
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      code: 'ERR_UNAVAILABLE',
      message: 'redis down',
      retryable: true,
    });
  });

  it('wraps unknown errors as retryable ERR_INTERNAL and leaves AppErrors alone', () => {
    const original = new AppError('ERR_SHOP_UNKNOWN', 'no such shop');
    expect(toAppError(original)).toBe(original);
    const wrapped = toAppError(new TypeError('boom'));
    expect(wrapped.code).toBe('ERR_INTERNAL');
    expect(wrapped.retryable).toBe(true);
    expect(isAppError(wrapped, 'ERR_INTERNAL')).toBe(true);
    expect(isAppError(wrapped, 'ERR_PAYLOAD')).toBe(false);
  });

  it('defines only ERR_-prefixed codes', () => {
    for (const code of Object.keys(ERROR_CODES)) expect(code).toMatch(/^ERR_[A-Z_]+$/);
  });
});
