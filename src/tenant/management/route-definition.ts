import type { z } from 'zod';
import type { ManagementAuth } from './token-guard.ts';

export type Method = 'get' | 'post' | 'patch' | 'delete';

export interface RouteInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  auth: ManagementAuth;
}

/**
 * One Management API endpoint: method, path, scopes, input schemas and the handler, in one
 * place. The router and the OpenAPI document are both built from these definitions.
 */
export interface RouteDefinition<P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType> {
  method: Method;
  /** Express-style path under /api/v2, e.g. `/users/:id`. */
  path: string;
  operationId: string;
  summary: string;
  /** Any one of these scopes grants access. */
  scopes: readonly string[];
  /** Scopes that grant access only when the path's `:id` is the token's subject. */
  selfScopes?: readonly string[];
  params?: P;
  query?: Q;
  body?: B;
  status: number;
  response?: z.ZodType;
  handle(input: RouteInput<z.output<P>, z.output<Q>, z.output<B>>): Promise<unknown>;
}

export function defineRoute<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType>(route: RouteDefinition<P, Q, B>): RouteDefinition {
  return route as unknown as RouteDefinition;
}
