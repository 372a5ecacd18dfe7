import { fstatSync } from 'node:fs'
import { bytesFromGoString, hasEscapedBytes } from '../../snapshots/index.js'

/**
 * Where command output goes. Commands write results with `out`, progress with `status` (a line
 * rewritten in place on a terminal, silent otherwise) and problems with `warn`.
 */
export class Terminal {
  readonly json: boolean
  readonly quiet: boolean
  readonly verbose: number
  readonly interactive: boolean
  #statusShown = false

  constructor(options: { json: boolean; quiet: boolean; verbose: number }) {
    this.json = options.json
    this.quiet = options.quiet
    this.verbose = options.verbose
    this.interactive = process.stdout.isTTY === true && !options.json && !options.quiet
  }

  /** Normal output (results). Always printed, even with --quiet for data commands. */
  out(text: string): void {
    this.#clearStatus()
    const line = text.endsWith('\n') ? text : text + '\n'
    // A name that is not UTF-8 is printed as the bytes it is, as restic prints it.
    process.stdout.write(hasEscapedBytes(line) ? bytesFromGoString(line) : line)
  }

  /** Informational messages; silenced by --quiet and --json. */
  info(text: string): void {
    if (this.quiet || this.json) return
    this.out(text)
  }

  /** Text as it is, with no newline added: a document written in pieces (find --json). */
  write(text: string): void {
    this.#clearStatus()
    process.stdout.write(text)
  }

  jsonLine(value: unknown): void {
    process.stdout.write(goJson(JSON.stringify(value)) + '\n')
  }

  /** A JSON message about a problem (`error`, `warning`): on stderr, as restic prints them. */
  jsonError(value: unknown): void {
    process.stderr.write(goJson(JSON.stringify(value)) + '\n')
  }

  /**
   * Reports progress while a command runs: on a terminal as a status line rewritten four times a
   * second, with --json as restic's `status` messages (once a second, or RESTIC_PROGRESS_FPS
   * times), otherwise not at all. `render` gives both forms; the JSON one without message_type.
   * Returns the function that stops it.
   */
  progress(render: () => { line: string; json: Record<string, unknown> }): () => void {
    if (this.quiet || (!this.json && !this.interactive)) return () => {}
    const fps = Number(process.env.CAIRN_PROGRESS_FPS || process.env.RESTIC_PROGRESS_FPS)
    const interval = this.json ? (fps > 0 ? Math.max(1000 / fps, 16) : 1000) : 250
    const timer = setInterval(() => {
      const now = render()
      if (this.json) this.jsonLine({ message_type: 'status', ...now.json })
      else this.status(now.line)
    }, interval)
    timer.unref()
    return () => clearInterval(timer)
  }

  warn(text: string): void {
    this.#clearStatus()
    process.stderr.write(text.endsWith('\n') ? text : text + '\n')
  }

  /** A progress line, rewritten in place; only on a terminal. */
  status(text: string): void {
    if (!this.interactive) return
    // A terminal that does not tell its size says 0 columns: then the line is not cut.
    const width = process.stdout.columns || 0
    process.stdout.write('\r\x1b[2K' + (width > 1 ? text.slice(0, width - 1) : text))
    this.#statusShown = true
  }

  #clearStatus(): void {
    if (this.#statusShown) {
      process.stdout.write('\r\x1b[2K')
      this.#statusShown = false
    }
  }

  done(): void {
    this.#clearStatus()
  }
}

/**
 * JSON text as Go's encoding/json writes it, as restic prints it: `<`, `>`, `&`, U+2028 and
 * U+2029 escaped (\\u003c …), and for a name that is not UTF-8 each byte that is not (a lone
 * surrogate from goStringFromBytes, which JSON.stringify escapes as \\udcXX) as \\ufffd.
 */
export function goJson(json: string): string {
  // An escape only where the backslash is not itself escaped (a name may hold a literal "\\udc80").
  let out = json.includes('\\udc') ? json.replace(/(?<!\\)((?:\\\\)*)\\udc[89a-f][0-9a-f]/g, '$1\\ufffd') : json
  if (/[<>&\u2028\u2029]/.test(out)) out = out.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  return out
}

/**
 * Makes writes to stdout wait for the reader when stdout is a pipe, as restic's do. Left
 * non-blocking, every write that a slow reader had not taken yet was queued in memory:
 * `find --json | gzip` of a gigabyte of matches grew to 1.8 GB, then failed with ENOBUFS. Only a
 * pipe: a socket (a service's log stream) is left as it is, so that a stalled reader cannot
 * stall a server.
 */
export function waitForPipeReaders(): void {
  let pipe = false
  try {
    pipe = fstatSync(1).isFIFO()
  } catch {
    // no stdout at all
  }
  if (pipe) (process.stdout as unknown as { _handle?: { setBlocking?: (on: boolean) => void } })._handle?.setBlocking?.(true)
}
