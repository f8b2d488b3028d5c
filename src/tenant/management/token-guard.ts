import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { NextFunction, Request, Response } from 'express';
import { tenantError } from '../tenant-errors.ts';
import { USER_SCOPES } from '../clients/client-registry.ts';
import type { Actor } from '../directory/audit.ts';
import { publicJwk, type SigningJwk } from '../oidc/keys.ts';

export interface ManagementAuth {
  sub: string;
  /** The client the token was issued to (Auth0's `azp`). */
  clientId: string;
  scopes: Set<string>;
  issuer: string;
  actor: Actor;
  claims: JWTPayload;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      management?: ManagementAuth;
    }
  }
}

/**
 * Verifies the bearer token of every Management API call: RS256, signed by this tenant,
 * issued for the Management API audience, not expired. Anything else is a 401.
 */
export function managementTokenGuard(options: { issuer: string; audience: string; keys: SigningJwk[] }) {
  const jwks = createLocalJWKSet({ keys: options.keys.map(publicJwk) });
  // Tokens that passed jwtVerify, by their exact string, until their `exp`. A client sends the
  // same token on every call for hours, and the RS256 signature check is a real share of a
  // users-by-email request's CPU (docs/performance.md). The same string always verifies the same way against these fixed
  // keys; only time changes the verdict, so `exp` is checked again on every hit (`nbf` was
  // already in the past when it was verified). Bounded: the oldest entry goes first.
  const verified = new Map<string, JWTPayload & { exp: number }>();
  const MAX_VERIFIED = 1_000;
  const guard = async (req: Request, _res: Response, next: NextFunction) => {
    const header = req.headers.authorization;
    const match = header ? /^Bearer ([A-Za-z0-9_.~+/-]+=*)$/.exec(header) : null;
    if (!match) throw tenantError('invalid_token', 'Missing or malformed Authorization header; send "Bearer <access token>".');
    const token = match[1]!;
    let claims = verified.get(token);
    if (claims && claims.exp <= Math.floor(Date.now() / 1000)) {
      // jose's rule: expired at exp, no leeway
      verified.delete(token);
      claims = undefined;
    }
    if (!claims) {
      try {
        ({ payload: claims } = await jwtVerify<{ exp: number }>(token, jwks, {
          issuer: [options.issuer, `${options.issuer}/`],
          audience: options.audience,
          algorithms: ['RS256'],
          requiredClaims: ['sub', 'exp'],
        }));
      } catch {
        throw tenantError('invalid_token');
      }
      if (verified.size >= MAX_VERIFIED) verified.delete(verified.keys().next().value!);
      verified.set(token, Object.freeze(claims)); // shared by every request that presents this token
    }
    const clientId = String(claims.azp ?? claims.client_id ?? '');
    const isClientToken = claims.gty === 'client-credentials';
    const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
    req.management = {
      sub: claims.sub!,
      clientId,
      // A person's token is never worth more than the person's own scopes, whatever it says:
      // machine scopes count only on a client-credentials token (the tenant issues no other).
      scopes: new Set(isClientToken ? scopes : scopes.filter((scope) => (USER_SCOPES as readonly string[]).includes(scope))),
      issuer: claims.iss!,
      actor: isClientToken ? { id: `client:${clientId}`, clientId } : { id: `user:${claims.sub}`, clientId },
      claims,
    };
    next();
  };
  /** Whether this request carries a token already verified and not yet expired (no crypto, no throw). */
  const recognizes = (req: Request): boolean => {
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const claims = token ? verified.get(token) : undefined;
    return claims !== undefined && claims.exp > Math.floor(Date.now() / 1000);
  };
  return Object.assign(guard, { recognizes });
}

/**
 * Scope check for one route: any of `scopes`, or any of `selfScopes` when the user in the
 * path is the token's own subject.
 */
export function requireScopes(auth: ManagementAuth, scopes: readonly string[], selfScopes: readonly string[], pathUserId?: string): void {
  if (scopes.some((s) => auth.scopes.has(s))) return;
  const self = selfScopes.filter((s) => auth.scopes.has(s));
  if (self.length > 0 && pathUserId !== undefined) {
    if (pathUserId === auth.sub) return;
    throw tenantError('subject_mismatch');
  }
  throw tenantError('insufficient_scope', `Insufficient scope, expected any of: ${[...scopes, ...selfScopes].join(',')}`);
}
