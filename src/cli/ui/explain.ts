import { formatExplainStep, type ExplainStep } from '../../core/explain.js';
import type { Output } from './output.js';

/**
 * `--explain` output: on a terminal, each step's note as a `#` comment above its shell line (so
 * the whole text can be pasted into a shell); with --json/-o, the steps as data.
 */
export function printExplain(out: Output, steps: readonly ExplainStep[]): void {
  if (out.machineReadable) {
    out.list(
      steps.map((step) => ({ note: step.note ?? null, command: formatExplainStep(step), pipeline: step.pipeline, output: step.output ?? null })),
      [{ key: 'note' }, { key: 'command' }],
    );
    return;
  }
  const lines = steps.map((step) => `${step.note === undefined ? '' : `${out.theme.dim(`# ${step.note}`)}\n`}${formatExplainStep(step)}`);
  out.text(lines.join('\n'));
}
