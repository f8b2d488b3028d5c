import { Router } from 'express';
import { z } from 'zod';
import { appError, isAppError } from '../app-errors.ts';
import { refuseIfBlocked } from '../auth/active-user.ts';
import { type Candidate, type CandidateFinder, SuggestionCheck } from '../linking/candidates.ts';
import type { KeptSeparate } from '../linking/kept-separate.ts';
import type { Auth0LogEvent, Auth0User, ManagementClient } from '../management/management-client.ts';
import { connectionLabel, describeAccount, formatDate } from '../web/display.ts';
import { type AppRouteContext, appRoute, isRecentSignIn } from '../web/app-route.ts';
import { redirectAfterSave, saveSession } from '../web/redirect.ts';

export interface ProfileRoutesOptions {
  management: ManagementClient;
  finder: CandidateFinder;
  keptSeparate: KeptSeparate;
  /** The suggested-linking check after sign-in, when it is on: this page makes it with its own candidates read. */
  suggestions: SuggestionCheck | undefined;
  recentLoginMaxAge: number;
  restoreMetadataOnUnlink: boolean;
}

const unlinkForm = z.object({ provider: z.string().min(1).max(128), user_id: z.string().min(1).max(512) });

/** Link and unlink events of a user, in words, newest first. */
function linkingHistory(events: Auth0LogEvent[]): HistoryEntry[] {
  return events
    .filter((e) => /link/i.test(e.type) || /link/i.test(e.description ?? ''))
    .slice(0, 20)
    .map((e) => {
      const connection = typeof e.details?.connection === 'string' ? e.details.connection : undefined;
      const unlinked = /unlink/i.test(e.type) || /unlink/i.test(e.description ?? '');
      const description = connection ? `${unlinked ? 'Unlinked' : 'Linked'} a sign-in method: ${connectionLabel(connection)}` : (e.description ?? e.type);
      return { date: formatDate(e.date), time: e.date, description };
    });
}

interface HistoryEntry {
  date: string;
  time: string;
  description: string;
}

/**
 * The history of a read of the logs: the read cache hands every page the same events until it
 * reads them again, and the history is theirs alone (formatting nothing of the moment).
 */
const histories = new WeakMap<Auth0LogEvent[], HistoryEntry[]>();
function historyOf(events: Auth0LogEvent[]): HistoryEntry[] {
  let history = histories.get(events);
  if (!history) {
    history = linkingHistory(events);
    histories.set(events, history);
  }
  return history;
}

/** The last profile page rendered from a read of the user, and what else it was rendered from. */
interface ProfileReads {
  user: Auth0User;
  /** Every current candidate, those kept separate included. */
  accounts: Candidate[];
  kept: Awaited<ReturnType<KeptSeparate['list']>>;
  /** The candidates to suggest: `accounts` but those kept separate. */
  candidates: Candidate[];
  logs: Auth0LogEvent[] | undefined;
}

interface RenderedProfile {
  logs: Auth0LogEvent[] | undefined;
  recentLogin: boolean;
  csrfToken: unknown;
  path: unknown;
  html: string;
}

