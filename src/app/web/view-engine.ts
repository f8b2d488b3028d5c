import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ejs from 'ejs';

type RenderCallback = (err: Error | null, html?: string) => void;
type Template = (data: object) => string;

/** `<%- include('/absolute/name', data) %>`: an include named from the views directory, with or without data. */
const INCLUDE = /<%-\s*include\(\s*'(\/[\w/.-]+)'\s*(?:,([\s\S]*?))?\)\s*%>/g;

/**
 * A template's source with its includes written into it, each in a block of its own: with data,
 * inside `with (data)`, so the partial sees the data over the page's locals, as an include does.
 * The page then renders as one function: EJS runs an include by copying every local into a new
 * object and looking the partial up, on every render.
 */
function inlineIncludes(source: string, viewsDir: string, seen: readonly string[]): string {
  return source.replace(INCLUDE, (_tag, name: string, data: string | undefined) => {
    const file = join(viewsDir, name.endsWith('.ejs') ? name : `${name}.ejs`);
    if (seen.includes(file)) throw new Error(`${file} includes itself`);
    const partial = inlineIncludes(readFileSync(file, 'utf8'), viewsDir, [...seen, file]);
    return data === undefined ? `<% { %>${partial}<% } %>` : `<% with (${data.trim()}) { %>${partial}<% } %>`;
  });
}

function compile(file: string, viewsDir: string): Template {
  const source = inlineIncludes(readFileSync(file, 'utf8'), viewsDir, [file]);
  return ejs.compile(source, { filename: file, root: viewsDir }) as Template;
}

/**
 * EJS as the app's view engine, with includes named from the views directory
 * (`include('/app/partials/head')`), written into each page when it is compiled. With Express's
 * `view cache` on, each page is compiled once, at its first render.
 */
export function ejsViewEngine(viewsDir: string) {
  const compiled = new Map<string, Template>();
  return (file: string, data: { cache?: unknown }, callback: RenderCallback): void => {
    let html: string;
    try {
      let template = compiled.get(file);
      if (!template) {
        template = compile(file, viewsDir);
        // Express puts its `view cache` setting in `data.cache`.
        if (data.cache === true) compiled.set(file, template);
      }
      html = template(data);
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback(null, html);
  };
}
