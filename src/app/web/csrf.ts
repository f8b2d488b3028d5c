import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { AccordError } from '../../platform/errors.ts';

/**
 * Every state-changing request must come from this app's own pages: the browser's
 * Origin (or Sec-Fetch-Site) must be this app, and the form must carry the session's
 * synchronizer token. Either alone would do against most attacks; both cost nothing.
 */
export function csrfProtection(appOrigin: string): RequestHandler {
  return (req, res, next) => {
    // Only signed-in pages have forms; a visitor's page view must not create a session.
    if (req.user) {
      req.session.csrfToken ??= randomBytes(24).toString('base64url');
      res.locals.csrfToken = req.session.csrfToken;
    }
    if (['GET', 'HEAD', 'OPTIONS'].includes(req.method)) return next();
    const origin = req.get('origin');
    const site = req.get('sec-fetch-site');
    // `Origin: null` is what a browser sends when a referrer policy hides the origin; it counts
    // only when the browser also vouches that the request is same-origin.
    const originOk = origin === undefined || origin === appOrigin || (origin === 'null' && site === 'same-origin');
    if (!originOk || (site !== undefined && !['same-origin', 'none'].includes(site))) {
      return next(new AccordError('forbidden_origin'));
    }
    const expected = req.session?.csrfToken;
    const presented = (req.body as Record<string, unknown> | undefined)?._csrf;
    if (!expected || typeof presented !== 'string' || presented.length !== expected.length
      || !timingSafeEqual(Buffer.from(presented), Buffer.from(expected))) {
      return next(new AccordError('csrf_invalid'));
    }
    next();
  };
}
