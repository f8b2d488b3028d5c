import { z } from 'zod';
import { tenantError } from '../tenant-errors.ts';
import type { ConnectionRegistry, Connection } from '../connections.ts';
import type { Directory } from '../directory/directory.ts';
import type { UserProfile } from '../directory/profile.ts';
import { defineRoute, type RouteDefinition } from './route-definition.ts';
import * as s from './schemas.ts';
import type { ManagementAuth } from './token-guard.ts';

export interface ManagementServices {
  directory: Directory;
  connections: ConnectionRegistry;
  verifyLinkWith(idToken: string, caller: ManagementAuth): Promise<string>;
  /** A user as the API shows it: with the profile fields Auth0 always fills (see avatars.ts). */
  shown(user: UserProfile): UserProfile;
}

function page<T, K extends string>(key: K, items: T[], total: number, pageIndex: number, perPage: number) {
  return { start: pageIndex * perPage, limit: perPage, length: items.length, total, [key]: items } as {
    start: number;
    limit: number;
    length: number;
    total: number;
  } & Record<K, T[]>;
}

function publicConnection(c: Connection) {
  const options: Record<string, unknown> = { linking: c.linking };
  if (c.config.strategy === 'oidc') {
    // Never the client secret.
    Object.assign(options, {
      issuer: c.config.issuer,
      client_id: c.config.client_id,
      scopes: c.config.scopes,
      trust_email_verified: c.config.trust_email_verified,
      provider: c.provider,
    });
  }
  return {
    id: c.id,
    name: c.name,
    display_name: c.displayName,
    strategy: c.strategy,
    realms: [c.name],
    is_domain_connection: false,
    options,
  };
}

