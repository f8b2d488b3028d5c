import type { RequestHandler } from 'express';
import helmet from 'helmet';

/** The app's security headers (Helmet), in one place: the app and its benchmark floor use these. */
export function securityHeaders(): RequestHandler {
  return helmet({
    // No form-action: browsers apply it to every redirect after a POST, and starting a link
    // (POST) ends at whichever IdP the connection uses (Google, an OpenID provider…).
    contentSecurityPolicy: { directives: { 'frame-ancestors': ["'none'"], 'form-action': null } },
    frameguard: { action: 'deny' },
    // Helmet's default, no-referrer, makes browsers send `Origin: null` on the app's own form
    // POSTs, which the CSRF check then refuses; same-origin still sends nothing to other sites.
    referrerPolicy: { policy: 'same-origin' },
  });
}
