import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { test } from 'node:test'

const TERMINAL = new URL('./terminal.js', import.meta.url).href

test('waitForPipeReaders(): writes into a pipe return once the reader has the bytes, none is queued in memory', async () => {
  // Non-blocking, a slow reader of `find --json | gzip` left a gigabyte of writes queued in the
  // process, which then failed with ENOBUFS.
  const child = (block: boolean) =>
    new Promise<{ queued: number[]; bytes: number }>((resolve, reject) => {
      const script = `
        const { waitForPipeReaders } = await import(${JSON.stringify(TERMINAL)})
        if (${block}) waitForPipeReaders()
        const chunk = Buffer.alloc(1 << 20, 120)
        const queued = []
        for (let i = 0; i < 8; i++) {
          process.stdout.write(chunk)
          // A write that went out is taken off the stream's queue after this turn.
          await new Promise((r) => setImmediate(r))
          queued.push(process.stdout.writableLength)
        }
        process.stderr.write(JSON.stringify(queued))`
      // Through a shell's pipe (a FIFO; Node's own child stdio is a socket pair).
      const p = spawn('sh', ['-c', '"$0" --input-type=module -e "$1" | cat', process.execPath, script], { stdio: ['ignore', 'pipe', 'pipe'] })
      let bytes = 0
      let err = ''
      p.stdout.on('data', (b: Buffer) => (bytes += b.length))
      p.stderr.on('data', (b: Buffer) => (err += b.toString()))
      p.on('error', reject)
      p.on('close', (code) => (code === 0 ? resolve({ queued: JSON.parse(err) as number[], bytes }) : reject(new Error(`exit ${code}: ${err}`))))
    })
  const blocking = await child(true)
  assert.equal(blocking.bytes, 8 << 20)
  assert.deepEqual(blocking.queued, [0, 0, 0, 0, 0, 0, 0, 0])
  const queuing = await child(false)
  assert.equal(queuing.bytes, 8 << 20)
  assert.ok(queuing.queued.some((n) => n > 0), 'without it, writes are queued (the check itself works)')
})
