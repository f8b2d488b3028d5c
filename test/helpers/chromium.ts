import assert from 'node:assert/strict';
import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import axe from 'axe-core';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { ROOT } from './processes.ts';

/** Debian's Chromium: `.ci/run` installs it; no browser is ever downloaded. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Why the browser tests cannot run here, or undefined when they can. `npm test` then skips
 * them and says why; `npm run test:e2e` (E2E_REQUIRED=1) fails instead, since a run of
 * only the browser tests that runs none would prove nothing.
 */
export function browserTestsUnavailable(): string | undefined {
  try {
    accessSync(CHROMIUM, constants.X_OK);
    return undefined;
  } catch {
    const reason = `${CHROMIUM} is not installed (apt-get install -y chromium; .ci/run does it)`;
    if (process.env.E2E_REQUIRED === '1') throw new Error(`Browser tests cannot run: ${reason}`);
    console.log(`# Browser tests skipped: ${reason}.`);
    return reason;
  }
}

/** `trustSpki`: the SPKI SHA-256 of a test certificate's key (tls.ts) that Chromium accepts for https, as if a trusted CA had signed it. */
export function launchChromium(options: { trustSpki?: string } = {}): Promise<Browser> {
  const trust = options.trustSpki ? [`--ignore-certificate-errors-spki-list=${options.trustSpki}`] : [];
  return chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', ...trust] });
}

export interface AxeViolation {
  id: string;
  impact: string;
  help: string;
  nodes: string[];
}

/** axe-core's serious and critical violations on the page as it is now. */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  // evaluate is not subject to the pages' CSP, which forbids injected <script> elements.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axe.source);
  return page.evaluate(async () => {
    const { violations } = await (window as unknown as { axe: typeof axe }).axe.run(document);
    return violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact!, help: v.help, nodes: v.nodes.map((n) => n.html) }));
  });
}

/** Screenshots and HTML of every open page of `context` under test-results/; returns their paths. */
export async function saveArtifacts(context: BrowserContext, name: string): Promise<string[]> {
  const dir = join(ROOT, 'test-results');
  mkdirSync(dir, { recursive: true });
  const base = `${name.replace(/[^\w-]+/g, '-').replace(/^-|-$/g, '')}-${Date.now()}`;
  const saved: string[] = [];
  for (const [index, page] of context.pages().entries()) {
    const file = join(dir, `${base}${context.pages().length > 1 ? `-${index + 1}` : ''}`);
    try {
      await page.screenshot({ path: `${file}.png`, fullPage: true });
      saved.push(relative(ROOT, `${file}.png`));
    } catch {
      /* a crashed or closed page has no picture; its HTML may still come */
    }
    try {
      writeFileSync(`${file}.html`, `<!-- ${page.url()} -->\n${await page.content()}`);
      saved.push(relative(ROOT, `${file}.html`));
    } catch {
      /* nothing more to save of this page */
    }
  }
  return saved;
}

/**
 * Where an action lands: a URL pattern, or (where one URL serves pages that go on by
 * themselves) a wait that returns once the page has settled where it will stay.
 */
export type Landing = RegExp | string | ((page: Page) => Promise<void>);

export type Target = { role: 'button' | 'link' | 'checkbox'; name: string | RegExp } | { label: string };

/**
 * A person at a browser tab. Each action ends on a page it expects (a URL pattern), and
 * every page it lands on is checked by axe (serious or critical violations fail at once,
 * on that page) and for browser errors (CSP refusals, failed stylesheets, script errors).
 * With `keyboard`, the person never touches a mouse: Tab moves the focus to each control
 * (which must show where the focus is), Enter follows a link, Space presses a button or
 * ticks a box, and text is typed.
 */
export class Person {
  /** Each page landed on: its title and URL, for the accessibility report. */
  readonly audited: { title: string; url: string }[] = [];
  /** Every URL the tab navigated to, redirects' ends included. */
  readonly visited: string[] = [];
  private readonly problems: string[] = [];