export function managementRoutes(services: ManagementServices): RouteDefinition[] {
  const { directory, connections, shown } = services;
  return [
    defineRoute({
      method: 'get',
      path: '/users',
      operationId: 'get_users',
      summary: 'List or search users',
      scopes: ['read:users'],
      query: s.listUsersQuery,
      status: 200,
      response: z.union([z.array(s.userSchema), s.usersPageSchema]),
      async handle({ query }) {
        const { users: found, total } = await directory.listUsers({ q: query.q, page: query.page, perPage: query.per_page, sort: query.sort });
        const users = found.map(shown);
        return query.include_totals ? page('users', users, total, query.page, query.per_page) : users;
      },
    }),
    defineRoute({
      method: 'post',
      path: '/users',
      operationId: 'post_users',
      summary: 'Create a user in a database or passwordless connection',
      scopes: ['create:users'],
      body: s.createUserBody,
      status: 201,
      response: s.userSchema,
      handle: async ({ body, auth }) => shown(await directory.createUser(body, auth.actor)),
    }),
    defineRoute({
      method: 'get',
      path: '/users/:id',
      operationId: 'get_users_by_id',
      summary: 'Get a user',
      scopes: ['read:users'],
      selfScopes: ['read:current_user'],
      params: s.userIdParams,
      status: 200,
      response: s.userSchema,
      handle: async ({ params }) => shown(await directory.getUser(params.id)),
    }),
    defineRoute({
      method: 'patch',
      path: '/users/:id',
      operationId: 'patch_users_by_id',
      summary:
        "Update a user; metadata merges at the top level and null deletes a key. A user's own token (update:current_user_metadata) may change only its own user_metadata",
      scopes: ['update:users'],
      selfScopes: ['update:current_user_metadata'],
      params: s.userIdParams,
      body: s.updateUserBody,
      status: 200,
      response: s.userSchema,
      async handle({ params, body, auth }) {
        // As at Auth0: a person may edit their own user_metadata; the profile, app_metadata, email,
        // password and blocked stay with the administrators (update:users).
        if (!auth.scopes.has('update:users')) {
          const others = Object.keys(body).filter((key) => key !== 'user_metadata');
          if (others.length > 0)
            throw tenantError(
              'insufficient_scope',
              `Insufficient scope, expected any of: update:users (update:current_user_metadata changes only user_metadata, not ${others.join(', ')})`,
            );
        }
        return shown(await directory.updateUser(params.id, body, auth.actor));
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/users/:id',
      operationId: 'delete_users_by_id',
      summary: 'Delete a user and all its identities',
      scopes: ['delete:users'],
      params: s.userIdParams,
      status: 204,
      handle: ({ params, auth }) => directory.deleteUser(params.id, auth.actor),
    }),
    defineRoute({
      method: 'get',
      path: '/users-by-email',
      operationId: 'get_users_by_email',
      summary: 'Users whose email matches (NFC, trimmed, case-insensitive), immediately consistent',
      scopes: ['read:users'],
      query: s.usersByEmailQuery,
      status: 200,
      response: z.array(s.userSchema),
      handle: async ({ query }) => (await directory.findByEmail(query.email)).map(shown),
    }),
    defineRoute({
      method: 'post',
      path: '/users/:id/identities',
      operationId: 'post_identities',
      summary: 'Link a secondary account into this primary user',
      scopes: ['update:users'],
      selfScopes: ['update:current_user_identities'],
      params: s.userIdParams,
      body: s.linkBody,
      status: 201,
      response: z.array(s.identitySchema),
      async handle({ params, body, auth }) {
        const byToken = body.link_with !== undefined;
        const byId = body.provider !== undefined || body.user_id !== undefined;
        if (byToken === byId) throw tenantError('link_body_ambiguous');
        if (byToken) {
          const secondaryId = await services.verifyLinkWith(body.link_with!, auth);
          return directory.link(params.id, { userId: secondaryId }, auth.actor);
        }
        // Linking by id trusts the caller to have proven both accounts: server-side only.
        if (!auth.scopes.has('update:users')) throw tenantError('insufficient_scope', 'Insufficient scope, expected any of: update:users');
        if (body.provider === undefined || body.user_id === undefined) {
          throw tenantError('invalid_body', 'Payload validation error: provider and user_id are both required.');
        }
        return directory.link(
          params.id,
          {
            provider: body.provider,
            identityUserId: String(body.user_id),
            connectionId: body.connection_id,
          },
          auth.actor,
        );
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/users/:id/identities/:provider/:user_id',
      operationId: 'delete_user_identity_by_user_id',
      summary: 'Unlink an identity; it becomes a standalone user again (restore_metadata=true restores its metadata from the link snapshot)',
      scopes: ['update:users'],
      selfScopes: ['update:current_user_identities'],
      params: s.unlinkParams,
      query: s.unlinkQuery,
      status: 200,
      response: z.array(s.identitySchema),
      handle: ({ params, query, auth }) =>
        directory.unlink(params.id, params.provider, params.user_id, { restoreMetadata: query.restore_metadata }, auth.actor),
    }),
    defineRoute({
      method: 'get',
      path: '/logs',
      operationId: 'get_logs',
      summary: 'Audit events, newest first',
      scopes: ['read:logs'],
      query: s.pageQuery,
      status: 200,
      response: z.union([z.array(s.logEventSchema), s.logsPageSchema]),
      async handle({ query }) {
        const { events, total } = await directory.logs({ page: query.page, perPage: query.per_page });
        return query.include_totals ? page('logs', events, total, query.page, query.per_page) : events;
      },
    }),
    defineRoute({
      method: 'get',
      path: '/users/:id/logs',
      operationId: 'get_logs_by_user',
      summary: "A user's audit events, newest first",
      scopes: ['read:logs', 'read:logs_users'],
      params: s.userIdParams,
      query: s.pageQuery,
      status: 200,
      response: z.union([z.array(s.logEventSchema), s.logsPageSchema]),
      async handle({ params, query }) {
        const { events, total } = await directory.logs({ userId: params.id, page: query.page, perPage: query.per_page });
        return query.include_totals ? page('logs', events, total, query.page, query.per_page) : events;
      },
    }),
    defineRoute({
      method: 'get',
      path: '/connections',
      operationId: 'get_connections',
      summary: "The tenant's connections",
      scopes: ['read:connections'],
      query: s.connectionsQuery,
      status: 200,
      response: z.array(s.connectionSchema),
      async handle({ query }) {
        return connections
          .list()
          .filter((c) => (query.strategy === undefined || c.strategy === query.strategy) && (query.name === undefined || c.name === query.name))
          .map(publicConnection);
      },
    }),
  ];
}
