import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'

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
