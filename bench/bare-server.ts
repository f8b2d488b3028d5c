/**
 * The baselines: bare Express 5 JSON endpoints in their own process like the tenant. Prints
 * `READY <port>` once listening on BARE_PORT.
 *
 * - `GET /x`: a small user-like object, users-by-email's floor.
 * - `POST /api/v2/users/:id/identities` and `DELETE /api/v2/users/:id/identities/:provider/:user_id`:
 *   link + unlink's floor, the same two requests the bench sends the tenant, answered as the
 *   tenant answers them (201 with the primary's two identities, 200 with its one) after
 *   Express's own JSON body parser, with no token check, no database and no other work.
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

const main = user.identities[0]!;
const linkedIdentity = (provider: string, userId: string) => ({
  provider,
  user_id: userId,
  connection: provider,
  isSocial: false,
  profileData: { email: 'jane.doe@example.com', name: 'jane.doe@example.com', nickname: 'jane.doe', email_verified: false },
});
app.post('/api/v2/users/:id/identities', express.json(), (req, res) => {
  const body = req.body as { provider?: unknown; user_id?: unknown };
  res.status(201).json([main, linkedIdentity(String(body.provider), String(body.user_id))]);
});
app.delete('/api/v2/users/:id/identities/:provider/:user_id', (_req, res) => {
  res.status(200).json([main]);
});

const server = app.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${port}\n`);
});
server.keepAliveTimeout = 60_000;
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
