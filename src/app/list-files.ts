import { readFile } from 'node:fs/promises'
import { AppError, messageOf } from '../base/index.js'

/**
 * Reads pattern or path list files ("-" is standard input), as restic reads each kind: 'lines'
 * one entry per line, trimmed, `#` comments and blank lines skipped; 'verbatim' one per line as
 * it is, only empty lines skipped; 'raw' entries separated by NUL bytes.
 */
export async function readListFiles(files: string[] | undefined, what: string, form: 'lines' | 'verbatim' | 'raw' = 'lines'): Promise<string[]> {
  const out: string[] = []
  for (const f of files ?? []) {
    let text: string
    try {
      text = f === '-' ? await readStdin() : await readFile(f, 'utf8')
    } catch (err) {
      throw new AppError('INVALID_ARGUMENT', `Cannot read ${what} "${f}": ${messageOf(err)}`)
    }
    if (form === 'raw') {
      out.push(...text.split('\0').filter((p) => p !== ''))
      continue
    }
    for (const line of text.split(/\r?\n/)) {
      const t = form === 'verbatim' ? line : line.trim()
      if (t !== '' && (form === 'verbatim' || !t.startsWith('#'))) out.push(t)
    }
  }
  return out
}

async function readStdin(): Promise<string> {
  const parts: Buffer[] = []
  for await (const c of process.stdin) parts.push(c as Buffer)
  return Buffer.concat(parts).toString('utf8')
}
