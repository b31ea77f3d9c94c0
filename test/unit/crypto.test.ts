import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { decryptToken, encryptToken, isEncryptedToken } from '../../src/shared/crypto.js';
import { AppError } from '../../src/shared/errors.js';

const key = randomBytes(32);
const token = 'ROW_access-token.with:colons/and+plus=';

function configError(run: () => unknown): AppError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('ERR_CONFIG');
    expect((error as AppError).retryable).toBe(false);
    return error as AppError;
  }
  throw new Error('expected an ERR_CONFIG AppError');
}

describe('token encryption', () => {
  it('round-trips a token and produces the self-describing enc:v1 format', () => {
    const sealed = encryptToken(token, key);
    expect(sealed).toMatch(/^enc:v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(sealed).not.toContain(token);
    expect(isEncryptedToken(sealed)).toBe(true);
    expect(decryptToken(sealed, key)).toBe(token);
  });

  it('uses a fresh 12-byte IV for every encryption', () => {
    const a = encryptToken(token, key);
    const b = encryptToken(token, key);
    expect(a).not.toBe(b);
    const iv = Buffer.from(a.split(':')[2]!, 'base64');
    expect(iv).toHaveLength(12);
  });

  it('round-trips empty and non-ASCII tokens', () => {
    for (const value of ['', 'tôken-ñ-✓', 'x'.repeat(4096)]) {
      expect(decryptToken(encryptToken(value, key), key)).toBe(value);
    }
  });

  it('returns values without the prefix as is (stored before a key was set)', () => {
    expect(decryptToken('plain-token', key)).toBe('plain-token');
    expect(decryptToken('plain-token', undefined)).toBe('plain-token');
    expect(isEncryptedToken('plain-token')).toBe(false);
  });

  it('an encrypted value without a key is ERR_CONFIG naming TOKEN_ENCRYPTION_KEY', () => {
    const error = configError(() => decryptToken(encryptToken(token, key), undefined));
    expect(error.message).toContain('TOKEN_ENCRYPTION_KEY is not set');
    expect(error.message).not.toContain(token);
  });

  it('the wrong key is ERR_CONFIG and the message holds neither form of the token', () => {
    const sealed = encryptToken(token, key);
    const error = configError(() => decryptToken(sealed, randomBytes(32)));
    expect(error.message).toContain('not the key');
    expect(error.message).not.toContain(token);
    expect(error.message).not.toContain(sealed.split(':')[4]!);
  });

  it('a tampered ciphertext or tag is rejected, not returned garbled', () => {
    const [prefix, version, iv, tag, ciphertext] = encryptToken(token, key).split(':') as [
      string,
      string,
      string,
      string,
      string,
    ];
    const flipped = Buffer.from(ciphertext, 'base64');
    flipped[0]! ^= 1;
    configError(() => decryptToken([prefix, version, iv, tag, flipped.toString('base64')].join(':'), key));
    const badTag = Buffer.from(tag, 'base64');
    badTag[0]! ^= 1;
    configError(() =>
      decryptToken([prefix, version, iv, badTag.toString('base64'), ciphertext].join(':'), key),
    );
  });

  it('malformed or unknown-version values are ERR_CONFIG', () => {
    expect(configError(() => decryptToken('enc:v1:nope', key)).message).toContain('damaged');
    expect(configError(() => decryptToken('enc:v1:!!:??:**', key)).message).toContain('damaged');
    expect(configError(() => decryptToken('enc:v9:a:b:c', key)).message).toContain('unknown format');
  });

  it('a key that is not 32 bytes is ERR_CONFIG', () => {
    configError(() => encryptToken(token, randomBytes(16)));
    configError(() => decryptToken(encryptToken(token, key), randomBytes(31)));
  });
});
