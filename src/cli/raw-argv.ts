import { readFileSync } from 'node:fs'
import { goStringFromBytes } from '../snapshots/index.js'

/**
 * The command line with the bytes of arguments that are not UTF-8 kept: Node decodes
 * `process.argv` as UTF-8 and turns such bytes into U+FFFD, so a file name like "caf\xe9.txt"
 * given to `dump` or `ls` could never match. On Linux the bytes are in /proc/self/cmdline; an
 * argument that holds U+FFFD is taken from there as goStringFromBytes writes it (each invalid
 * byte a lone surrogate), which tree lookups and output turn back into the same bytes.
 * Elsewhere, or when the two lists do not line up, the arguments stay as they are.
 */
export function withRawBytes(argv: string[], cmdline: () => Buffer = () => readFileSync('/proc/self/cmdline')): string[] {
  if (!argv.some((a) => a.includes('\ufffd'))) return argv
  let raw: Buffer[]
  try {
    const bytes = cmdline()
    raw = []
    let start = 0
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] !== 0) continue
      raw.push(bytes.subarray(start, i))
      start = i + 1
    }
  } catch {
    return argv
  }
  // The user's arguments are the last ones of both lists (node may have flags of its own).
  const user = argv.length - 2
  if (user <= 0 || raw.length < user) return argv
  const tail = raw.slice(raw.length - user)
  if (tail.some((b, i) => b.toString('utf8') !== argv[i + 2])) return argv
  return [...argv.slice(0, 2), ...tail.map((b, i) => (argv[i + 2].includes('\ufffd') ? goStringFromBytes(b) : argv[i + 2]))]
}
