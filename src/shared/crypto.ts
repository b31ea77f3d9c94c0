/**
 * Encryption of shop tokens at rest (TOKEN_ENCRYPTION_KEY): AES-256-GCM with a random 12-byte IV
 * per value, written as a self-describing string
 *
 *     enc:v1:<iv base64>:<auth tag base64>:<ciphertext base64>
 *
 * A stored value without the `enc:` prefix was written before a key was configured and is
 * returned as is, so setting a key later needs no migration (values are encrypted as they are
 * next written). Error messages never contain the token, in either form.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

import { AppError } from './errors.js';

const ALGORITHM = 'aes-256-gcm';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Any value starting with this is treated as encrypted (and must decrypt). */
const ENCRYPTED_PREFIX = 'enc:';
const V1_PREFIX = 'enc:v1:';
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** True when `value` is in the encrypted format (whatever its version). */
export function isEncryptedToken(value: string): boolean {
  return value.startsWith(ENCRYPTED_PREFIX);
}

/** Encrypts `plain` with a fresh random IV; the result decrypts only with the same key. */
export function encryptToken(plain: string, key: Buffer): string {
  checkKey(key);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return `${V1_PREFIX}${iv.toString('base64')}:${tag.toString('base64')}:${ciphertext.toString('base64')}`;
}

/**
 * Returns the plaintext of a stored value. Values without the `enc:` prefix are returned as is.
 * Throws AppError ERR_CONFIG when an encrypted value meets no key, the wrong key, or is damaged.
 */
export function decryptToken(value: string, key: Buffer | undefined): string {
  if (!isEncryptedToken(value)) return value;
  if (!value.startsWith(V1_PREFIX)) {
    throw new AppError('ERR_CONFIG', 'a stored token is encrypted in an unknown format (expected enc:v1)');
  }
  if (key === undefined) {
    throw new AppError(
      'ERR_CONFIG',
      'a stored token is encrypted but TOKEN_ENCRYPTION_KEY is not set; set it to the key the tokens were stored with',
    );
  }
  checkKey(key);
  const parts = value.slice(V1_PREFIX.length).split(':');
  const [iv, tag, ciphertext] = parts.map((part) =>
    BASE64.test(part) ? Buffer.from(part, 'base64') : undefined,
  );
  if (
    parts.length !== 3 ||
    !iv ||
    !tag ||
    !ciphertext ||
    iv.length !== IV_BYTES ||
    tag.length !== TAG_BYTES
  ) {
    throw new AppError('ERR_CONFIG', 'a stored token is damaged: not a valid enc:v1 value');
  }
  try {
    const decipher = createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch (error) {
    throw new AppError(
      'ERR_CONFIG',
      'a stored token cannot be decrypted: TOKEN_ENCRYPTION_KEY is not the key it was stored with, or the value was altered',
      { cause: error },
    );
  }
}

function checkKey(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
    throw new AppError('ERR_CONFIG', `TOKEN_ENCRYPTION_KEY must be ${KEY_BYTES} bytes`);
  }
}
