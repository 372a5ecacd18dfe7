import { lstat, readdir, readFile } from 'node:fs/promises'
import { posix } from 'node:path'
import { matchComponent } from '../archiver/index.js'
import { AppError, messageOf } from '../base/index.js'

/**
 * Reads pattern or path list files ("-" is standard input), as restic reads each kind: 'lines'
 * one entry per line, trimmed, `#` comments and blank lines skipped; 'verbatim' one per line as
 * it is, only empty lines skipped; 'raw' entries separated by NUL bytes.
 */
export async function readListFiles(files: string[] | undefined, what: string, form: 'lines' | 'verbatim' | 'raw' | 'patterns' = 'lines'): Promise<string[]> {
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
      if (t !== '' && (form === 'verbatim' || !t.startsWith('#'))) out.push(form === 'patterns' ? expandVariables(t) : t)
    }
  }
  return out
}

async function readStdin(): Promise<string> {
  const parts: Buffer[] = []
  for await (const c of process.stdin) parts.push(c as Buffer)
  return Buffer.concat(parts).toString('utf8')
}

/**
 * A line of an exclude file with `$NAME` and `${NAME}` replaced by the environment's value (empty
 * when unset) and `$$` by `$`, as restic reads exclude files (Go's os.Expand). A `$` before
 * anything else stays as it is.
 */
export function expandVariables(line: string, env: NodeJS.ProcessEnv = process.env): string {
  return line.replace(/\$(?:\{([^}]*)\}|([A-Za-z0-9_]+)|([*#$@!?-]))/g, (_m, braced?: string, plain?: string, special?: string) => {
    if (special === '$') return '$'
    const name = braced ?? plain ?? special ?? ''
    return env[name] ?? ''
  })
}

/**
 * The paths a line of a --files-from list stands for, as restic expands it (Go's filepath.Glob):
 * `*`, `?` and `[...]` match within one component, `\` escapes; a line without them stands for
 * itself when it exists. Sorted; empty when nothing matches.
 */
export async function globPaths(pattern: string): Promise<string[]> {
  const exists = async (p: string) => {
    try {
      await lstat(p)
      return true
    } catch {
      return false
    }
  }
  if (!/[*?[\\]/.test(pattern)) return (await exists(pattern)) ? [pattern] : []
  let found = [pattern.startsWith('/') ? '/' : '']
  for (const part of pattern.split('/')) {
    if (part === '') continue
    const next: string[] = []
    for (const base of found) {
      if (!/[*?[\\]/.test(part)) {
        next.push(posix.join(base, part))
        continue
      }
      let names: string[]
      try {
        names = (await readdir(base === '' ? '.' : base)).sort()
      } catch {
        continue
      }
      for (const name of names) if (matchComponent(part, name)) next.push(base === '' ? name : posix.join(base, name))
    }
    found = next
  }
  const out: string[] = []
  for (const p of found) if (p !== '' && (await exists(p))) out.push(p)
  return out
}
