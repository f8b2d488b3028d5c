import type { NextFunction, Request, Response } from 'express';

/** A middleware or router as a root layer runs it. */
export type Handler = (req: Request, res: Response, next: NextFunction) => unknown;

/** Matches a path equal to one of `prefixes` or under it, as Express matches a route by default: any case, a trailing slash allowed. */
function underAny(prefixes: readonly string[]): RegExp {
  const alternatives = prefixes.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  return new RegExp(`^(?:${alternatives})(?:/|$)`, 'i');
}

/**
 * A router mounted at the root, entered only by requests for one of `prefixes` or a path under
 * it; every other request passes straight on. Express enters each router mounted at the root on
 * every request and walks all its layers: in front of oidc-provider the tenant has seven such
 * routers, whose walk was 5% of a sign-in's CPU (docs/performance.md), and the app's pages
 * walked up to four. Matched as Express matches a route by default: case-insensitively, a trailing
 * slash allowed.
 */
export function onlyUnder(prefixes: readonly string[], handler: Handler): Handler {
  const under = underAny(prefixes);
  return (req, res, next) => (under.test(req.path) ? handler(req, res, next) : next());
}

/**
 * Consecutive onlyUnder routers as one layer of the root: a request under none of their
 * prefixes passes on after one test, where Express would walk a layer (and a call of its `next`)
 * for each router (docs/performance.md). A request under some of them enters those, in the order
 * given, exactly as the consecutive layers would: each router's `next()` goes on to the next one
 * it is under, then out; an error goes out at once, to the root's error handlers.
 */
export function routersUnder(routers: ReadonlyArray<readonly [prefixes: readonly string[], handler: Handler]>): Handler {
  const any = underAny(routers.flatMap(([prefixes]) => prefixes));
  const each = routers.map(([prefixes, handler]) => [underAny(prefixes), handler] as const);
  return (req, res, next) => {
    const path = req.path;
    if (!any.test(path)) return next();
    let at = 0;
    const onward: NextFunction = (err?: unknown) => {
      // Express's values: no error (undefined, null, 'route') goes on; 'router' and errors go out.
      if (err && err !== 'route') return next(err);
      while (at < each.length) {
        const [under, handler] = each[at++]!;
        if (!under.test(path)) continue;
        // As Express runs a layer: a throw or a rejected promise is the request's error.
        try {
          const answer = handler(req, res, onward);
          if (answer instanceof Promise) answer.catch((e: unknown) => next(e ?? new Error('Rejected promise')));
        } catch (e) {
          next(e);
        }
        return;
      }
      next();
    };
    onward();
  };
}
