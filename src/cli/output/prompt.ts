import { readSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import { isatty } from 'node:tty'
import { AppError, errnoCode } from '../../base/index.js'

/** Asks for a password; the question is shown on a terminal only. */
export type AskPassword = (question: string) => Promise<string>

/** Reads a password from the terminal without echoing it. */
export async function promptPassword(question: string): Promise<string> {
  let muted = false
  const sink = new Writable({
    write(chunk, _enc, cb) {
      if (!muted) process.stderr.write(chunk)
      cb()
    },
  })
  const rl = createInterface({ input: process.stdin, output: sink, terminal: true })
  try {
    return await new Promise<string>((resolve) => {
      rl.question(question, (answer) => resolve(answer))
      muted = true
    })
  } finally {
    rl.close()
    process.stderr.write('\n')
  }
}

/** Whether standard input is a terminal a person types at. */
export function stdinIsTerminal(): boolean {
  return isatty(0)
}

/**
 * How a password given in no other way is read, as restic reads it: typed at the terminal, or,
 * when standard input is not one, its first line (`echo "$PW" | cairn snapshots`). `what` names
 * the password in the notice and the errors ("repository password"); `notice` tells the user
 * where it came from; `hint` says how else to give it. A new password (`twice`) is typed twice on
 * a terminal, so that a typing mistake cannot lock the data away, and read once from a pipe.
 */
export function passwordInput(what: string, notice: (message: string) => void, options: { twice?: boolean; hint?: string } = {}): AskPassword {
  if (stdinIsTerminal()) {
    return async (question) => {
      const first = await promptPassword(question)
      if (options.twice !== true) return first
      const again = await promptPassword('enter password again: ')
      if (again !== first) throw new AppError('INVALID_ARGUMENT', 'The passwords do not match', { hint: 'Run the command again and type the same password twice' })
      return first
    }
  }
  return async () => {
    notice(`reading ${what} from stdin`)
    const line = readStdinLine()
    if (line === '') {
      throw new AppError('NO_PASSWORD', `No ${what} given: standard input is not a terminal, and its first line is empty`, {
        hint: options.hint ?? 'Pipe the password into the command, or give it with CAIRN_PASSWORD, --password-file or --password-command',
      })
    }
    return line
  }
}

/**
 * One line of standard input, without its line end, read a byte at a time so that nothing after
 * it is taken away from whoever reads standard input next. Waits while a pipe has nothing yet.
 */
export function readStdinLine(fd = 0): string {
  const bytes: number[] = []
  const one = Buffer.alloc(1)
  const pause = new Int32Array(new SharedArrayBuffer(4))
  for (;;) {
    let n: number
    try {
      n = readSync(fd, one, 0, 1, null)
    } catch (err) {
      // A pipe Node has made non-blocking says so instead of waiting.
      if (errnoCode(err) === 'EAGAIN') {
        Atomics.wait(pause, 0, 0, 10)
        continue
      }
      if (errnoCode(err) === 'EOF') break
      throw err
    }
    if (n === 0 || one[0] === 0x0a) break
    bytes.push(one[0])
  }
  if (bytes[bytes.length - 1] === 0x0d) bytes.pop()
  return Buffer.from(bytes).toString('utf8')
}
