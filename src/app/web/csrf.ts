import { createHmac, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { appError } from '../app-errors.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const TOKENS_KEPT = 10_000;

/**
 * Every state-changing request must come from this app's own pages: the browser's
 * Origin (or Sec-Fetch-Site) must be this app, and the form must carry the session's
 * token. Either alone would do against most attacks; both cost nothing.
 *
 * The token is an HMAC of the session id, so nothing is stored: a token kept in the session
 * would be created by whichever of a page and its parallel requests (a favicon) came first,
 * and the last save would win over the token the page shows.
 */
export function csrfProtection(appOrigin: string, secret: string): RequestHandler {
  // Every signed-in page shows the token, so recent ones are kept rather than computed again
  // (a function of the session id alone: nothing about the session itself is cached).
  const tokens = new Map<string, string>();
  const tokenOf = (sessionId: string) => {
    let token = tokens.get(sessionId);
    if (token === undefined) {
      token = createHmac('sha256', secret).update(`csrf:${sessionId}`).digest('base64url');
      if (tokens.size >= TOKENS_KEPT) tokens.delete(tokens.keys().next().value!);
      tokens.set(sessionId, token);
    }
    return token;
  };
  return (req, res, next) => {
    // Only signed-in pages have forms.
    if (req.user) res.locals.csrfToken = tokenOf(req.sessionID);
    if (SAFE_METHODS.has(req.method)) return next();
    const origin = req.get('origin');
    const site = req.get('sec-fetch-site');
    // `Origin: null` is what a browser sends when a referrer policy hides the origin; it counts
    // only when the browser also vouches that the request is same-origin.
    const originOk = origin === undefined || origin === appOrigin || (origin === 'null' && site === 'same-origin');
    if (!originOk || (site !== undefined && !['same-origin', 'none'].includes(site))) {
      return next(appError('forbidden_origin'));
    }
    const expected = req.user ? Buffer.from(tokenOf(req.sessionID)) : undefined;
    const presented = (req.body as Record<string, unknown> | undefined)?._csrf;
    const actual = Buffer.from(typeof presented === 'string' ? presented : '');
    if (!expected || actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
      return next(appError('csrf_invalid'));
    }
    next();
  };
}
