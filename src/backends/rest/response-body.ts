import type { RestResponse } from './transport.js'

/** The body had more or fewer bytes than the headers announced. */
export class BodyLengthError extends Error {
  readonly got: number
  readonly want: number
  constructor(got: number, want: number) {
    super(got < want ? `the server sent ${got} of ${want} bytes` : `the server sent more than the ${want} bytes it announced`)
    this.name = 'BodyLengthError'
    this.got = got
    this.want = want
  }
}

/**
 * Reads exactly `length` bytes of body into one buffer allocated up front, so a 16 MiB pack is
 * copied once from the socket's chunks and never concatenated. Throws BodyLengthError when the
 * body ends early or runs long.
 */
export async function readExactly(res: RestResponse, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length)
  let got = 0
  for await (const chunk of res.body) {
    if (got + chunk.length > length) {
      res.discard()
      throw new BodyLengthError(got + chunk.length, length)
    }
    chunk.copy(buf, got)
    got += chunk.length
  }
  if (got < length) throw new BodyLengthError(got, length)
  return buf
}

/** Reads a body of unknown length (chunked transfer). */
export async function readAll(res: RestResponse): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of res.body) chunks.push(chunk)
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
}

/** The body, using Content-Length to read into one buffer when the server sent it. */
export function readBody(res: RestResponse): Promise<Buffer> {
  const length = contentLength(res)
  return length === undefined ? readAll(res) : readExactly(res, length)
}

/**
 * The start of an error answer's body as one line (servers explain failures in plain text), at
 * most `max` characters; the rest of the body is thrown away. Never throws.
 */
export async function readErrorText(res: RestResponse, max = 200): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of res.body) {
      chunks.push(chunk)
      size += chunk.length
      if (size > 4096) break
    }
  } catch {
    // the status says enough
  } finally {
    res.discard()
  }
  const type = res.header('content-type') ?? ''
  if (type !== '' && !/^text\/|json/.test(type)) return ''
  const text = Buffer.concat(chunks).toString('utf8').replace(/\s+/g, ' ').trim()
  return text.length > max ? `${text.slice(0, max)}…` : text
}

/** Reads and drops a body expected to be small or empty, so a keep-alive connection can be reused. */
export async function drain(res: RestResponse): Promise<void> {
  let size = 0
  try {
    for await (const chunk of res.body) {
      size += chunk.length
      if (size > 65536) break
    }
  } finally {
    res.discard()
  }
}

/** Content-Length as a number, or undefined when absent or not a plain decimal. */
export function contentLength(res: RestResponse): number | undefined {
  const v = res.header('content-length')
  if (v === undefined || !/^\d+$/.test(v.trim())) return undefined
  const n = Number(v)
  return Number.isSafeInteger(n) ? n : undefined
}

/** A parsed `Content-Range: bytes START-END/TOTAL` header. */
export interface ContentRange {
  start: number
  /**
   * Inclusive; below `start` for an empty range (rclone 1.60 sends `bytes 0--1/0` for an empty
   * file and `bytes 200-99/100` for a range past the end of a 100-byte file).
   */
  end: number
  /** The whole file's size, or undefined for `*`. */
  total: number | undefined
}

/**
 * Parses `bytes START-END/TOTAL` (TOTAL may be `*`), and the form with `*` in place of
 * START-END that a 416 answer carries (only the size). Undefined when absent or malformed.
 *
 * @example
 * parseContentRange('bytes 90-99/100') // → { start: 90, end: 99, total: 100 }
 */
export function parseContentRange(v: string | undefined): ContentRange | { start: undefined; end: undefined; total: number } | undefined {
  if (v === undefined) return undefined
  const star = /^bytes \*\/(\d+)$/.exec(v.trim())
  if (star !== null) return { start: undefined, end: undefined, total: Number(star[1]) }
  const m = /^bytes (\d+)-(-?\d+)\/(\d+|\*)$/.exec(v.trim())
  if (m === null) return undefined
  const r = { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) }
  if (!Number.isSafeInteger(r.start) || !Number.isSafeInteger(r.end)) return undefined
  return r
}
