import { lstat, readdir, readFile } from 'node:fs/promises'
import { posix } from 'node:path'
import { matchComponent } from '../archiver/index.js'
import { AppError, messageOf } from '../base/index.js'
import { goStringFromBytes } from '../snapshots/index.js'

/**
 * Reads pattern or path list files ("-" is standard input), as restic reads each kind: 'lines'
 * one entry per line, trimmed, `#` comments and blank lines skipped; 'verbatim' one per line as
 * it is, only empty lines skipped; 'raw' entries separated by NUL bytes.
 */
export async function readListFiles(files: string[] | undefined, what: string, form: 'lines' | 'verbatim' | 'raw' | 'patterns' = 'lines'): Promise<string[]> {
  const out: string[] = []
  for (const f of files ?? []) {
    let bytes: Buffer
    try {
      bytes = f === '-' ? await readStdin() : await readFile(f)
    } catch (err) {
      throw new AppError('INVALID_ARGUMENT', `Cannot read ${what} "${f}": ${messageOf(err)}`)
    }
    // Paths taken as they are keep bytes that are not UTF-8 (as Go strings: the archiver turns
    // them back into those bytes); 'lines' and 'patterns' are text.
    if (form === 'raw' || form === 'verbatim') {
      for (const entry of splitBytes(bytes, form === 'raw' ? 0x00 : 0x0a)) {
        const e = form === 'verbatim' && entry.at(-1) === 0x0d ? entry.subarray(0, -1) : entry
        if (e.length > 0) out.push(goStringFromBytes(e))
      }
      continue
    }
    const text = bytes.toString('utf8')
    for (const line of text.split(/\r?\n/)) {
      const t = line.trim()
      if (t !== '' && !t.startsWith('#')) out.push(form === 'patterns' ? expandVariables(t) : t)
    }
  }
  return out
}

async function readStdin(): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const c of process.stdin) parts.push(c as Buffer)
  return Buffer.concat(parts)
}

function splitBytes(bytes: Buffer, separator: number): Buffer[] {
  const out: Buffer[] = []
  let start = 0
  for (let i = bytes.indexOf(separator); i >= 0; i = bytes.indexOf(separator, start)) {
    out.push(bytes.subarray(start, i))
    start = i + 1
  }
  out.push(bytes.subarray(start))
  return out
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
