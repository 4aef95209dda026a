import type { Command } from 'commander';
import { withExamples, type ActionFactory } from '../command-kit.js';

const INSTALL: Record<string, { summary: string; examples: string[] }> = {
  bash: {
    summary: 'Print the bash completion script',
    examples: [
      'source <(opsctl completion bash)                      # this shell',
      'opsctl completion bash > ~/.local/share/bash-completion/completions/opsctl',
    ],
  },
  zsh: {
    summary: 'Print the zsh completion script',
    examples: ['source <(opsctl completion zsh)                       # this shell', 'opsctl completion zsh > "${fpath[1]}/_opsctl"'],
  },
  fish: {
    summary: 'Print the fish completion script',
    examples: ['opsctl completion fish | source                        # this shell', 'opsctl completion fish > ~/.config/fish/completions/opsctl.fish'],
  },
};

/**
 * `opsctl completion bash|zsh|fish`: the scripts are small and call `opsctl __complete` on each
 * Tab, which answers from the command tree itself (groups, verbs, flags, fixed values, profile
 * names, Redis key names).
 */
export function register(command: Command, action: ActionFactory): void {
  command.addHelpText('after', '\nCompletion also works inside `opsctl shell`. The same scripts are in completions/ in the package.\n');
  for (const [shell, info] of Object.entries(INSTALL)) {
    withExamples(
      command
        .command(shell)
        .description(info.summary)
        .action(
          action(async (ctx) => {
            const { completionScript } = await import('../completion/scripts.js');
            ctx.out.text(completionScript(shell as 'bash' | 'zsh' | 'fish'));
          }),
        ),
      info.examples,
    );
  }
}
