import type { AuthenticateOptions } from 'passport';
import { Router, type Request } from 'express';
import type { Store } from 'express-rate-limit';
import { z } from 'zod';
import { appError, isAppError } from '../app-errors.ts';
import { epochSeconds } from '../../platform/time.ts';
import { activeUser } from '../auth/active-user.ts';
import { LINK_STRATEGY, type AppPassport, type TenantAuthenticateOptions } from '../auth/tenant-oidc.ts';
import type { ManagementClient } from '../management/management-client.ts';
import type { OnceClaims } from '../sessions/once-claims.ts';
import { appRoute, isRecentSignIn } from '../web/app-route.ts';
import { connectionLabel, describeAccount, describeProvenAccount } from '../web/display.ts';
import { redirectAfterSave, saveSession } from '../web/redirect.ts';
import { safeReturnTo } from '../web/return-to.ts';
import type { AccountLinker } from './account-linker.ts';
import { linkAttemptLimiter } from './link-attempt-limit.ts';
import { linkCallback } from './link-callback.ts';
import { linkGone } from './link-expired.ts';
import { choosePrimary } from './link-policy.ts';
import { toCandidate, type CandidateFinder } from './candidates.ts';
import type { KeptSeparate } from './kept-separate.ts';
import { issueTicket, type LinkProof, type PendingLinkStart } from './link-tickets.ts';

export interface LinkingRoutesOptions {
  passport: AppPassport;
  management: ManagementClient;
  finder: CandidateFinder;
  keptSeparate: KeptSeparate;
  linker: AccountLinker;
  /** One confirm of a proof acts, whichever app process the others reach. */
  claims: OnceClaims;
  linkMaxAge: number;
  /** Seconds since the current account's sign-in within which a link may start without a new one. */
  recentLoginMaxAge: number;
  linkAttemptsPer15Min: number;
  /** Where link attempts are counted (linkAttemptStore); in this process when undefined. */
  linkAttemptStore: Store | undefined;
}

/** Seconds the person has to confirm the merge preview after proving control of the other account. */
const PROOF_TTL = 600;
/** Seconds a link started on a stale sign-in waits for the fresh one. */
const PENDING_START_TTL = 300;

const candidateForm = z.object({ candidate: z.string().min(1).max(512), returnTo: z.string().max(2048).optional() });
const startForm = z.union([z.object({ candidate: z.string().min(1).max(512) }), z.object({ connection: z.string().regex(/^[\w.-]{1,128}$/) })]);
const confirmForm = z.object({ primary: z.enum(['current', 'other']) });

/** What the start form asked for, without anything else the form carried. */
const startOf = (form: z.infer<typeof startForm>): PendingLinkStart['start'] =>
  'candidate' in form ? { candidate: form.candidate } : { connection: form.connection };

function flash(req: Request, kind: 'success' | 'info' | 'error', text: string): void {
  req.session.flash = { kind, text };
}

/** The proof of the current link, if it belongs to this session's user and is still fresh. */
function currentProof(req: Request, user: Express.User): LinkProof {
  const proof = req.session.linkProof;
  if (!proof || proof.currentId !== user.user_id || epochSeconds() - proof.provenAt > PROOF_TTL) {
    throw linkGone(req);
  }
  return proof;
}