  constructor(
    readonly page: Page,
    private readonly options: { keyboard?: boolean } = {},
  ) {
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) this.visited.push(frame.url());
    });
    page.on('pageerror', (err) => this.problems.push(`script error: ${err.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' && !/Failed to load resource/.test(message.text())) this.problems.push(`console: ${message.text()}`);
    });
    page.on('response', (res) => {
      if (res.status() >= 400 && res.request().resourceType() !== 'document') this.problems.push(`${res.status()} for ${res.url()}`);
    });
  }

  get url(): string {
    return this.page.url();
  }

  /** Opens a URL, as typed into the address bar or followed from a mail. */
  async open(url: string, expect: RegExp | string = url): Promise<void> {
    await this.page.goto(url);
    await this.landed(expect);
  }

  /** The browser's back button: the page before is loaded again, and must be `expect`. */
  async back(expect: RegExp | string): Promise<void> {
    await this.page.goBack();
    await this.landed(expect);
  }

  locate(target: Target): Locator {
    return 'label' in target
      ? this.page.getByLabel(target.label, { exact: true })
      : this.page.getByRole(target.role, { name: target.name, exact: typeof target.name === 'string' });
  }

  /** Clicks (or, by keyboard, reaches and presses) a link or button, and waits to land on `expect`. */
  async press(target: Target, expect: Landing): Promise<void> {
    const navigated = this.page.waitForEvent('framenavigated', { predicate: (f) => f === this.page.mainFrame() });
    // If the action itself fails, that is the error to report, not this wait's later timeout.
    navigated.catch(() => {});
    if (this.options.keyboard) {
      await this.focus(target);
      // Enter follows a link; a button takes Space as well, which only a real <button> honours.
      await this.page.keyboard.press('role' in target && target.role === 'button' ? 'Space' : 'Enter');
    } else {
      await this.locate(target).click();
    }
    await navigated;
    await this.landed(expect);
  }

  /** Types `value` into an empty field (by mouse, replacing what it holds). */
  async type(label: string, value: string): Promise<void> {
    const field = this.locate({ label });
    if (!this.options.keyboard) return field.fill(value);
    await this.focus({ label });
    await this.page.keyboard.type(value);
    assert.equal(await field.inputValue(), value, `typed into "${label}"`);
  }

  /** Ticks or unticks a checkbox. */
  async check(name: string, checked: boolean): Promise<void> {
    const box = this.locate({ role: 'checkbox', name });
    if ((await box.isChecked()) === checked) return;
    if (!this.options.keyboard) return box.setChecked(checked);
    await this.focus({ role: 'checkbox', name });
    await this.page.keyboard.press('Space');
    assert.equal(await box.isChecked(), checked, `"${name}" ticked by Space`);
  }

  /** The words of the page's <main> (what a person reads), whitespace collapsed. */
  async mainText(): Promise<string> {
    return (await this.page.locator('main').innerText()).replace(/\s+/g, ' ').trim();
  }

  async heading(): Promise<string> {
    return (await this.page.getByRole('heading', { level: 1 }).innerText()).trim();
  }

  /** Tab (from wherever the focus is) until the target has the focus, and check that it shows. */
  private async focus(target: Target): Promise<void> {
    const element = this.locate(target);
    await element.waitFor();
    const path: string[] = [];
    for (let presses = 0; !(await element.evaluate((el) => el === document.activeElement)); presses++) {
      assert.ok(presses < 40, `Tab never reached ${JSON.stringify(target)} on ${this.url}; focus went: ${path.join(' → ')}`);
      await this.page.keyboard.press('Tab');
      path.push(
        await this.page.evaluate(() => {
          const el = document.activeElement;
          return el ? `${el.tagName.toLowerCase()} "${(el.textContent || (el as HTMLInputElement).name || '').trim().slice(0, 30)}"` : 'nothing';
        }),
      );
    }
    const indicator = await element.evaluate((el) => {
      const style = getComputedStyle(el);
      return { outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0, shadow: style.boxShadow !== 'none' };
    });
    assert.ok(indicator.outline || indicator.shadow, `${JSON.stringify(target)} on ${this.url} has the focus but shows no focus indicator`);
  }

  private async landed(expect: Landing): Promise<void> {
    if (typeof expect === 'function') {
      await expect(this.page);
      await this.page.waitForLoadState('load');
    } else {
      await this.page.waitForURL(expect, { waitUntil: 'load' });
    }
    const title = await this.page.title();
    const violations = await axeViolations(this.page);
    this.audited.push({ title, url: this.url });
    assert.deepEqual(violations, [], `accessibility violations (axe, serious or critical) on "${title}" ${this.url}`);
    assert.deepEqual(this.problems.splice(0), [], `browser errors on "${title}" ${this.url}`);
  }
}
