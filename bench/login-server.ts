/**
 * The tenant under the login benchmark (bench/logins.ts), in its own process. Builds it with
 * createTenant on a fresh SQLite file in a temp dir (LOG_LEVEL silent, outbox mail, the demo
 * IdP on, very high database-connection sign-in limits), listens on 127.0.0.1 with a free
 * port, and publishes `config.url` as exactly that address. Registers one relying party (code
 * + PKCE) and one client-credentials client, then prints one line
 * `READY {"url","sqliteFile","rp":{…},"m2m":{…}}` for the parent. Nothing extra is served.
 */
import { createLogger } from '../src/platform/logger.ts';
import { createTenant } from '../src/tenant/tenant.ts';
import { BENCH_REDIRECT_URI, benchTenantListener, stopWithParent } from './support.ts';

const { server, config, dataDir } = await benchTenantListener('login-bench', 10_000_000);
const { url, sqliteFile } = config;

const tenant = await createTenant({ config, logger: createLogger('silent') });
const rp = await tenant.clients.create({
  name: 'bench-rp',
  grantTypes: ['authorization_code', 'refresh_token'],
  scopes: [],
  redirectUris: [BENCH_REDIRECT_URI],
});
const m2m = await tenant.clients.create({ name: 'bench-m2m', grantTypes: ['client_credentials'], scopes: ['read:users'] });

server.on('request', tenant.app);
server.keepAliveTimeout = 60_000;
process.stdout.write(
  `READY ${JSON.stringify({
    url,
    sqliteFile,
    rp: { clientId: rp.client_id, clientSecret: rp.client_secret, redirectUri: BENCH_REDIRECT_URI },
    m2m: { clientId: m2m.client_id, clientSecret: m2m.client_secret, audience: `${url}/api/v2/` },
  })}\n`,
);

// Spawned by bench/logins.ts: when the parent goes away without a signal, do not outlive it.
stopWithParent(server, { close: () => tenant.close(), dataDir, onStdinEnd: process.env.LOGIN_BENCH_PARENT_PIPE === '1' });
