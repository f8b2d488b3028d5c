import assert from 'node:assert/strict';
import type { Express } from 'express';
import supertest from 'supertest';
import { formsOf, type Form } from './html-forms.ts';

export interface Page {
  url: string;
  status: number;
  text: string;
  headers: Record<string, string>;
}

/**
 * A browser for the app and the tenant at once: one cookie jar per origin, redirects
 * followed across origins as a person's browser would, forms submitted with their hidden
 * fields.
 */
export class WebBrowser {
  private readonly agents = new Map<string, ReturnType<typeof supertest.agent>>();
  page: Page = { url: 'about:blank', status: 0, text: '', headers: {} };
  /** Every URL visited, for asserting where the flow went. */
  readonly history: string[] = [];

  /**
   * Each origin is an in-process app, or the URL of a server that listens (its own Host then
   * matches). `ca`: the PEM certificate of the CA that https origins' certificates chain to.
   */
  constructor(origins: Record<string, Express | string>, options: { ca?: string } = {}) {
    for (const [origin, app] of Object.entries(origins)) this.agents.set(origin, supertest.agent(app, options.ca ? { ca: options.ca } : {}));
  }

  private agentFor(url: URL) {
    const agent = this.agents.get(url.origin);
    assert.ok(agent, `the browser left Accord for ${url.href}`);
    return agent;
  }

  private async settle(
    method: 'GET' | 'POST',
    url: URL,
    body?: Record<string, string>,
    extraHeaders: Record<string, string> = {},
    follow = true,
  ): Promise<Page> {
    let current = url;
    let res = await this.send(method, current, body, extraHeaders);
    for (let hops = 0; follow && [301, 302, 303, 307].includes(res.status); hops++) {
      assert.ok(hops < 20, 'too many redirects');
      current = new URL(res.headers.location!, current);
      res = await this.send('GET', current);
    }
    this.page = { url: current.href, status: res.status, text: res.text ?? '', headers: res.headers as Record<string, string> };
    // oidc-provider's self-submitting form (switching accounts ends the old tenant session): a
    // browser runs its script; this one submits the form as the script would.
    if (follow && res.status === 200 && /document\.forms\[0\]\.submit\(\)/.test(this.page.text)) {
      const form = formsOf(this.page.text)[0]!;
      return this.settle('POST', new URL(form.action, current), form.fields);
    }
    return this.page;
  }

  private async send(method: 'GET' | 'POST', url: URL, body?: Record<string, string>, extraHeaders: Record<string, string> = {}) {
    this.history.push(`${method} ${url.href}`);
    const agent = this.agentFor(url);
    const path = url.pathname + url.search;
    const req =
      method === 'GET'
        ? agent.get(path)
        : agent
            .post(path)
            .type('form')
            .send(body ?? {});
    for (const [k, v] of Object.entries(extraHeaders)) req.set(k, v);
    return req.redirects(0);
  }

  open(url: string, options: { follow?: boolean } = {}): Promise<Page> {
    return this.settle('GET', new URL(url, this.page.url === 'about:blank' ? undefined : this.page.url), undefined, {}, options.follow ?? true);
  }

  /** The form of the current page whose action matches (and, if given, whose hidden fields match). */
  form(action: string | RegExp, where: Record<string, string> = {}): Form {
    const forms = formsOf(this.page.text).filter(
      (f) => (typeof action === 'string' ? f.action === action : action.test(f.action)) && Object.entries(where).every(([k, v]) => f.fields[k] === v),
    );
    assert.ok(forms.length > 0, `no form ${action} ${JSON.stringify(where)} on ${this.page.url}:\n${this.page.text.slice(0, 1500)}`);
    return forms[0]!;
  }

  /** Submits a form of the current page, typing `fields` into it, and follows the redirects. */
  submit(
    action: string | RegExp,
    fields: Record<string, string> = {},
    options: { where?: Record<string, string>; headers?: Record<string, string>; follow?: boolean } = {},
  ): Promise<Page> {
    const form = this.form(action, options.where);
    return this.settle('POST', new URL(form.action, this.page.url), { ...form.fields, ...fields }, options.headers, options.follow ?? true);
  }

  /** A raw POST, as an attacker's page or a replayed request would send it. */
  post(url: string, body: Record<string, string>, headers: Record<string, string> = {}, follow = false): Promise<Page> {
    return this.settle('POST', new URL(url, this.page.url), body, headers, follow);
  }

  /** The value of a cookie this browser holds for `origin`. */
  cookie(origin: string, name: string): string | undefined {
    const agent = this.agents.get(origin);
    const jar = (agent as unknown as { jar: { getCookie(name: string, access: unknown): { value: string } | undefined } }).jar;
    const url = new URL(origin);
    return jar.getCookie(name, { domain: url.hostname, path: '/', secure: url.protocol === 'https:', script: false })?.value;
  }
}
