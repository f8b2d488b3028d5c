import { createHash } from 'node:crypto';
import { z } from 'zod';
import { signInMethodName } from '../platform/sign-in-methods.ts';

/**
 * A tenant's connections, from its config file. Strategy decides the identity provider
 * name that prefixes user ids: `auth0|…` for database, `email|…` for passwordless,
 * the configured provider (e.g. `google-oauth2`) or `oidc` for upstream OpenID.
 */
const linkingPolicy = z.enum(['suggest', 'auto', 'never']).default('suggest');

const databaseConnection = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/),
    strategy: z.literal('auth0'),
    display_name: z.string().optional(),
    linking: linkingPolicy,
  })
  .strict();

const emailConnection = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/),
    strategy: z.literal('email'),
    display_name: z.string().optional(),
    linking: linkingPolicy,
  })
  .strict();

const oidcConnection = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/),
    strategy: z.literal('oidc'),
    /** Identity provider name in user ids; `oidc` (the default) ids become `oidc|<connection>|<sub>`. */
    provider: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,63}$/)
      .default('oidc'),
    display_name: z.string().optional(),
    issuer: z.url(),
    client_id: z.string().min(1),
    client_secret: z.string().optional(),
    scopes: z.string().default('openid email profile'),
    trust_email_verified: z.boolean().default(false),
    linking: linkingPolicy,
  })
  .strict();

const connectionSchema = z.discriminatedUnion('strategy', [databaseConnection, emailConnection, oidcConnection]);

export const connectionsConfigSchema = z
  .array(connectionSchema)
  .min(1)
  .refine((list) => new Set(list.map((c) => c.name)).size === list.length, 'connection names must be unique');

export type ConnectionConfig = z.infer<typeof connectionSchema>;

export interface Connection {
  id: string;
  name: string;
  strategy: ConnectionConfig['strategy'];
  /** The identity provider name stored in identities (`auth0`, `email`, `google-oauth2`, `oidc`). */
  provider: string;
  displayName: string;
  isSocial: boolean;
  /** What its identities can do: asked instead of comparing strategy names. */
  capabilities: ConnectionCapabilities;
  linking: 'suggest' | 'auto' | 'never';
  /** Whether this connection's `email_verified` may be believed. */
  trustEmailVerified: boolean;
  config: ConnectionConfig;
}

export interface ConnectionCapabilities {
  /** Its identities sign in with a password the directory keeps (a `credentials` row). */
  holdsPasswords: boolean;
  /**
   * The directory registers its identities' emails, one identity per address in the connection,
   * as Auth0 does; an upstream provider owns the uniqueness of its own users' emails.
   */
  ownsEmailUniqueness: boolean;
  /** Its users are created by their first sign-in upstream, never by an administrator. */
  createdBySignIn: boolean;
  /** Auth0's `isSocial` of its identities. */
  isSocial: boolean;
}

const CAPABILITIES: Record<ConnectionConfig['strategy'], ConnectionCapabilities> = {
  auth0: { holdsPasswords: true, ownsEmailUniqueness: true, createdBySignIn: false, isSocial: false },
  email: { holdsPasswords: false, ownsEmailUniqueness: true, createdBySignIn: false, isSocial: false },
  oidc: { holdsPasswords: false, ownsEmailUniqueness: false, createdBySignIn: true, isSocial: true },
};

export function connectionCapabilities(strategy: ConnectionConfig['strategy']): ConnectionCapabilities {
  return CAPABILITIES[strategy];
}

/** The identity user_id of an upstream `sub`: itself for a named provider, `<connection>|<sub>` for generic OIDC. */
export function identityUserIdFor(connection: Connection, sub: string): string {
  return connection.provider === 'oidc' ? `${connection.name}|${sub}` : sub;
}

export function defaultConnections(): ConnectionConfig[] {
  return [
    { name: 'Username-Password-Authentication', strategy: 'auth0', display_name: 'Email and password', linking: 'suggest' },
    { name: 'email', strategy: 'email', display_name: 'Email code', linking: 'suggest' },
  ];
}

/** Ids are derived from the name so they stay the same across restarts and instances. */
function connectionId(name: string): string {
  return `con_${createHash('sha256').update(`accord-connection:${name}`).digest('base64url').replace(/[-_]/g, '').slice(0, 16)}`;
}

export class ConnectionRegistry {
  readonly #byName = new Map<string, Connection>();
  readonly #byId = new Map<string, Connection>();

  constructor(configs: ConnectionConfig[]) {
    for (const c of configs) {
      const capabilities = connectionCapabilities(c.strategy);
      const connection: Connection = {
        id: connectionId(c.name),
        name: c.name,
        strategy: c.strategy,
        provider: c.strategy === 'oidc' ? c.provider : c.strategy,
        displayName: signInMethodName({ name: c.name, strategy: c.strategy, display_name: c.display_name }),
        isSocial: capabilities.isSocial,
        capabilities,
        linking: c.linking,
        trustEmailVerified: c.strategy === 'oidc' ? c.trust_email_verified : true,
        config: c,
      };
      this.#byName.set(c.name, connection);
      this.#byId.set(connection.id, connection);
    }
  }

  list(): Connection[] {
    return [...this.#byName.values()];
  }

  byName(name: string): Connection | undefined {
    return this.#byName.get(name);
  }

  byId(id: string): Connection | undefined {
    return this.#byId.get(id);
  }
}
