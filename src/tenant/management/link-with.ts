import { createLocalJWKSet, decodeProtectedHeader, decodeJwt, jwtVerify } from 'jose';
import { AccordError } from '../../platform/errors.ts';
import { publicJwk, type SigningJwk } from '../oidc/keys.ts';
import type { ManagementAuth } from './token-guard.ts';

/**
 * Verifies the secondary's id_token given as `link_with`, as Auth0 does: RS256 only, the
 * caller's issuer, audience equal to the calling token's client, a valid signature and an
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
      throw new AccordError('link_with_invalid');
    }
    if (alg !== 'RS256') throw new AccordError('link_with_alg');
    if (claims.iss !== caller.issuer) throw new AccordError('link_with_iss');
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!caller.clientId || !aud.includes(caller.clientId)) throw new AccordError('link_with_aud');
    try {
      const { payload } = await jwtVerify(idToken, jwks, { algorithms: ['RS256'], issuer: caller.issuer, audience: caller.clientId, requiredClaims: ['sub', 'exp'] });
      return payload.sub!;
    } catch {
      throw new AccordError('link_with_invalid');
    }
  };
}