/** Suggested and user-initiated linking: suggestions, proof of control, merge preview, confirm. Mounted at /link. */
export function linkingRoutes(options: LinkingRoutesOptions): Router {
  const { passport, management, finder, keptSeparate, linker, claims } = options;
  const router = Router();
  const attempts = linkAttemptLimiter({ limit: options.linkAttemptsPer15Min, store: options.linkAttemptStore });

  router.get(
    '/suggestions',
    appRoute({}, async ({ req, res, user }) => {
      const returnTo = safeReturnTo(req.query.returnTo, '/profile');
      const candidates = await finder.find(user);
      if (candidates.length === 0) return res.redirect(303, returnTo);
      res.render('app/suggestions', { title: 'Link these accounts?', candidates: candidates.map(describeAccount), returnTo, email: user.email });
    }),
  );

  router.post(
    '/keep-separate',
    appRoute({ form: candidateForm }, async ({ req, res, next, user, form }) => {
      // Only a current candidate of this user, read fresh: a choice about any other account
      // would store its id and let the profile show that account (docs/security.md case 34).
      const candidates = await finder.findAll(user, { fresh: true });
      if (!candidates.some((c) => c.user_id === form.candidate)) {
        throw appError(
          'link_candidate_unknown',
          'That account is not one of the accounts we suggested linking, so there is nothing to keep separate. Nothing was changed.',
        );
      }
      await keptSeparate.keep(user.user_id, form.candidate);
      flash(req, 'info', 'We will not suggest linking that account again. You can change this on your profile.');
      redirectAfterSave(req, res, next, safeReturnTo(form.returnTo, '/profile'));
    }),
  );

  router.post(
    '/suggest-again',
    appRoute({ form: candidateForm }, async ({ req, res, next, user, form }) => {
      await keptSeparate.undo(user.user_id, form.candidate);
      flash(req, 'info', 'That account will be suggested for linking again.');
      redirectAfterSave(req, res, next, '/profile');
    }),
  );

  router.get(
    '/new',
    appRoute({}, async ({ res }) => {
      const connections = await management.connections();
      res.render('app/link-new', {
        title: 'Link another account',
        connections: connections.map((c) => ({ name: c.name, label: connectionLabel(c) })),
      });
    }),
  );

  /** A single-use ticket in the session for what the person chose; the fresh sign-in to the other account follows. */
  const issueLinkTicket = async (req: Request, user: Express.User, start: PendingLinkStart['start']) => {
    const now = epochSeconds();
    if ('candidate' in start) {
      const candidate = await finder.findOne(user, start.candidate);
      if (!candidate) throw appError('link_candidate_unknown');
      req.session.linkTicket = issueTicket(
        {
          mode: 'suggested',
          currentId: user.user_id,
          candidateId: candidate.user_id,
          connection: candidate.connection,
          loginHint: candidate.email,
        },
        now,
      );
    } else {
      const known = await management.connections();
      if (!known.some((c) => c.name === start.connection)) throw appError('invalid_body', 'That sign-in method does not exist.');
      req.session.linkTicket = issueTicket(
        { mode: 'user-initiated', currentId: user.user_id, candidateId: undefined, connection: start.connection, loginHint: undefined },
        now,
      );
    }
    delete req.session.linkProof;
    req.session.lastLink = { userId: user.user_id, start };
    // The proof signs in to the other account in this browser, and the tenant ends the tenant
    // session this one came from (oidc-provider, and Auth0, replace it): its back-channel logout
    // names that session. From here the app session follows its user only (every logout that
    // ends the user's sessions still ends it), not a tenant session the link itself replaces.
    delete user.sid;
  };

  // Starting a link needs a recent sign-in of the current account (as unlinking does): a session
  // that outlived its owner's control must not add a way in. Otherwise the person signs in
  // again first and the link continues at /link/resume.
  router.post(
    '/start',
    attempts,
    appRoute(
      {
        form: startForm,
        activeUser: management,
        recentLogin: {
          maxAge: options.recentLoginMaxAge,
          // No message: the tenant's page asks for the sign-in, and the next app page is the link's own.
          stale: ({ req, res, next, user, form }) => {
            req.session.pendingLinkStart = { userId: user.user_id, start: startOf(form), createdAt: epochSeconds() };
            redirectAfterSave(req, res, next, `/login?fresh=1&returnTo=${encodeURIComponent('/link/resume')}`);
          },
        },
      },
      async ({ req, res, next, user, form }) => {
        await issueLinkTicket(req, user, startOf(form));
        redirectAfterSave(req, res, next, '/link/authorize');
      },
    ),
  );

  // After the fresh sign-in a stale /link/start asked for: the link it kept goes on, once.
  router.get(
    '/resume',
    appRoute({}, async ({ req, res, next, user }) => {
      const pending = req.session.pendingLinkStart;
      delete req.session.pendingLinkStart;
      if (!pending || pending.userId !== user.user_id || epochSeconds() - pending.createdAt > PENDING_START_TTL) {
        flash(req, 'info', 'The link you started has expired, or was started by another sign-in, so nothing was linked. Start it again if you still want to.');
        return redirectAfterSave(req, res, next, '/profile');
      }
      if (!isRecentSignIn(user, options.recentLoginMaxAge)) {
        await saveSession(req);
        throw appError(
          'recent_login_required',
          'That sign-in was not recent enough to start a link, so nothing was linked. Start the link again and sign in when asked.',
        );
      }
      await activeUser(req, res, management);
      await issueLinkTicket(req, user, pending.start);
      redirectAfterSave(req, res, next, '/link/authorize');
    }),
  );

  // The strategy starts an authorization request only on a GET; the ticket says what to ask for.
  router.get(
    '/authorize',
    appRoute({}, ({ req, res, next, user }) => {
      const ticket = req.session.linkTicket;
      if (!ticket || ticket.currentId !== user.user_id) throw linkGone(req);
      const linkOptions: TenantAuthenticateOptions = {
        connection: ticket.connection,
        prompt: 'login',
        maxAge: options.linkMaxAge,
        ...(ticket.loginHint ? { loginHint: ticket.loginHint } : {}),
      };
      passport.authenticate(LINK_STRATEGY, linkOptions as AuthenticateOptions)(req, res, next);
    }),
  );

  // The other account's sign-in comes back here (link-callback.ts: the proof, step by step).
  router.get('/callback', attempts, linkCallback({ passport, management, linkMaxAge: options.linkMaxAge }));

  router.get(
    '/preview',
    appRoute({}, async ({ req, res, user }) => {
      const proof = currentProof(req, user);
      const [current, other] = await Promise.all([
        management.getUser(proof.currentId, { fresh: true }),
        management.getUser(proof.other.user_id, { fresh: true }),
      ]);
      const { primary: primaryChoice, canSwitch } = choosePrimary(req.query.primary === 'other' ? 'other' : 'current', current, other);
      const plan = primaryChoice === 'current' ? linker.planOf(current, other) : linker.planOf(other, current);
      // Both accounts are proven (the current by its sign-in, the other just now): full addresses.
      const describe = (u: typeof current) => describeProvenAccount(toCandidate(u));
      res.render('app/preview', {
        title: 'Review and link',
        primaryChoice,
        canSwitch,
        current: describe(current),
        other: describe(other),
        merged: plan.merged,
        changes: plan.changes,
      });
    }),
  );

  router.post(
    '/confirm',
    appRoute({ form: confirmForm, activeUser: management }, async ({ req, res, user, form }) => {
      const proof = currentProof(req, user);
      // Single use, atomically: concurrent confirms (a double click, two tabs) all read the proof
      // from the session before any removes it, so one claim in the shared store decides which
      // one acts. The others change nothing, not even the session.
      const claimKey = `link-proof:${proof.ticketId}`;
      if (!(await claims.claim(claimKey, PROOF_TTL))) throw appError('link_confirm_taken');
      delete req.session.linkProof;
      // The primary is one of the two proven accounts, chosen by role, never by an id from the form.
      const keepOther = form.primary === 'other';
      const primaryId = keepOther ? proof.other.user_id : proof.currentId;
      const secondaryId = keepOther ? proof.currentId : proof.other.user_id;
      try {
        await linker.link(primaryId, secondaryId, { requireVerifiedEmails: proof.mode === 'suggested' });
      } catch (err) {
        // Refused before anything changed: the person may try again with the same proof.
        if (isAppError(err) && err.code !== 'link_failed' && err.code !== 'link_confirm_taken') {
          req.session.linkProof = proof;
          await claims.release(claimKey);
        }
        throw err;
      }
      const signedIn: Express.User = keepOther ? proof.other : user;
      const lastLink = req.session.lastLink;
      const message = keepOther
        ? 'Accounts linked. You are now signed in to the account you chose to keep; both sign-in methods lead to it.'
        : 'Accounts linked. Both sign-in methods now lead to this account.';
      // A new session id after a link, whichever account stays.
      await new Promise<void>((resolve, reject) => req.logIn(signedIn, (err) => (err ? reject(err) : resolve())));
      flash(req, 'success', message);
      // A page of this link opened again (the back button, a second click) says it is complete.
      if (lastLink) req.session.lastLink = { ...lastLink, userId: signedIn.user_id, linked: true };
      await saveSession(req);
      res.redirect(303, '/profile');
    }),
  );

  router.post(
    '/cancel',
    appRoute({}, ({ req, res, next }) => {
      delete req.session.linkProof;
      delete req.session.linkTicket;
      flash(req, 'info', 'Nothing was linked.');
      redirectAfterSave(req, res, next, '/profile');
    }),
  );

  return router;
}
