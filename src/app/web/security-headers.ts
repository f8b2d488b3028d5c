import type { RequestHandler } from 'express';
import helmet from 'helmet';

/**
 * The app's security headers (Helmet), in one place: the app and its benchmark floor use these.
 * `tenantOrigin` may serve images: the user's `picture` is the tenant's default avatar unless an
 * upstream provider gave one, and those (Google's, Gravatar's) are served over https.
 */
export function securityHeaders(tenantOrigin?: string): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      directives: {
        'frame-ancestors': ["'none'"],
        // No form-action: browsers apply it to every redirect after a POST, and starting a link
        // (POST) ends at whichever IdP the connection uses (Google, an OpenID provider…).
        'form-action': null,
        'img-src': ["'self'", 'data:', 'https:', ...(tenantOrigin ? [tenantOrigin] : [])],
      },
    },
    frameguard: { action: 'deny' },
    // Helmet's default, no-referrer, makes browsers send `Origin: null` on the app's own form
    // POSTs, which the CSRF check then refuses; same-origin still sends nothing to other sites.
    referrerPolicy: { policy: 'same-origin' },
  });
}
