import { z } from 'zod';
import { auth0ErrorBody } from './http-errors.ts';
import type { RouteDefinition } from './route-definition.ts';

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') => z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'openapi-3.0' });

function parametersOf(schema: z.ZodType | undefined, where: 'path' | 'query') {
  if (!schema) return [];
  const doc = jsonSchema(schema, 'input') as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(doc.properties ?? {}).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || (doc.required ?? []).includes(name),
    schema: property,
  }));
}

/** The OpenAPI 3 document of the Management API, generated from the route definitions. */
export function buildOpenApiDocument(routes: RouteDefinition[], tenantUrl: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z_]+)/g, '{$1}');
    const errorResponse = { description: 'Error', content: { 'application/json': { schema: jsonSchema(auth0ErrorBody, 'output') } } };
    paths[path] ??= {};
    paths[path][route.method] = {
      operationId: route.operationId,
      summary: route.summary,
      security: [{ bearerAuth: [...route.scopes, ...(route.selfScopes ?? [])] }],
      'x-scopes': { anyOf: route.scopes, ...(route.selfScopes ? { selfOnly: route.selfScopes } : {}) },
      parameters: [...parametersOf(route.params, 'path'), ...parametersOf(route.query, 'query')],
      ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body, 'input') } } } } : {}),
      responses: {
        [route.status]: route.response
          ? { description: 'Success', content: { 'application/json': { schema: jsonSchema(route.response, 'output') } } }
          : { description: 'Success, no content' },
        400: errorResponse,
        401: errorResponse,
        403: errorResponse,
        404: errorResponse,
        409: errorResponse,
        413: errorResponse,
        429: errorResponse,
      },
    };
  }
  return {
    openapi: '3.0.3',
    info: { title: 'Accord Management API v2 (Auth0-compatible subset)', version: '2' },
    servers: [{ url: `${tenantUrl}/api/v2` }],
    components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    paths,
  };
}
