import { readFileSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import ejs from 'ejs';

type RenderCallback = (err: Error | null, html?: string) => void;
type Template = (data: object) => string;

/**
 * `<%- include('name', data) %>`, with or without data: a name from the views directory
 * (`/partials/head`) or relative to the including file (`../partials/head`).
 */
const INCLUDE = /<%-\s*include\(\s*'([\w/.-]+)'\s*(?:,([\s\S]*?))?\)\s*%>/g;

/** The file an include names, resolved as EJS resolves it (with `root` the views directory). */
function includedFile(name: string, includer: string, viewsDir: string): string {
  const file = name.startsWith('/') ? join(viewsDir, name) : resolve(dirname(includer), name);
  return extname(name) ? file : `${file}.ejs`;
}

/**
 * A template's source with its includes written into it, each in a block of its own: with data,
 * inside `with (data)`, so the partial sees the data over the page's locals, as an include does.
 * The page then renders as one function: EJS runs an include by copying every local into a new
 * object and looking the partial up (on the file system, for a relative name), on every render.
 */
function inlineIncludes(source: string, file: string, viewsDir: string, seen: readonly string[]): string {
  return source.replace(INCLUDE, (_tag, name: string, data: string | undefined) => {
    const partialFile = includedFile(name, file, viewsDir);
    if (seen.includes(partialFile)) throw new Error(`${partialFile} includes itself`);
    const partial = inlineIncludes(readFileSync(partialFile, 'utf8'), partialFile, viewsDir, [...seen, partialFile]);
    return data === undefined ? `<% { %>${partial}<% } %>` : `<% with (${data.trim()}) { %>${partial}<% } %>`;
  });
}

function compile(file: string, viewsDir: string): Template {
  const source = inlineIncludes(readFileSync(file, 'utf8'), file, viewsDir, [file]);
  return ejs.compile(source, { filename: file, root: viewsDir }) as Template;
}

/**
 * EJS as an Express view engine, with each page's includes written into it when it is
 * compiled. With Express's `view cache` on, each page is compiled once, at its first render.
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
