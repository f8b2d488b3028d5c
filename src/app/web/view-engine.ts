import ejs from 'ejs';

type RenderCallback = (err: Error | null, html?: string) => void;

/**
 * EJS as the app's view engine, with includes named from the views directory
 * (`include('/app/partials/head')`). EJS looks a relative include up on disk (existsSync) at
 * every render, even with compiled templates cached; an absolute one resolves against `root`
 * without touching the file system.
 */
export function ejsViewEngine(viewsDir: string) {
  return (file: string, data: { cache?: unknown }, callback: RenderCallback): void => {
    // Express puts its `view cache` setting in `data.cache`; EJS reads it only when given no options.
    ejs.renderFile(file, data, { root: viewsDir, cache: data.cache === true }, callback);
  };
}
