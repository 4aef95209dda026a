import { OpsError } from '../../core/errors.js';

export interface SplitLine {
  words: string[];
  /** True when the line ends inside a word (no trailing blank): that word is being typed. */
  openWord: boolean;
}

/**
 * Splits a shell line into words as sh does for the common cases: blanks separate, '…' is
 * literal, "…" allows \" and \\, a backslash outside quotes escapes the next character. With
 * `partial`, an unclosed quote is allowed (the word is still being typed, for completion).
 */
export function splitLine(line: string, options: { partial?: boolean } = {}): SplitLine {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) word += line[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote !== undefined && options.partial !== true) {
    throw new OpsError('USAGE', `unclosed ${quote === '"' ? 'double' : 'single'} quote`, { hint: `close the quote: ${quote}…${quote}` });
  }
  if (inWord) words.push(word);
  return { words, openWord: inWord };
}

/** The words for the completion engine: the last one is the word being typed ('' after a blank). */
export function completionWords(line: string): string[] {
  const { words, openWord } = splitLine(line, { partial: true });
  return openWord ? words : [...words, ''];
}
