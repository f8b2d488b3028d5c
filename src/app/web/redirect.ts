import type { NextFunction, Request, Response } from 'express';

/**
 * Redirects once the session's changes are stored. express-session saves at the end of a
 * response but sends a redirect's headers first, so a browser can follow the redirect before
 * the save lands and read the old session (a flash lost, a one-time check run twice).
 */
export function redirectAfterSave(req: Request, res: Response, next: NextFunction, location: string): void {
  req.session.save((err) => (err ? next(err) : res.redirect(303, location)));
}
