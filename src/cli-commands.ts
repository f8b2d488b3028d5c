import { parseArgs } from 'node:util';
import { ConfigError } from './platform/env.ts';
import { loadTenantConfig } from './tenant/tenant-config.ts';
import { openTenantDatabase } from './tenant/tenant-database.ts';
import { AccordError } from './platform/errors.ts';
import { createLogger } from './platform/logger.ts';
import { migrateTenant } from './tenant/migrations/tenant-migrations.ts';
import { ClientRegistry, GRANT_TYPES, MANAGEMENT_SCOPES, originProblem, uriProblem, type GrantType } from './tenant/clients/client-registry.ts';
import { ConnectionRegistry } from './tenant/connections.ts';
import { Directory } from './tenant/directory/directory.ts';
import { BackchannelLogout } from './tenant/oidc/backchannel-logout.ts';
import { loadTenantKeys } from './tenant/oidc/keys.ts';
import { AccountSessions } from './tenant/oidc/revoke-sessions.ts';

const USAGE = `Usage: accord <command> [options]

Commands:
  migrate                                   bring the database schema up to date
  clients create --name N [--spa] [--grant G]... [--scopes "s1 s2"] [--redirect-uri URL]... [--logout-uri URL]...
                 [--web-origin ORIGIN]... [--backchannel-logout-uri URL]
                                            create a client; prints {client_id, client_secret} once
                                            (--spa: a single-page app, i.e. a public client with no
                                            secret that must use PKCE, grants authorization_code and
                                            refresh_token by default, refresh tokens rotated; its
                                            pages' origin goes in --web-origin)
                                            (authorization_code and implicit need at least one
                                            --redirect-uri; implicit: the id_token and hybrid
                                            response types, as Auth0's Implicit grant;
                                            --logout-uri: where sign-out may return to, i.e. Auth0's
                                            Allowed Logout URLs, matched exactly; --web-origin: an
                                            origin such as https://app.example.com whose pages may call
                                            the token and userinfo endpoints, Auth0's Allowed Web Origins;
                                            --backchannel-logout-uri: where the tenant posts OpenID
                                            Connect back-channel logout tokens when a user's
                                            sessions end)
  clients list                              list clients (never their secrets)
  users list [--q QUERY] [--page N] [--per-page N]
                                            list or search users (Auth0 query syntax, e.g. email:"a@x.com")
  users get USER_ID                         print one user
  users block USER_ID                       block a user; its sessions end at the tenant and at
                                            every client with a back-channel logout URI
  users delete USER_ID                      delete a user (its sessions end the same way)

Grants: ${GRANT_TYPES.join(', ')} (default client_credentials)
Scopes: ${MANAGEMENT_SCOPES.join(' ')}
Configuration comes from the environment and .env (see .env.example).`;

class UsageError extends Error {}

/** Where a run of the CLI reads its settings and writes its output: the process's own in src/cli.ts, captured in tests. */
export interface CliIo {
  env: NodeJS.ProcessEnv;
  out(text: string): void;
  err(text: string): void;
}

