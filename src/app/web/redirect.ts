import type { NextFunction, Request, Response } from 'express';

/**
 * Stores the session's changes now. Every explicit save goes through here, and a failed save
 * rejects, so the error page says so instead of a redirect to a page that would read the old
 * session.
 */
export function saveSession(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
}

/**
 * Redirects once the session's changes are stored. express-session saves at the end of a
 * response but sends a redirect's headers first, so a browser can follow the redirect before
 * the save lands and read the old session (a flash lost, a one-time check run twice).
 */
export function redirectAfterSave(req: Request, res: Response, next: NextFunction, location: string): void {
  saveSession(req).then(() => res.redirect(303, location), next);
}
