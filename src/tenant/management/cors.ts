import type { NextFunction, Request, Response } from 'express';

/** What the tenant knows of web origins (ClientRegistry): a preflight names no client, a call does. */
export interface WebOrigins {
  isWebOrigin(origin: string): Promise<boolean>;
  webOriginsOf(clientId: string): Promise<readonly string[]>;
}

const ALLOW_METHODS = 'GET, POST, PATCH, DELETE';
/** Auth0's SDKs send Auth0-Client beside the token and the JSON body. */
const ALLOW_HEADERS = 'Authorization, Content-Type, Auth0-Client';
/** Auth0's rate-limit headers, readable by the page that is limited. */
const EXPOSE_HEADERS = 'x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset, retry-after';
/** Browsers keep a granted preflight this long (Chromium caps it at two hours). */
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/**
 * The Management API's CORS preflights: granted to an origin that some client registered as a
 * web origin (Auth0's "Allowed Web Origins"), refused (403, no CORS headers) for any other. The
 * call that follows carries its token, and is checked against the token's own client by
 * `managementCors`.
 */
export function managementPreflight(origins: WebOrigins) {
  const answer = async (res: Response, origin: string) => {
    res.vary('Origin').set('Cache-Control', 'no-store');
    if (!(await origins.isWebOrigin(origin))) return void res.status(403).end();
    res
      .status(204)
      .set({
        'Access-Control-Allow-Origin': origin,
        'Access-Control-Allow-Methods': ALLOW_METHODS,
        'Access-Control-Allow-Headers': ALLOW_HEADERS,
        'Access-Control-Max-Age': String(PREFLIGHT_MAX_AGE_SECONDS),
      })
      .end();
  };
  // Synchronous for everything but a preflight: no promise on every call.
  return (req: Request, res: Response, next: NextFunction) => {
    const origin = req.headers.origin;
    if (req.method !== 'OPTIONS' || origin === undefined || req.headers['access-control-request-method'] === undefined) return next();
    return answer(res, origin);
  };
}

/**
 * After the token guard: a browser's call may read the answer only from a web origin of the
 * client the token was issued to (its `azp`), as the token endpoint allows. Callers that send no
 * Origin (servers, the SDK) cost nothing here.
 */
export function managementCors(origins: WebOrigins) {
  const allow = async (res: Response, next: NextFunction, origin: string, clientId: string) => {
    res.vary('Origin');
    if ((await origins.webOriginsOf(clientId)).includes(origin)) {
      res.set({ 'Access-Control-Allow-Origin': origin, 'Access-Control-Expose-Headers': EXPOSE_HEADERS });
    }
    next();
  };
  return (req: Request, res: Response, next: NextFunction) => {
    const origin = req.headers.origin;
    if (origin === undefined || !req.management) return next();
    return allow(res, next, origin, req.management.clientId);
  };
}
