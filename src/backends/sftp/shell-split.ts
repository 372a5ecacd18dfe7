/**
 * Splits a command line into words as a POSIX shell would, without running a shell: blanks
 * separate words, single quotes keep everything literally, double quotes keep blanks (a
 * backslash escapes `"` and `\` inside them), and a backslash outside quotes escapes the next
 * character. Nothing is expanded. Throws RangeError for an unclosed quote.
 *
 * @example
 * splitShellWords(`ssh -p 2222 "my host" -s sftp`) // → ['ssh', '-p', '2222', 'my host', '-s', 'sftp']
 */
export function splitShellWords(line: string): string[] {
  const words: string[] = []
  let word = ''
  let inWord = false
  let quote: '' | "'" | '"' = ''
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (quote === "'") {
      if (c === "'") quote = ''
      else word += c
      continue
    }
    if (quote === '"') {
      if (c === '"') quote = ''
      else if (c === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) word += line[++i]
      else word += c
      continue
    }
    if (c === "'" || c === '"') {
      quote = c
      inWord = true
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i]
      inWord = true
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word)
      word = ''
      inWord = false
    } else {
      word += c
      inWord = true
    }
  }
  if (quote !== '') throw new RangeError(`Unclosed ${quote === '"' ? 'double' : 'single'} quote in "${line}"`)
  if (inWord) words.push(word)
  return words
}
