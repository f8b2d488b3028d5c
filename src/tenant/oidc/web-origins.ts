import type { NextFunction, Request, Response } from 'express';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { ClientRegistry } from '../clients/client-registry.ts';

/** oidc-provider's endpoints that answer CORS per client: the token, userinfo and revocation endpoints. */
const CLIENT_CORS_PATHS = new Set(['/oauth/token', '/userinfo', '/oauth/revoke']);

/**
 * oidc-provider's `clientBasedCORS`: a browser page may call the token or userinfo endpoint
 * for a client only from an origin registered for that client (its `web_origins`, Auth0's
 * "Allowed Web Origins"). oidc-provider's default also allowed every origin of the redirect
 * URIs at userinfo; a redirect URI says where a browser may be sent, not which pages may read
 * tokens, so it no longer counts.
 */
export function clientBasedCORS(_ctx: KoaContextWithOIDC, origin: string, client: { metadata(): Record<string, unknown> }): boolean {
  const origins = client.metadata().web_origins;
  return Array.isArray(origins) && origins.includes(origin);
}

/**
 * CORS preflights of those endpoints. oidc-provider grants every preflight whatever its origin
 * (a preflight carries no client to check); here one is granted only when its origin is a
 * registered web origin of some client, and refused (403, no CORS headers) otherwise. The
 * request that follows is then checked against its own client by `clientBasedCORS`.
 */
export function webOriginPreflight(clients: ClientRegistry) {
  return async (req: Request, res: Response, next: NextFunction) => {
    const origin = req.headers.origin;
    const preflight = req.method === 'OPTIONS' && origin !== undefined && req.headers['access-control-request-method'] !== undefined;
    if (!preflight || !CLIENT_CORS_PATHS.has(req.path) || (await clients.isWebOrigin(origin))) return next();
    res.vary('Origin').status(403).set('Cache-Control', 'no-store').end();
  };
}
