import type { NextFunction, Request, Response } from 'express';

type Handler = (req: Request, res: Response, next: NextFunction) => unknown;

/**
 * A router mounted at the root, entered only by requests for one of `prefixes` or a path under
 * it; every other request passes straight on. Express enters each router mounted at the root on
 * every request and walks all its layers: in front of oidc-provider the tenant has seven such
 * routers, whose walk was 5% of a sign-in's CPU (docs/performance.md), and the app's pages
 * walked up to four. Matched as Express matches a route by default: case-insensitively, a trailing
 * slash allowed.
 */
export function onlyUnder(prefixes: readonly string[], handler: Handler): Handler {
  const alternatives = prefixes.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  const under = new RegExp(`^(?:${alternatives})(?:/|$)`, 'i');
  return (req, res, next) => (under.test(req.path) ? handler(req, res, next) : next());
}
