import { createLocalJWKSet, decodeProtectedHeader, decodeJwt, jwtVerify } from 'jose';
import { tenantError } from '../tenant-errors.ts';
import { publicJwk, type SigningJwk } from '../oidc/keys.ts';
import type { ManagementAuth } from './token-guard.ts';

/**
 * Verifies the secondary's id_token given as `link_with`, as Auth0 does: RS256 only, the
 * caller's issuer (with or without its trailing slash), audience equal to the calling token's client, a valid signature and an
 * unexpired token. Returns the secondary's user_id (the token's `sub`).
 */
export function linkWithVerifier(keys: SigningJwk[]) {
  const jwks = createLocalJWKSet({ keys: keys.map(publicJwk) });
  return async (idToken: string, caller: ManagementAuth): Promise<string> => {
    let alg: unknown;
    let claims: ReturnType<typeof decodeJwt>;
    try {
      alg = decodeProtectedHeader(idToken).alg;
      claims = decodeJwt(idToken);
    } catch {
      throw tenantError('link_with_invalid');
    }
    if (alg !== 'RS256') throw tenantError('link_with_alg');
    // The tenant's issuer in either form: tokens issued before it took Auth0's trailing slash
    // stay valid until they expire (the token guard accepts both forms the same way).
    const issuers = [caller.issuer.replace(/\/+$/, ''), `${caller.issuer.replace(/\/+$/, '')}/`];
    if (typeof claims.iss !== 'string' || !issuers.includes(claims.iss)) throw tenantError('link_with_iss');
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!caller.clientId || !aud.includes(caller.clientId)) throw tenantError('link_with_aud');
    try {
      const { payload } = await jwtVerify(idToken, jwks, { algorithms: ['RS256'], issuer: issuers, audience: caller.clientId, requiredClaims: ['sub', 'exp'] });
      return payload.sub!;
    } catch {
      throw tenantError('link_with_invalid');
    }
  };
}
