import type { NextFunction, Request, Response } from 'express';

/**
 * Every URL the tenant publishes comes from TENANT_URL, never from the request. oidc-provider
 * (which runs with `proxy = true`) builds its endpoints, redirects and form actions from each
 * request's Host, X-Forwarded-Host and X-Forwarded-Proto: a forged header would put an
 * attacker's host in the discovery document (and, through a shared cache, in front of every
 * relying party). So those headers are replaced with TENANT_URL's before anything reads them.
 * The client's address (X-Forwarded-For) is left to Express's `trust proxy` (TRUST_PROXY).
 */
export function publishAtTenantUrl(tenantUrl: string) {
  const url = new URL(tenantUrl);
  const host = url.host;
  const protocol = url.protocol.slice(0, -1);
  return (req: Request, _res: Response, next: NextFunction) => {
    req.headers.host = host;
    delete req.headers['x-forwarded-host'];
    req.headers['x-forwarded-proto'] = protocol;
    next();
  };
}

/** The public documents relying parties fetch and may cache: discovery (both names) and the keys. */
const PUBLIC_METADATA_PATHS = new Set(['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/.well-known/jwks.json']);

/**
 * How long a cache may keep the discovery document and the keys (oidc-provider sets no
 * Cache-Control on them). Short, so that a change of keys reaches relying parties in minutes.
 */
export const PUBLIC_METADATA_MAX_AGE_SECONDS = 300;

/** Marks discovery and JWKS as public and briefly cacheable; their content depends on no request header. */
export function cacheablePublicMetadata() {
  const value = `public, max-age=${PUBLIC_METADATA_MAX_AGE_SECONDS}`;
  return (req: Request, res: Response, next: NextFunction) => {
    if ((req.method === 'GET' || req.method === 'HEAD') && PUBLIC_METADATA_PATHS.has(req.path)) res.setHeader('Cache-Control', value);
    next();
  };
}
