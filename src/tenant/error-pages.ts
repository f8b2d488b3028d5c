import type { ErrorRequestHandler, Response } from 'express';
import { errors as oidcErrors } from 'oidc-provider';
import { isDependencyError, RETRY_AFTER_SECONDS } from '../platform/dependency-errors.ts';
import type { Logger } from '../platform/logger.ts';
import { isTenantError, type TenantErrorCode } from './tenant-errors.ts';

/**
 * The tenant's one mapping from an error to a page in words: the status from the error table,
 * a heading per code. The sign-in pages (login/interaction-router.ts), the mailed-link pages
 * (connections/database/account-routes.ts) and the last handler of the tenant's Express app
 * all answer through it; the Management API answers Auth0's JSON instead
 * (management/http-errors.ts), and oidc-provider's own errors go through its renderError.
 */

export interface TenantErrorPage {
  status: number;
  title: string;
  message: string;
}

/** The words of every page that says the tenant cannot sign anyone in right now. */
export const UNAVAILABLE_PAGE = {
  title: 'Sign-in is unavailable',
  message: 'Sign-in is unavailable right now. Nothing was lost: try again in a minute.',
};

const EXPIRED_PAGE = {
  title: 'This sign-in has expired',
  message: 'Sign-in pages are valid for a limited time and in the browser that opened them. Go back to the application and sign in again.',
};

/** The codes a person can meet on a page, and the heading each gets there. */
const TITLES: Partial<Record<TenantErrorCode, string>> = {
  user_blocked: 'Account blocked',
  csrf_invalid: 'Please try again',
  unknown_sign_in_method: 'Unknown sign-in method',
  too_many_requests: 'Too many attempts',
};

/** The page for the refusals a sign-in or a mailed link can end with; undefined for anything else. */
export function tenantErrorPage(err: unknown): TenantErrorPage | undefined {
  if (err instanceof oidcErrors.SessionNotFound || err instanceof oidcErrors.InvalidRequest) return { status: err.statusCode, ...EXPIRED_PAGE };
  if (isTenantError(err)) {
    const title = TITLES[err.code];
    if (title) return { status: err.status, title, message: err.message };
  }
  if (isDependencyError(err)) return { status: 503, ...UNAVAILABLE_PAGE };
  return undefined;
}

const FAILED_PAGE = {
  title: 'Something went wrong',
  message: 'Something went wrong on our side. Go back to the application and try again.',
};

/** Sets the status and headers of a dependency outage's answer (503, Retry-After, never cached). */
export function markUnavailable(res: Response): void {
  res.status(503).set('Retry-After', String(RETRY_AFTER_SECONDS)).set('Cache-Control', 'no-store');
}

/**
 * The last handler of the tenant's Express app: whatever a route or router passes on ends here
 * as a page in words (a 503 with Retry-After when a dependency is down), never as Express's
 * default page with its stack trace and the database's address. If the page itself cannot be
 * rendered, the words go out as plain text.
 */
export function finalErrorHandler(options: { logger: Logger; tenantName: string }): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const page = tenantErrorPage(err) ?? otherErrorPage(err);
    // Outages are logged once by the pool or client that saw them, not once per request.
    if (page.status === 500) options.logger.error({ err, method: req.method, path: req.path }, 'request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (page.status === 503) markUnavailable(res);
    else res.status(page.status).set('Cache-Control', 'no-store');
    res.render(
      'tenant/message',
      { tenantName: options.tenantName, proof: undefined, title: page.title, message: page.message },
      (renderError: Error | null, html?: string) => {
        if (renderError) {
          options.logger.error({ err: renderError }, 'error page could not be rendered');
          res.type('text/plain').send(`${page.title}\n\n${page.message}\n`);
          return;
        }
        res.type('html').send(html);
      },
    );
  };
}

/** Body parsers and similar mark a bad request with a 4xx `status`; anything else failed on our side. */
function otherErrorPage(err: unknown): TenantErrorPage {
  const status = (err as { status?: unknown } | null)?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { status, title: 'That did not work', message: 'The request could not be read. Go back to the application and try again.' };
  }
  return { status: 500, ...FAILED_PAGE };
}
