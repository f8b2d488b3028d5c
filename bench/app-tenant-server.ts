/**
 * The tenant under the app benchmarks (bench/app-bench.ts), in its own process. Built like
 * bench/login-server.ts (createTenant on a fresh SQLite file in a temp dir, LOG_LEVEL silent,
 * outbox mail, the demo IdP on, limits raised so only the code paths are measured), listening
 * on 127.0.0.1 with `config.url` exactly that address.
 *
 * Then it registers each app of APP_BENCH_APP_URLS (comma-separated) as src/embedded-wiring.ts
 * does for `npm start` — a code-flow web client with `/callback` and `/link/callback`, and a
 * client-credentials client with APP_MANAGEMENT_SCOPES — but under names of its own per app:
 * `provision` rotates the secret of a same-named client, so wireEmbeddedApp called twice
 * would leave the first app with a dead secret. With APP_BENCH_PEER_URL it registers the peer
 * (bench/peer-sample-server.ts) as Auth0's linking sample is registered: one client with the
 * implicit grant (its sign-in) and client credentials (its Management API calls). Prints one
 * line `READY {"url","wirings":[EmbeddedTenantWiring…],"peer"?:{clientId,clientSecret}}` (the
 * wirings in the order of the URLs).
 */
import type { EmbeddedTenantWiring } from '../src/app/app-config.ts';
import { APP_MANAGEMENT_SCOPES } from '../src/embedded-wiring.ts';
import { createLogger } from '../src/platform/logger.ts';
import { createTenant } from '../src/tenant/tenant.ts';
import { benchTenantListener, stopWithParent } from './support.ts';

const appUrls = (process.env.APP_BENCH_APP_URLS ?? '').split(',').filter(Boolean);
for (const appUrl of appUrls) {
  if (new URL(appUrl).hostname !== '127.0.0.1') throw new Error(`app URLs must be on 127.0.0.1: ${appUrl}`);
}

const { server, config, dataDir } = await benchTenantListener('app-bench-tenant', 100_000_000);
const { url } = config;

const tenant = await createTenant({ config, logger: createLogger('silent') });
const wirings: EmbeddedTenantWiring[] = [];
for (const [index, appUrl] of appUrls.entries()) {
  const web = await tenant.clients.provision({
    name: `Accord app ${index} (bench)`,
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: [],
    redirectUris: [`${appUrl}/callback`, `${appUrl}/link/callback`],
    postLogoutRedirectUris: [`${appUrl}/`],
  });
  const machine = await tenant.clients.provision({
    name: `Accord app ${index} (bench, Management API)`,
    grantTypes: ['client_credentials'],
    scopes: APP_MANAGEMENT_SCOPES,
  });
  wirings.push({
    issuer: url,
    clientId: web.client_id,
    clientSecret: web.client_secret,
    managementClientId: machine.client_id,
    managementClientSecret: machine.client_secret,
  });
}

const peerUrl = process.env.APP_BENCH_PEER_URL;
let peer: { clientId: string; clientSecret: string } | undefined;
if (peerUrl) {
  if (new URL(peerUrl).hostname !== '127.0.0.1') throw new Error(`the peer URL must be on 127.0.0.1: ${peerUrl}`);
  const client = await tenant.clients.provision({
    name: 'Auth0 linking sample (bench peer)',
    grantTypes: ['implicit', 'client_credentials'],
    scopes: ['read:users'],
    redirectUris: [`${peerUrl}/callback`],
    postLogoutRedirectUris: [peerUrl],
  });
  peer = { clientId: client.client_id, clientSecret: client.client_secret };
}

server.on('request', tenant.app);
server.keepAliveTimeout = 60_000;
process.stdout.write(`READY ${JSON.stringify({ url, wirings, peer })}\n`);

stopWithParent(server, { close: () => tenant.close(), dataDir, onStdinEnd: true });