/** Runs one `accord` command to completion; resolves with the exit code (0, 1 on a failure, 2 on a usage error). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  try {
    await run(argv, io);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`accord: ${err.message}\n\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof ConfigError || err instanceof AccordError) {
      io.err(`accord: ${err.message}\n`);
      return 1;
    }
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`accord: ${(err as Error).message}\n\n${USAGE}\n`);
      return 2;
    }
    io.err(`accord: failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

async function run(argv: string[], io: CliIo): Promise<void> {
  const print = (value: unknown) => io.out(`${JSON.stringify(value, null, 2)}\n`);
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      spa: { type: 'boolean' },
      grant: { type: 'string', multiple: true },
      scopes: { type: 'string' },
      q: { type: 'string' },
      page: { type: 'string' },
      'per-page': { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      'logout-uri': { type: 'string', multiple: true },
      'web-origin': { type: 'string', multiple: true },
      'backchannel-logout-uri': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [group, action, arg] = positionals;
  if (values.help || !group) {
    io.out(`${USAGE}\n`);
    return;
  }

  const config = loadTenantConfig(io.env);
  const database = openTenantDatabase({
    databaseUrl: config.databaseUrl,
    sqliteFile: config.sqliteFile,
    timeouts: config.databaseTimeouts,
    logger: createLogger(config.logLevel),
  });
  try {
    const report = await migrateTenant(database);
    if (group === 'migrate') {
      print({ database: database.dialect, applied: report.applied });
      return;
    }
    const clients = new ClientRegistry(database.db);
    const directory = new Directory(database, new ConnectionRegistry(config.connections));
    /** Blocking or deleting from here signs the user out at every client, as through the API; sent before the command returns. */
    const endSessionsEverywhere = async () => {
      const backchannel = new BackchannelLogout({
        issuer: config.url,
        signingKey: (await loadTenantKeys(database.db)).signing[0]!,
        clients,
        logger: createLogger(config.logLevel),
      });
      const accountSessions = new AccountSessions(database, backchannel);
      directory.onAccountChange((change) => accountSessions.end(change.userId).then(() => undefined));
      return backchannel;
    };
    const command = `${group} ${action ?? ''}`.trim();
    switch (command) {
      case 'clients create': {
        if (!values.name) throw new UsageError('clients create needs --name');
        const defaultGrants = values.spa ? ['authorization_code', 'refresh_token'] : ['client_credentials'];
        const grants = (values.grant ?? defaultGrants).flatMap((g) => g.split(/[\s,]+/)).filter(Boolean);
        const unknownGrant = grants.find((g) => !(GRANT_TYPES as readonly string[]).includes(g));
        if (unknownGrant) throw new UsageError(`unknown grant "${unknownGrant}"; known: ${GRANT_TYPES.join(', ')}`);
        const scopes = (values.scopes ?? '').split(/[\s,]+/).filter(Boolean);
        const redirectUris = values['redirect-uri'] ?? [];
        const logoutUris = values['logout-uri'] ?? [];
        const backchannelLogoutUri = values['backchannel-logout-uri'];
        for (const [option, uris] of [
          ['--redirect-uri', redirectUris],
          ['--logout-uri', logoutUris],
          ['--backchannel-logout-uri', backchannelLogoutUri === undefined ? [] : [backchannelLogoutUri]],
        ] as const) {
          for (const uri of uris) {
            const problem = uriProblem(uri);
            if (problem) throw new UsageError(`${option} must be an absolute http(s) URL; "${uri}" ${problem}`);
          }
        }
        const webOrigins = values['web-origin'] ?? [];
        for (const origin of webOrigins) {
          const problem = originProblem(origin);
          if (problem) throw new UsageError(`--web-origin "${origin}" ${problem}`);
        }
        const redirecting = grants.find((g) => g === 'authorization_code' || g === 'implicit');
        if (redirecting && redirectUris.length === 0) {
          throw new UsageError(`the ${redirecting} grant needs at least one --redirect-uri`);
        }
        const created = await clients.create({
          name: values.name,
          spa: values.spa === true,
          grantTypes: grants as GrantType[],
          scopes,
          redirectUris,
          postLogoutRedirectUris: logoutUris,
          webOrigins,
          backchannelLogoutUri,
        });
        print({
          client_id: created.client_id,
          ...(created.client_secret === undefined ? {} : { client_secret: created.client_secret }),
          name: created.name,
          app_type: created.app_type,
          token_endpoint_auth_method: created.token_endpoint_auth_method,
          grant_types: created.grant_types,
          scopes: created.scopes,
          redirect_uris: created.redirect_uris,
          post_logout_redirect_uris: created.post_logout_redirect_uris,
          web_origins: created.web_origins,
          backchannel_logout_uri: created.backchannel_logout_uri,
        });
        return;
      }
      case 'clients list':
        print(await clients.list());
        return;
      case 'users list': {
        const page = Number(values.page ?? 0);
        const perPage = Number(values['per-page'] ?? 50);
        if (!Number.isInteger(page) || page < 0) throw new UsageError('--page must be a non-negative integer');
        if (!Number.isInteger(perPage) || perPage < 1 || perPage > 100) throw new UsageError('--per-page must be between 1 and 100');
        print(await directory.listUsers({ q: values.q, page, perPage }));
        return;
      }
      case 'users get':
        if (!arg) throw new UsageError('users get needs a USER_ID');
        print(await directory.getUser(arg));
        return;
      case 'users block':
      case 'users delete': {
        if (!arg) throw new UsageError(`${command} needs a USER_ID`);
        const backchannel = await endSessionsEverywhere();
        const actor = { id: 'cli' };
        if (command === 'users block') print(await directory.updateUser(arg, { blocked: true }, actor));
        else {
          await directory.deleteUser(arg, actor);
          print({ deleted: arg });
        }
        await backchannel.settled();
        return;
      }
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } finally {
    await database.close();
  }
}
