import { spawn, type ChildProcessByStdio } from 'node:child_process'
import type { Socket } from 'node:net'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import { socketPair } from './socket-pair.js'

/** How many of rclone's last stderr lines an error message quotes. */
const KEEP_LINES = 5

/** What to run, and where its stderr lines go. */
export interface RcloneProcessOptions {
  program: string
  args: readonly string[]
  env?: NodeJS.ProcessEnv
  /** Each stderr line, already prefixed `rclone: `. */
  onMessage?: (message: string) => void
}

/** How the process ended: an exit code, a signal, or an error from spawn() itself (ENOENT). */
export type RcloneExit = { code: number | null; signal: NodeJS.Signals | null } | { spawnError: Error }

/**
 * One `rclone serve restic --stdio` child. Its stdin and stdout are one end of a socket pair
 * (see socketPair()); `channel` is our end, which carries HTTP/2. Its stderr lines go to
 * onMessage, and the last few are kept for error messages. It runs in its own process group
 * (detached), as restic runs it, so a Ctrl-C at the terminal reaches only cairn, which can then
 * still remove its lock through rclone before it closes the backend.
 */
export class RcloneProcess {
  readonly child: ChildProcessByStdio<null, null, Readable>
  /** Our end of the child's stdin/stdout. */
  readonly channel: Socket
  /** The command line, for messages. */
  readonly command: string
  /** Settles when the process has ended (never rejects). */
  readonly exited: Promise<RcloneExit>
  #exit: RcloneExit | undefined
  readonly #lines: string[] = []

  /** Starts the process. A program that cannot be run still gives an RcloneProcess; its `exited` says why. */
  static async start(options: RcloneProcessOptions): Promise<RcloneProcess> {
    const [ours, theirs] = await socketPair()
    try {
      return new RcloneProcess(options, ours, theirs)
    } finally {
      theirs.destroy() // the child has its own copy; ours must close so we see EOF when it exits
    }
  }

  private constructor(options: RcloneProcessOptions, channel: Socket, childEnd: Socket) {
    this.command = [options.program, ...options.args].map(quoteWord).join(' ')
    this.channel = channel
    // Errors of a socket whose peer is gone (EPIPE, ECONNRESET) are told better by the exit.
    channel.on('error', () => {})
    this.child = spawn(options.program, options.args, { stdio: [childEnd, childEnd, 'pipe'], detached: true, env: options.env ?? process.env })
    this.exited = new Promise<RcloneExit>((resolve) => {
      this.child.once('error', (spawnError) => {
        // 'error' also reports a failed kill(); only a process that never ran ends here.
        if (this.child.pid === undefined) resolve((this.#exit = { spawnError }))
      })
      this.child.once('exit', (code, signal) => {
        // Let the last stderr lines arrive (they explain the exit), but do not wait for a
        // grandchild that may hold the pipe open.
        const done = () => {
          // A grandchild (rclone under a wrapper script) holding the pipe must not keep us alive.
          this.child.stderr.destroy()
          resolve((this.#exit ??= { code, signal }))
        }
        if (this.child.stderr.closed) done()
        else {
          const timer = setTimeout(done, 500)
          this.child.stderr.once('close', () => {
            clearTimeout(timer)
            done()
          })
        }
      })
    })
    void this.exited.then(() => channel.destroy())
    const lines = createInterface({ input: this.child.stderr, crlfDelay: Infinity })
    lines.on('line', (line) => {
      this.#lines.push(line)
      if (this.#lines.length > KEEP_LINES) this.#lines.shift()
      options.onMessage?.(`rclone: ${line}`)
    })
  }

  /** The process id, or undefined when it could not be started. */
  get pid(): number | undefined {
    return this.child.pid
  }

  /** How it ended, or undefined while it runs. */
  get exit(): RcloneExit | undefined {
    return this.#exit
  }

  /** `exited with code 1`, `was killed by SIGKILL`, `could not be started: …` */
  describeExit(): string {
    const e = this.#exit
    if (e === undefined) return 'is still running'
    if ('spawnError' in e) return `could not be started: ${e.spawnError.message}`
    return e.signal !== null ? `was killed by ${e.signal}` : `exited with code ${e.code}`
  }

  /** rclone's last stderr lines, quoted for a message, or '' when it printed nothing. */
  lastMessages(): string {
    return this.#lines.length === 0 ? '' : `; its last messages: ${this.#lines.map((l) => JSON.stringify(l.trim())).join(', ')}`
  }

  /**
   * Ends the process and waits for it: our end of its stdin is closed (rclone exits when its
   * connection ends); after `graceMs` it is killed, with its whole process group (an rclone run
   * by a wrapper script that does not exec it would live on). Resolves once it has been reaped,
   * so no zombie stays.
   */
  async stop(graceMs: number): Promise<void> {
    if (this.#exit !== undefined) return
    this.channel.end()
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs)
    })
    const first = await Promise.race([this.exited, timeout])
    clearTimeout(timer)
    if (first === 'timeout') {
      this.#killGroup()
      await this.exited
    }
  }

  #killGroup(): void {
    const pid = this.child.pid
    try {
      // detached: the child leads its own process group
      if (pid !== undefined) process.kill(-pid, 'SIGKILL')
      else this.child.kill('SIGKILL')
    } catch {
      this.child.kill('SIGKILL')
    }
  }
}

function quoteWord(w: string): string {
  return /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`
}
