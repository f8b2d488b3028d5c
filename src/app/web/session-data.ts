import type { SessionUser } from '../auth/tenant-oidc.ts';
import type { LinkProof, LinkTicket, PendingLinkStart } from '../linking/link-tickets.ts';

/** What the app keeps in a browser's session, in one place. */
declare module 'express-session' {
  interface SessionData {
    /** Where to go after sign-in (a same-origin path, checked when stored). */
    returnTo: string;
    /**
     * Set at sign-in: the suggested-linking check runs once, on the first page (`firstPage`, where
     * the sign-in sends the browser) or on the profile that page sends the browser on to.
     */
    suggestions: { firstPage: string };
    /** A link started on a sign-in that was not recent: it continues after a fresh one. */
    pendingLinkStart: PendingLinkStart;
    linkTicket: LinkTicket;
    linkProof: LinkProof;
    /** The link this browser started last: a later step of it that finds no ticket says so, and offers to start it again. */
    lastLink: { userId: string; start: PendingLinkStart['start']; linked?: boolean };
    /** A one-time message for the next page. */
    flash: { kind: 'success' | 'info' | 'error'; text: string };
  }
}

declare global {
  namespace Express {
    interface User extends SessionUser {
      /** Sent back to the tenant as id_token_hint at sign-out. */
      id_token?: string | undefined;
    }
  }
}

export {};
