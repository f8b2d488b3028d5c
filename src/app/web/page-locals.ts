import type { Express, NextFunction, Request, Response } from 'express';

/** What every page after the session's checks may show: the user, the path, the session's flash. */
export function pageLocals(req: Request, res: Response, next: NextFunction): void {
  // Pages carry personal data and the CSRF token: no shared cache may keep them, and the back
  // button after sign-out must not show them again.
  res.setHeader('Cache-Control', 'no-store');
  res.locals.user = req.user;
  res.locals.path = req.path;
  // Read once by the page that shows it: filled in as the page is rendered (showFlashOnRender).
  res.locals.flash = undefined;
  next();
}

/**
 * A page rendered once `pageLocals` has run shows the session's flash and takes it out of the
 * session; one rendered before (an error in the session's checks) neither shows nor takes it.
 * Done once for the app rather than by a getter defined on each request's locals: most
 * requests render nothing (a reload of the profile resends the page it rendered).
 */
export function showFlashOnRender(app: Express): void {
  const render = app.response.render;
  app.response.render = function (this: Response, ...args: unknown[]) {
    if ('flash' in this.locals) {
      const flash = this.req.session?.flash;
      if (flash) delete this.req.session.flash;
      this.locals.flash = flash;
    }
    return render.apply(this, args as Parameters<Response['render']>);
  } as Response['render'];
}
