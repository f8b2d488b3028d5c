import type { LoginRateLimits, TenantConfig } from '../../tenant-config.ts';
import { PASSWORD_RULES } from '../../directory/passwords.ts';

/** What the database connection's sign-in pages and its mailed-link pages share. */

export const DEFAULT_LOGIN_RATE_LIMITS: LoginRateLimits = {
  windowMs: 15 * 60_000,
  loginPerIpAndEmail: 10,
  loginPerIp: 100,
  signupPerIp: 20,
  forgotPerIp: 10,
};

export const VERIFY_EMAIL_TTL_SECONDS = 24 * 3600;
export const RESET_PASSWORD_TTL_SECONDS = 3600;
export const PASSWORD_RULE_TEXT = `Use ${PASSWORD_RULES.minLength} or more characters with at least three of: lower case letters, upper case letters, digits, symbols.`;

export function limitsOf(config: TenantConfig): LoginRateLimits {
  return { ...DEFAULT_LOGIN_RATE_LIMITS, ...config.loginRateLimits };
}

/** A form field as a string; a repeated or missing field is not one (`email[]=a&email[]=b`). */
export function field(body: unknown, name: string): string | undefined {
  const value = (body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : undefined;
}

/** `https://app.example/` of an http(s) URL; undefined for anything else. */
export function originOf(redirectUri: unknown): string | undefined {
  if (typeof redirectUri !== 'string') return undefined;
  try {
    const url = new URL(redirectUri);
    return url.protocol === 'https:' || url.protocol === 'http:' ? `${url.origin}/` : undefined;
  } catch {
    return undefined;
  }
}
