import express, { Router, type Request, type Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import type { z } from 'zod';
import { AccordError } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';
import { auth0ErrorHandler, sendAuth0Error } from './http-errors.ts';
import { buildOpenApiDocument } from './openapi.ts';
import type { RouteDefinition } from './route-definition.ts';
import { managementTokenGuard, requireScopes } from './token-guard.ts';
import type { SigningJwk } from '../oidc/keys.ts';

function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => {
    const where = issue.path.length > 0 ? issue.path.join('.') : '';
    if (issue.code === 'unrecognized_keys') return `Additional properties not allowed: ${issue.keys.join(', ')}${where ? ` (in ${where})` : ''}`;
    return where ? `${where}: ${issue.message}` : issue.message;
  }).join('; ');
}

function parse<T extends z.ZodType>(schema: T | undefined, value: unknown, code: 'invalid_body' | 'invalid_query_string', label: string): z.output<T> | undefined {
  if (!schema) return undefined;
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw new AccordError(code, `${label} validation error: ${describeIssues(result.error)}`);
  return result.data;
}

export interface ManagementRouterOptions {
  routes: RouteDefinition[];
  issuer: string;
  audience: string;
  keys: SigningJwk[];
  rateLimitPerMinute: number;
  logger: Logger;
}

/** `/api/v2`: token guard, rate limit, body parser, one thin handler per route definition, Auth0 error bodies. */
export function managementRouter(options: ManagementRouterOptions): Router {
  const router = Router();
  const openapi = buildOpenApiDocument(options.routes, options.issuer);
  router.get('/openapi.json', (_req, res) => { res.json(openapi); });

  const tooManyRequests = (_req: Request, res: Response) => sendAuth0Error(res, new AccordError('too_many_requests', 'Global limit has been reached'));
  // Per address, counting only requests that never authenticated: token guessing and floods
  // of bad tokens are throttled before they cost a signature check each.
  const tokenGuard = managementTokenGuard({ issuer: options.issuer, audience: options.audience, keys: options.keys });
  router.use(rateLimit({
    windowMs: 60_000,
    limit: options.rateLimitPerMinute,
    legacyHeaders: false,
    // A token this process already verified cannot be a guess: skip the count (and its cost).
    skip: (req: Request) => tokenGuard.recognizes(req),
    standardHeaders: false,
    requestWasSuccessful: (req: Request) => req.management !== undefined,
    skipSuccessfulRequests: true,
    handler: tooManyRequests,
  }));
  router.use(tokenGuard);
  router.use(rateLimit({
    windowMs: 60_000,
    limit: options.rateLimitPerMinute,
    legacyHeaders: true,
    standardHeaders: false,
    keyGenerator: (req: Request) => `client:${req.management!.clientId}`,
    handler: tooManyRequests,
  }));
  // Bodies are read only for authenticated, non-throttled callers.
  router.use(express.json({ limit: '100kb', strict: true }));

  for (const route of options.routes) {
    router[route.method](route.path, async (req: Request, res: Response) => {
      const params = parse(route.params, req.params, 'invalid_query_string', 'Path');
      const pathUserId = (params as { id?: string } | undefined)?.id;
      requireScopes(req.management!, route.scopes, route.selfScopes ?? [], pathUserId);
      const query = parse(route.query, req.query, 'invalid_query_string', 'Query');
      if (!route.query && Object.keys(req.query as object).length > 0) {
        throw new AccordError('invalid_query_string', `Query validation error: Additional properties not allowed: ${Object.keys(req.query as object).join(', ')}`);
      }
      const body = parse(route.body, req.body, 'invalid_body', 'Payload');
      const result = await route.handle({ params, query, body, auth: req.management! });
      if (route.status === 204) res.status(204).end();
      else res.status(route.status).json(result);
    });
  }
  router.use((_req, res) => sendAuth0Error(res, new AccordError('not_found', 'Not Found: no such Management API endpoint.')));
  router.use(auth0ErrorHandler(options.logger));
  return router;
}
