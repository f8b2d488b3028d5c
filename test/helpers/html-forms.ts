// The forms of a page as a browser submits them without typing: one reader for every test.

export interface Form {
  action: string;
  fields: Record<string, string>;
}

const attribute = (tag: string, name: string) => new RegExp(`\\b${name}="([^"]*)"`).exec(tag)?.[1];
const unescapeHtml = (s: string) =>
  s
    .replace(/&#34;|&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

/** Every form of a page with its hidden fields (what a browser would send without typing). */
export function formsOf(html: string): Form[] {
  const forms: Form[] = [];
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)) {
    const fields: Record<string, string> = {};
    for (const input of match[2]!.matchAll(/<input\b([^>]*)>/g)) {
      const tag = input[1]!;
      const name = attribute(tag, 'name');
      if (name && attribute(tag, 'type') === 'hidden') fields[name] = unescapeHtml(attribute(tag, 'value') ?? '');
    }
    forms.push({ action: unescapeHtml(attribute(match[1]!, 'action') ?? ''), fields });
  }
  return forms;
}

/** The `_csrf` hidden field of the page's first form that has one. */
export function csrfTokenOf(html: string): string | undefined {
  return formsOf(html).find((form) => form.fields._csrf !== undefined)?.fields._csrf;
}
