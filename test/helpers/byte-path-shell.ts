/**
 * Child processes take arguments as strings, which cannot carry a path that is not UTF-8. These
 * helpers let the shell rebuild such a path from octal escapes (`printf %b`), so tools like
 * `touch` and `setfattr` can work on any name.
 */
import { execFile } from 'node:child_process'

/**
 * A shell snippet that sets `$p` to the exact bytes of `path`. Only digits and backslashes
 * appear inside the quotes, so no name can inject shell syntax. The X sentinel keeps `$()` from
 * dropping trailing newlines.
 */
export function setPathVar(path: Buffer): string {
  const text = path.toString('utf8')
  if (Buffer.byteLength(text) === path.length && !text.includes('\ufffd')) return `p=${shellQuote(text)}`
  let escaped = ''
  for (const b of path) escaped += `\\0${b.toString(8).padStart(3, '0')}`
  return `p="$(printf '%bX' '${escaped}')"; p="\${p%X}"`
}

/** Runs a shell script and resolves with its stdout; rejects with its stderr on failure. */
export function runShell(script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('sh', ['-c', script], { encoding: 'utf8', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`shell script failed: ${stderr.trim() || err.message}`))
      else resolve(stdout)
    })
  })
}

/** Runs `command -- PATH` (arguments already shell-quoted by the caller) for a byte path. */
export function runOnPath(command: string, path: Buffer): Promise<string> {
  return runShell(`set -e; ${setPathVar(path)}; ${command} -- "$p"`)
}

/** Quotes a plain string for the shell. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`
}

/**
 * Sets the mtime and atime of each path (not following symlinks) to an exact nanosecond time,
 * in one shell process. Node itself can pass times only as doubles, which loses nanoseconds.
 */
export async function setTimesNs(items: { path: Buffer; ns: bigint }[]): Promise<void> {
  const lines = ['set -e']
  for (const { path, ns } of items) {
    const sec = ns / 1_000_000_000n
    const frac = (ns % 1_000_000_000n).toString().padStart(9, '0')
    lines.push(`${setPathVar(path)}; touch -h -d @${sec}.${frac} -- "$p"`)
  }
  await runShell(lines.join('\n'))
}
