import { createHmac, timingSafeEqual } from 'node:crypto';

/** What oidc-provider's cookies (the `cookies` package) ask of their keys: Keygrip's interface. */
export interface CookieSigner {
  sign(data: string): string;
  verify(data: string, digest: string): boolean;
  index(data: string, digest: string): number;
}

/**
 * Keygrip's signatures (HMAC-SHA1, URL-safe base64 without padding: cookies signed before
 * stay valid), compared with `timingSafeEqual`. Keygrip compares through tsscmp, which draws
 * 32 random bytes and computes two more HMACs for every signed cookie it reads, several times
 * a sign-in (docs/performance.md). The signatures are fixed-length, so equal lengths are
 * checked first, as timingSafeEqual requires; a length says nothing about the key.
 */
export function cookieSigner(keys: readonly string[]): CookieSigner {
  if (keys.length === 0) throw new Error('cookie keys are required');
  const sign = (data: string, key: string) => createHmac('sha1', key).update(data).digest('base64url');
  const index = (data: string, digest: string) => {
    if (typeof digest !== 'string') return -1;
    const given = Buffer.from(digest);
    for (let i = 0; i < keys.length; i++) {
      const expected = Buffer.from(sign(data, keys[i]!));
      if (expected.length === given.length && timingSafeEqual(expected, given)) return i;
    }
    return -1;
  };
  return {
    sign: (data) => sign(data, keys[0]!),
    verify: (data, digest) => index(data, digest) > -1,
    index,
  };
}
