import { createHmac, timingSafeEqual } from 'node:crypto';
import { tenantError } from '../tenant-errors.ts';

/**
 * CSRF tokens for the sign-in forms: an HMAC of the interaction uid under the tenant's
 * cookie key. The interaction itself is bound to the browser by oidc-provider's cookie, so a
 * token for one sign-in attempt is useless in another, and nothing needs storing.
 */
export class CsrfTokens {
  constructor(private readonly key: string) {}

  issue(uid: string): string {
    return createHmac('sha256', this.key).update(`csrf:${uid}`).digest('base64url');
  }

  verify(uid: string, presented: unknown): void {
    const expected = Buffer.from(this.issue(uid));
    const actual = Buffer.from(typeof presented === 'string' ? presented : '');
    if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
      throw tenantError('csrf_invalid');
    }
  }
}
