import { Router } from 'express';
import type { OutboxMailer } from './mailer.ts';

/** `/dev/mail` (HTML) and `/dev/mail.json`: the development outbox, newest first. */
export function devMailRoutes(outbox: OutboxMailer): Router {
  const router = Router();
  router.get('/dev/mail.json', async (_req, res) => {
    res.set('Cache-Control', 'no-store').json(await outbox.list());
  });
  router.get('/dev/mail', async (_req, res) => {
    res.set('Cache-Control', 'no-store').render('tenant/dev-mail', { title: 'Development outbox', messages: await outbox.list() });
  });
  return router;
}
