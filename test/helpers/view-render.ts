import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ejsViewEngine } from '../../src/platform/view-engine.ts';

/** The project's views directory. */
export const viewsDir = fileURLToPath(new URL('../../views', import.meta.url));

/** A page rendered by the platform's view engine, which answers synchronously. */
export function render(file: string, data: object, cache: boolean, engine = ejsViewEngine(viewsDir)): string {
  let html: string | undefined;
  engine(file, { ...data, cache }, (err, out) => {
    if (err) throw err;
    html = out;
  });
  assert.ok(html !== undefined, 'the engine answers at once');
  return html;
}