/** The profile: identities, unlink, suggestions, kept-separate pairs and linking history. */
export function profileRoutes(options: ProfileRoutesOptions): Router {
  const { management, finder, keptSeparate } = options;
  const router = Router();
  // Held by the read of the user: a new read (after any write, or the read cache's TTL) renders anew.
  const rendered = new WeakMap<Auth0User, RenderedProfile>();

  /** The page, from reads made: sent again as last rendered when nothing it shows has changed. */
  const show = (ctx: AppRouteContext<undefined>, page: ProfileReads): void => {
    const { req, res, next, user: me } = ctx;
    const { user, accounts, kept, candidates, logs } = page;
    const recentLogin = isRecentSignIn(me, options.recentLoginMaxAge);
    // Without accounts to show (most people), the page is a function of the reads, the
    // recent sign-in, the CSRF token and the path: a reload while the read cache hands out the
    // same reads is the same bytes. A flash is shown once, so a page with one is not kept.
    const keepable = accounts.length === 0 && req.session.flash === undefined;
    const { csrfToken, path } = res.locals as { csrfToken: unknown; path: unknown };
    if (keepable) {
      const last = rendered.get(user);
      if (last && last.logs === logs && last.recentLogin === recentLogin && last.csrfToken === csrfToken && last.path === path) {
        res.send(last.html);
        return;
      }
    }
    // A choice is shown only while its account is still a candidate: nothing of an account
    // that no longer is one (deleted, linked, its email changed or unverified) or never was.
    const keptAccounts = kept.flatMap((k) => {
      const account = accounts.find((a) => a.user_id === k.candidate_id);
      return account ? [{ candidate_id: k.candidate_id, since: formatDate(k.created_at), ...describeAccount(account) }] : [];
    });
    res.render(
      'app/profile',
      {
        title: 'Your profile',
        user,
        identities: user.identities.map((identity, index) => ({
          ...identity,
          main: index === 0,
          method: connectionLabel(identity.connection),
          email: (index === 0 ? user.email : identity.profileData?.email) ?? '',
        })),
        recentLogin,
        candidates: candidates.map(describeAccount),
        kept: keptAccounts,
        history: logs ? historyOf(logs) : undefined,
        restoreMetadata: options.restoreMetadataOnUnlink,
        created: formatDate(user.created_at),
      },
      (err, html) => {
        if (err) return next(err);
        if (keepable) rendered.set(user, { logs, recentLogin, csrfToken, path, html });
        res.send(html);
      },
    );
  };

  /** Every read of the page, waited for: some are not in the read cache, or a check is due. */
  const readAndShow = async (ctx: AppRouteContext<undefined>): Promise<void> => {
    const { req, res, user: me } = ctx;
    // The check's fresh read, when one is due, goes to the tenant beside the read of the user.
    options.suggestions?.lookAhead(req);
    let user: Auth0User;
    try {
      user = await management.getUser(me.user_id);
    } catch (err) {
      // The account was merged into another one (from another browser): this session is over.
      if (isAppError(err, 'inexistent_user')) {
        req.logOut(() => res.redirect(303, '/?ended=1'));
        return;
      }
      throw err;
    }
    await refuseIfBlocked(req, res, user);
    const suggestions = options.suggestions;
    const check = suggestions?.due(req);
    const logsRead = management.userLogs(me.user_id, { perPage: 50 }).catch(() => undefined);
    // The check's fresh read is this page's; should it fail, the page reads as it does otherwise.
    const accountsRead: Promise<Candidate[]> = check
      ? check.candidates.catch((err: unknown) => {
          suggestions?.failed(err);
          return finder.findAll(me);
        })
      : finder.findAll(me);
    // The kept-separate choices matter only beside candidates: without any, none is read.
    const keptRead = accountsRead.then(async (found) => ({ accounts: found, kept: found.length > 0 ? await keptSeparate.list(me.user_id) : [] }));
    const [{ kept, accounts }, logs] = await Promise.all([keptRead, logsRead, check?.cleared]);
    const keptIds = new Set(kept.map((k) => k.candidate_id));
    const candidates = accounts.filter((a) => !keptIds.has(a.user_id));
    // The session is stored without the check's marker (`cleared`) before either answer.
    if (check && candidates.length > 0) {
      res.redirect(303, SuggestionCheck.pageFor(check.returnTo));
      return;
    }
    show(ctx, { user, accounts, kept, candidates, logs });
  };

  router.get(
    '/profile',
    appRoute({}, (ctx) => {
      // A reload (most pages): the read cache has every read at hand, no check is due and there
      // are no candidates (whose kept-separate choices are read from the database), so the page
      // is answered at once, as the reads above would answer it, without a promise per read.
      const user = management.cachedUser(ctx.user.user_id);
      if (user && user.blocked !== true && !ctx.req.session.suggestions) {
        const logs = management.cachedUserLogs(ctx.user.user_id, 50);
        const accounts = logs && finder.cachedAll(ctx.user);
        if (accounts?.length === 0) return show(ctx, { user, accounts, kept: [], candidates: accounts, logs });
      }
      return readAndShow(ctx);
    }),
  );

  router.post(
    '/profile/unlink',
    appRoute(
      {
        form: unlinkForm,
        formError: 'Choose an account to unlink.',
        // The user is always the session's, as the tenant has it now; the form only names one of its own identities.
        activeUser: management,
        recentLogin: {
          maxAge: options.recentLoginMaxAge,
          stale: ({ req, res, next }) => {
            req.session.flash = { kind: 'info', text: 'For your security, sign in again to confirm it is you, then choose Unlink again.' };
            redirectAfterSave(req, res, next, '/login?fresh=1&returnTo=%2Fprofile');
          },
        },
      },
      async ({ req, res, user: me, form, account }) => {
        const identities = account?.identities ?? [];
        const index = identities.findIndex((i) => i.provider === form.provider && i.user_id === form.user_id);
        const identity = identities[index];
        if (!identity) throw appError('inexistent_identity', 'That account is not linked to your profile.');
        if (index === 0)
          throw appError('unlink_main_identity', 'This is the account your profile belongs to, so it cannot be unlinked. Unlink the others instead.');
        await management.unlinkIdentity(me.user_id, identity.provider, identity.user_id, { restoreMetadata: options.restoreMetadataOnUnlink });
        const label = connectionLabel(identity.connection);
        // A new session id after an unlink too.
        await new Promise<void>((resolve, reject) => req.logIn(me, (err) => (err ? reject(err) : resolve())));
        req.session.flash = {
          kind: 'success',
          text: `Unlinked. Your ${label} sign-in is a separate account again${options.restoreMetadataOnUnlink ? ', with the profile information it had when it was linked' : ', without any profile information'}. Signing in with it no longer opens this profile.`,
        };
        await saveSession(req);
        res.redirect(303, '/profile');
      },
    ),
  );

  return router;
}
