/**
 * The tenant under test, in its own process (spawned by bench/run.ts) so the load generator
 * and the server never share a core. Configured from the environment exactly like `npm start`
 * (DATA_DIR, TENANT_PORT, LOG_LEVEL, MANAGEMENT_RATE_LIMIT_PER_MINUTE…); prints one
 * `READY <port>` line once listening.
 */
import { loadTenantConfig } from '../src/tenant/tenant-config.ts';
import { createLogger } from '../src/platform/logger.ts';
import { createTenant } from '../src/tenant/tenant.ts';
import { answerMemoryProbes } from './live-memory.ts';

const config = loadTenantConfig();
const tenant = await createTenant({ config, logger: createLogger(config.logLevel) });
const server = tenant.app.listen(config.port, config.host, () => {
  process.stdout.write(`READY ${config.port}\n`);
});
server.keepAliveTimeout = 60_000;
const stop = () => {
  server.closeAllConnections();
  server.close(() => {
    void tenant.close().then(() => process.exit(0));
  });
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
answerMemoryProbes();
