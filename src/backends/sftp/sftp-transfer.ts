import type { SftpSession } from './sftp-session.js'

/** Bytes kept in flight per transfer: enough to fill a loopback or LAN link while replies come back. */
const BYTES_IN_FLIGHT = 4 * 1024 * 1024
const MIN_REQUESTS = 4
const MAX_REQUESTS = 64

function requestsInFlight(chunk: number): number {
  return Math.max(MIN_REQUESTS, Math.min(MAX_REQUESTS, Math.ceil(BYTES_IN_FLIGHT / chunk)))
}

/** Runs `worker` `n` times at once; rejects with the first error once all have stopped. */
async function runWorkers(n: number, worker: () => Promise<void>): Promise<void> {
  const results = await Promise.allSettled(Array.from({ length: n }, worker))
  for (const r of results) if (r.status === 'rejected') throw r.reason
}

/**
 * Reads `length` bytes at `offset` of an open file with several READ requests in flight.
 * Servers may answer a READ with fewer bytes than asked; the rest is asked for again. Returns
 * the bytes, or `short: true` when the file ended before the range did.
 */
export async function readRange(
  s: SftpSession,
  handle: Buffer,
  offset: number,
  length: number,
): Promise<{ data: Buffer; short: boolean }> {
  const data = Buffer.allocUnsafe(length)
  if (length === 0) return { data, short: false }
  const chunk = s.readChunk
  const queue: Array<[number, number]> = []
  for (let pos = 0; pos < length; pos += chunk) queue.push([pos, Math.min(chunk, length - pos)])
  let end = Infinity // the first position known to lie past the end of the file
  let stop = false
  const worker = async () => {
    while (queue.length > 0 && !stop) {
      const [pos, len] = queue.shift()!
      if (pos >= end) continue
      let got: Buffer | null
      try {
        got = await s.read(handle, offset + pos, len)
      } catch (err) {
        stop = true
        throw err
      }
      if (got === null || got.length === 0) {
        end = Math.min(end, pos)
        continue
      }
      got.copy(data, pos, 0, Math.min(got.length, len))
      if (got.length < len) queue.unshift([pos + got.length, len - got.length])
    }
  }
  await runWorkers(Math.min(requestsInFlight(chunk), queue.length), worker)
  return { data, short: end < length }
}

/** Writes `data` at offset 0 of an open file with several WRITE requests in flight. */
export async function writeAll(s: SftpSession, handle: Buffer, data: Uint8Array): Promise<void> {
  const chunk = s.writeChunk
  let next = 0
  let stop = false
  const worker = async () => {
    while (next < data.byteLength && !stop) {
      const pos = next
      const len = Math.min(chunk, data.byteLength - pos)
      next += len
      try {
        await s.write(handle, pos, data.subarray(pos, pos + len))
      } catch (err) {
        stop = true
        throw err
      }
    }
  }
  const requests = Math.ceil(data.byteLength / chunk)
  if (requests > 0) await runWorkers(Math.min(requestsInFlight(chunk), requests), worker)
}
