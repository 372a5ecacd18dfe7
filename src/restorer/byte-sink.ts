import { once } from 'node:events'
import type { Writable } from 'node:stream'
import { AppError, messageOf } from '../base/index.js'

/**
 * Where archive and file bytes go. `write` may keep the chunk (callers hand over fresh
 * buffers and never change them afterwards); it resolves when more may be written.
 */
export interface ByteSink {
  write(chunk: Uint8Array): Promise<void>
  /** Passes on whatever is buffered. */
  flush(): Promise<void>
  /** Bytes accepted so far. */
  readonly bytesWritten: number
}

const DEFAULT_BUFFER = 128 * 1024

/**
 * A ByteSink over a Node stream that honours backpressure. Small writes (tar headers,
 * padding, small files) are gathered into one buffer, because stdout on a pipe writes
 * synchronously and one syscall per 512-byte header is slow; big chunks go through uncopied.
 *
 * @example
 * const sink = streamSink(process.stdout)
 * await sink.write(bytes)
 * await sink.flush()
 */
export function streamSink(stream: Writable, bufferSize = DEFAULT_BUFFER): ByteSink {
  return new StreamSink(stream, bufferSize)
}

class StreamSink implements ByteSink {
  #stream: Writable
  #size: number
  #buf: Buffer
  #used = 0
  #error: unknown
  bytesWritten = 0

  constructor(stream: Writable, size: number) {
    this.#stream = stream
    this.#size = size
    this.#buf = Buffer.allocUnsafe(size)
    stream.on('error', (err) => {
      this.#error ??= err
    })
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.bytesWritten += chunk.length
    if (chunk.length >= this.#size >> 1) {
      await this.flush()
      await this.#send(chunk)
      return
    }
    if (this.#used + chunk.length > this.#size) await this.flush()
    this.#buf.set(chunk, this.#used)
    this.#used += chunk.length
  }

  async flush(): Promise<void> {
    if (this.#used === 0) return
    const full = this.#buf.subarray(0, this.#used)
    // The stream may hold on to what it was given, so the next bytes go into a new buffer.
    this.#buf = Buffer.allocUnsafe(this.#size)
    this.#used = 0
    await this.#send(full)
  }

  async #send(chunk: Uint8Array): Promise<void> {
    this.#check()
    if (!this.#stream.write(chunk)) {
      try {
        await once(this.#stream, 'drain')
      } catch (err) {
        this.#error ??= err
      }
    }
    this.#check()
  }

  #check(): void {
    if (this.#error !== undefined) {
      throw new AppError('IO', `Cannot write the output: ${messageOf(this.#error)}`, { cause: this.#error })
    }
    if (this.#stream.destroyed) throw new AppError('IO', 'Cannot write the output: the stream was closed')
  }
}

/** A sink that keeps everything in memory (for tests and small outputs). */
export function memorySink(): ByteSink & { bytes(): Buffer } {
  const parts: Uint8Array[] = []
  const sink = {
    bytesWritten: 0,
    async write(chunk: Uint8Array) {
      parts.push(chunk)
      sink.bytesWritten += chunk.length
    },
    async flush() {},
    bytes: () => Buffer.concat(parts),
  }
  return sink
}
