/**
 * The baseline: a bare Express 5 JSON endpoint returning a small user-like object, in its
 * own process like the tenant. Prints `READY <port>` once listening on BARE_PORT.
 */
import express from 'express';

const port = Number(process.env.BARE_PORT);
const app = express();
const user = {
  user_id: 'auth0|65a1f0c2e4b0a1b2c3d4e5f6',
  email: 'jane.doe@example.com',
  email_verified: true,
  name: 'jane.doe@example.com',
  nickname: 'jane.doe',
  created_at: '2024-01-01T00:00:00.000Z',
  updated_at: '2024-01-01T00:00:00.000Z',
  logins_count: 0,
  blocked: false,
  identities: [{ provider: 'auth0', user_id: '65a1f0c2e4b0a1b2c3d4e5f6', connection: 'Username-Password-Authentication', isSocial: false }],
  user_metadata: {},
  app_metadata: {},
};
app.get('/x', (_req, res) => {
  res.json([user]);
});
const server = app.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${port}\n`);
});
server.keepAliveTimeout = 60_000;
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
