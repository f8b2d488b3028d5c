import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { NextFunction, Request, Response } from 'express';
import { tenantError } from '../tenant-errors.ts';
import { USER_SCOPES } from '../clients/client-registry.ts';
import type { Actor } from '../directory/audit.ts';
import { publicJwk, type SigningJwk } from '../oidc/keys.ts';

export interface ManagementAuth {
  readonly sub: string;
  /** The client the token was issued to (Auth0's `azp`). */
  readonly clientId: string;
  readonly scopes: ReadonlySet<string>;
  readonly issuer: string;
  readonly actor: Actor;
  readonly claims: JWTPayload;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      management?: ManagementAuth;
    }
  }
}

const PERSONAL_SCOPES: ReadonlySet<string> = new Set(USER_SCOPES);
/** How many of an Authorization header's last characters key its remembered verdict. */
const SLOT_KEY_LENGTH = 32;

/** What a verified token lets its bearer do: a function of its claims alone. */
function authOf(claims: JWTPayload): ManagementAuth {
  const clientId = String(claims.azp ?? claims.client_id ?? '');
  const isClientToken = claims.gty === 'client-credentials';
  const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
  return Object.freeze({
    sub: claims.sub!,
    clientId,
    // A person's token is never worth more than the person's own scopes, whatever it says:
    // machine scopes count only on a client-credentials token (the tenant issues no other).
    scopes: new Set(isClientToken ? scopes : scopes.filter((scope) => PERSONAL_SCOPES.has(scope))),
    issuer: claims.iss!,
    actor: Object.freeze(isClientToken ? { id: `client:${clientId}`, clientId } : { id: `user:${claims.sub}`, clientId }),
    claims: Object.freeze(claims),
  });
}

/**
 * Verifies the bearer token of every Management API call: RS256, signed by this tenant,
 * issued for the Management API audience, not expired. Anything else is a 401.
 */
export function managementTokenGuard(options: { issuer: string; audience: string; keys: SigningJwk[] }) {
  const jwks = createLocalJWKSet({ keys: options.keys.map(publicJwk) });
  // Tokens that passed jwtVerify, by their exact Authorization header, with what they allow,
  // until their `exp`. A client sends the same token on every call for hours, and the RS256
  // signature check is a real share of a users-by-email request's CPU (docs/performance.md).
  // The same string always verifies the same way against these fixed keys, and what it allows
  // depends on its claims alone; only time changes the verdict, so `exp` is checked again on
  // every hit (`nbf` was already in the past when it was verified). Bounded: the oldest entry
  // goes first.
  // Kept by the header's last characters (the signature's), and found only when the whole
  // header is the same string: a Map keyed by the whole header hashes its ~800 characters anew
  // for each request's fresh string. Two tokens that end alike share a slot: one replaces the
  // other, which is verified again when it comes back.
  const verified = new Map<string, { header: string; auth: ManagementAuth; exp: number }>();
  const MAX_VERIFIED = 1_000;
  const slotOf = (header: string) => header.slice(-SLOT_KEY_LENGTH);
  /** The auth of an Authorization header this process verified and whose token has not expired (no crypto, no throw). */
  const remembered = (header: string | undefined): ManagementAuth | undefined => {
    if (header === undefined) return undefined;
    const slot = slotOf(header);
    const entry = verified.get(slot);
    if (entry === undefined || entry.header !== header) return undefined;
    if (entry.exp <= Math.floor(Date.now() / 1000)) {
      // jose's rule: expired at exp, no leeway
      verified.delete(slot);
      return undefined;
    }
    return entry.auth;
  };
  const verify = async (header: string | undefined): Promise<ManagementAuth> => {
    const match = header ? /^Bearer ([A-Za-z0-9_.~+/-]+=*)$/.exec(header) : null;
    if (!match) throw tenantError('invalid_token', 'Missing or malformed Authorization header; send "Bearer <access token>".');
    let claims: JWTPayload & { exp: number };
    try {
      ({ payload: claims } = await jwtVerify<{ exp: number }>(match[1]!, jwks, {
        issuer: [options.issuer, `${options.issuer}/`],
        audience: options.audience,
        algorithms: ['RS256'],
        requiredClaims: ['sub', 'exp'],
      }));
    } catch {
      throw tenantError('invalid_token');
    }
    const auth = authOf(claims);
    const slot = slotOf(header!);
    if (verified.size >= MAX_VERIFIED) verified.delete(verified.keys().next().value!);
    verified.set(slot, { header: header!, auth, exp: claims.exp }); // shared, frozen, by every request that presents this token
    return auth;
  };
  // Synchronous for a remembered token: no promise on the hot path.
  const guard = (req: Request, _res: Response, next: NextFunction): void | Promise<void> => {
    const auth = remembered(req.headers.authorization);
    if (auth !== undefined) {
      req.management = auth;
      return next();
    }
    return verify(req.headers.authorization).then((verifiedAuth) => {
      req.management = verifiedAuth;
      next();
    });
  };
  /** Whether this request carries a token already verified and not yet expired (no crypto, no throw). */
  const recognizes = (req: Request): boolean => remembered(req.headers.authorization) !== undefined;
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
