import { runCli } from '../../src/cli-commands.ts';
import type { CliResult } from './processes.ts';

/**
 * Runs an `accord` command in this process, with `env` as its environment and its output
 * captured. The command as its own process (src/cli.ts) has one smoke test, with processes.ts's
 * runCli.
 */
export async function accordCli(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    env,
    out: (text) => {
      stdout += text;
    },
    err: (text) => {
      stderr += text;
    },
  });
  return { code, stdout, stderr };
}
