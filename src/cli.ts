import 'dotenv/config';
import { runCli } from './cli-commands.ts';

// The `accord` command (bin/accord.js runs the build of this file); the commands are cli-commands.ts.
const code = await runCli(process.argv.slice(2), {
  env: process.env,
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
});
if (code !== 0) process.exit(code);
