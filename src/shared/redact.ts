/**
 * The one redaction point. Every log line (src/shared/logger.ts) and every line a command prints
 * (src/cli/dispatch.ts) passes through a Redactor, so a secret never reaches an output, however
 * it got into the text: an error message, the arguments ioredis puts on its errors, a URL.
 *
 * A Redactor replaces
 * - the configured secrets by value (TikTok app secret, Shopee partner and push keys,
 *   TOKEN_ENCRYPTION_KEY in each of its encodings, the passwords in REDIS_URL and MONGO_URL), also
 *   as they look inside a JSON string or a URL;
 * - and, whatever the configuration, what has the shape of a credential: the password of any URL
 *   (`redis://user:password@host`), the arguments of a Redis `AUTH` (`HELLO 3 AUTH user password`
 *   as ioredis logs a failed handshake), `access_token=` / `refresh_token=` query values.
 */
import { VARIABLES, type Config, type VariableSpec } from './config.js';

export type Redactor = (text: string) => string;

export const REDACTED = '[redacted]';

/** Shorter values are not matched by value (they would mask ordinary text); the shape rules still apply. */
const MIN_SECRET_LENGTH = 4;

/** `scheme://user:password@` → `scheme://user:***@`; greedy up to the last `@` before the path. */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/@:"'<>]*):([^\s/"'<>]+)@/gi;
/** Array elements `"AUTH", "user", "password"` (or only the password), as in ioredis' `command.args`. */
const AUTH_ARGS = /(?<=[[,]\s*)("AUTH"\s*,\s*)"(?:[^"\\]|\\.)*"(\s*,\s*"(?:[^"\\]|\\.)*")?/gi;
/** `{"name":"auth","args":[…]}`: the AUTH command itself, whose arguments are all credentials. */
const AUTH_COMMAND = /("name"\s*:\s*"auth"\s*,\s*"args"\s*:\s*\[)[^\]]*\]/gi;
const TOKEN_QUERY = /([?&](?:access_token|refresh_token)=)[^&\s"'#<>]+/gi;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The ways a secret can appear in our outputs: as is, URL-decoded or -encoded, inside a JSON string. */
function appearances(secret: string): string[] {
  const plain = new Set([secret]);
  try {
    plain.add(decodeURIComponent(secret));
  } catch {
    // Not percent-encoded: the value itself is all there is.
  }
  const forms = new Set<string>();
  for (const value of plain) {
    forms.add(value);
    forms.add(encodeURIComponent(value));
    forms.add(JSON.stringify(value).slice(1, -1));
  }
  return [...forms].filter((form) => form.length >= MIN_SECRET_LENGTH);
}

/**
 * A Redactor for these secret values (undefined and empty ones are skipped); with none, only
 * the shape rules apply.
 */
export function createRedactor(secrets: Iterable<string | undefined> = []): Redactor {
  const forms = new Set<string>();
  for (const secret of secrets) if (secret) for (const form of appearances(secret)) forms.add(form);
  // Longest first, so a secret containing another is replaced whole.
  const sorted = [...forms].sort((a, b) => b.length - a.length);
  const values = sorted.length > 0 ? new RegExp(sorted.map(escapeRegExp).join('|'), 'g') : undefined;
  return (text) => {
    let result = text
      .replace(URL_PASSWORD, '$1:***@')
      .replace(AUTH_COMMAND, `$1"${REDACTED}"]`)
      .replace(AUTH_ARGS, (_match, head: string, second: string | undefined) =>
        second === undefined ? `${head}"${REDACTED}"` : `${head}"${REDACTED}","${REDACTED}"`,
      )
      .replace(TOKEN_QUERY, `$1${REDACTED}`);
    if (values) result = result.replace(values, REDACTED);
    return result;
  };
}

/** The password in a URL's userinfo, as written (percent-encoded); undefined when there is none. */
export function urlPassword(url: string | undefined): string | undefined {
  if (!url) return undefined;
  const match = /^[a-z][a-z0-9+.-]*:\/\/[^\s/@:]*:([^\s/]+)@/i.exec(url.trim());
  return match?.[1];
}

/** A 32-byte key in each encoding it may be written or shown in. */
function keyEncodings(key: Buffer): string[] {
  const hex = key.toString('hex');
  return [hex, hex.toUpperCase(), key.toString('base64'), key.toString('base64url')];
}

/** The secret values of a loaded Config. */
export function configSecrets(
  config: Pick<Config, 'redisUrl' | 'mongoUrl' | 'tiktok' | 'shopee' | 'tokenEncryptionKey'>,
): string[] {
  const secrets = [
    config.tiktok?.appSecret,
    config.shopee?.partnerKey,
    config.shopee?.pushPartnerKey,
    urlPassword(config.redisUrl),
    urlPassword(config.mongoUrl),
    ...(config.tokenEncryptionKey ? keyEncodings(config.tokenEncryptionKey) : []),
  ];
  return secrets.filter((secret): secret is string => Boolean(secret));
}

/** The redactor of everything a process with this Config logs. */
export function configRedactor(
  config: Pick<Config, 'redisUrl' | 'mongoUrl' | 'tiktok' | 'shopee' | 'tokenEncryptionKey'>,
): Redactor {
  return createRedactor(configSecrets(config));
}

/**
 * The secret values of a raw environment, valid or not (the CLI redacts its output before the
 * configuration is loaded, and when it fails to load): the variables marked `secret` as given,
 * a key also in its other encodings, and the passwords of the URL variables.
 */
export function environmentSecrets(env: Record<string, string | undefined>): string[] {
  const secrets: string[] = [];
  for (const spec of VARIABLES as readonly VariableSpec[]) {
    const value = env[spec.name]?.trim();
    if (!value) continue;
    if (spec.secret) secrets.push(value, ...alternateKeyEncodings(value));
    if (spec.url) {
      const password = urlPassword(value);
      if (password) secrets.push(password);
    }
  }
  return secrets;
}

/** A value that reads as a 32-byte key (hex or base64) in its other encodings; [] otherwise. */
function alternateKeyEncodings(value: string): string[] {
  if (/^[0-9a-fA-F]{64}$/.test(value)) return keyEncodings(Buffer.from(value, 'hex'));
  const key = Buffer.from(value, 'base64');
  return key.length === 32 && key.toString('base64') === value ? keyEncodings(key) : [];
}
