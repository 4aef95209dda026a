/**
 * Every terminal decision in one place (gh's iostreams): where data and messages go, whether
 * each stream is a terminal, whether colour is on, whether we may prompt. Tests build an
 * IOStreams over buffers and can pretend to be a TTY.
 */
export interface WritableLike {
  write(chunk: string): unknown;
}

export interface ReadableLike {
  readonly isTTY?: boolean;
}

export interface IOStreams {
  readonly stdout: WritableLike;
  readonly stderr: WritableLike;
  readonly stdin: ReadableLike;
  readonly stdoutIsTTY: boolean;
  readonly stderrIsTTY: boolean;
  readonly stdinIsTTY: boolean;
  /** Colour on stdout / stderr, after NO_COLOR, FORCE_COLOR, --no-color and TTY rules. */
  readonly colorStdout: boolean;
  readonly colorStderr: boolean;
  /** Terminal width for tables (80 when unknown). */
  readonly columns: number;
}

export interface ColorInputs {
  env: NodeJS.ProcessEnv;
  noColorFlag: boolean;
  isTTY: boolean;
}

/**
 * The colour rules, in order: `--no-color` and `NO_COLOR` (any non-empty value) switch it off;
 * `FORCE_COLOR` switches it on (`0`/`false` off); otherwise colour follows the stream being a TTY
 * (and `TERM=dumb` is plain).
 */
export function colorEnabled({ env, noColorFlag, isTTY }: ColorInputs): boolean {
  if (noColorFlag) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  if (env.TERM === 'dumb') return false;
  return isTTY;
}

export function processIO(options: { noColor: boolean; env?: NodeJS.ProcessEnv }): IOStreams {
  const env = options.env ?? process.env;
  const stdoutIsTTY = process.stdout.isTTY === true;
  const stderrIsTTY = process.stderr.isTTY === true;
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    stdoutIsTTY,
    stderrIsTTY,
    stdinIsTTY: process.stdin.isTTY === true,
    colorStdout: colorEnabled({ env, noColorFlag: options.noColor, isTTY: stdoutIsTTY }),
    colorStderr: colorEnabled({ env, noColorFlag: options.noColor, isTTY: stderrIsTTY }),
    columns: process.stdout.columns ?? 80,
  };
}

/** An IOStreams over strings, for tests. */
export interface TestIO extends IOStreams {
  out(): string;
  err(): string;
}

export function testIO(options: { tty?: boolean; color?: boolean; columns?: number } = {}): TestIO {
  let out = '';
  let err = '';
  const tty = options.tty ?? false;
  return {
    stdout: { write: (chunk: string) => (out += chunk) },
    stderr: { write: (chunk: string) => (err += chunk) },
    stdin: { isTTY: tty },
    stdoutIsTTY: tty,
    stderrIsTTY: tty,
    stdinIsTTY: tty,
    colorStdout: options.color ?? false,
    colorStderr: options.color ?? false,
    columns: options.columns ?? 100,
    out: () => out,
    err: () => err,
  };
}
