/**
 * One app under the app benchmarks (bench/app-bench.ts), in its own process, started the way
 * src/main.ts starts it next to an embedded tenant: `loadAppConfig(process.env, wiring)` with
 * the credentials bench/app-tenant-server.ts provisioned (APP_BENCH_WIRING, JSON), then
 * createApp and listen. Everything else comes from the environment exactly as in a
 * deployment (NODE_ENV, SESSION_SECRET, APP_URL, PORT, HOST, DATA_DIR, LINK_SUGGESTIONS…),
 * so the two apps of the benchmark differ only in LINK_SUGGESTIONS. Prints `READY <url>`.
 */
import type { Server } from 'node:http';
import { loadAppConfig, type EmbeddedTenantWiring } from '../src/app/app-config.ts';
import { createApp } from '../src/app/app.ts';
import { createLogger } from '../src/platform/logger.ts';
import { answerMemoryProbes } from './live-memory.ts';
import { stopWithParent } from './support.ts';

const wiring = JSON.parse(process.env.APP_BENCH_WIRING ?? 'null') as EmbeddedTenantWiring | null;
if (!wiring) throw new Error('APP_BENCH_WIRING is not set');
const config = loadAppConfig(process.env, wiring);
if (config.host !== '127.0.0.1' || new URL(config.url).hostname !== '127.0.0.1')
  throw new Error(`the bench app must stay on 127.0.0.1: ${config.host}, ${config.url}`);

const logger = createLogger(process.env.LOG_LEVEL ?? 'warn');
const app = await createApp({ config, logger });
const server = await new Promise<Server>((resolve, reject) => {
  const s = app.app.listen(config.port, config.host, () => resolve(s));
  s.once('error', reject);
});
server.keepAliveTimeout = 60_000;
process.stdout.write(`READY ${config.url}\n`);

stopWithParent(server, { close: () => app.close(), onStdinEnd: true });
answerMemoryProbes();
