import { AppError } from '../../base/index.js'
import type { Backend } from '../../backends/index.js'
import { open, type MasterKey } from '../../crypto/index.js'
import type { PackedBlob } from '../blob.js'
import { EAGER_TAIL_SIZE, MAX_HEADER_SIZE, packSize, parseHeader } from './pack-format.js'

/**
 * Reads and decrypts the header of pack `name` with ranged reads only: the tail first (which
 * usually holds the whole header), then the rest of the header if it is bigger.
 */
export async function readPackHeader(
  backend: Pick<Backend, 'load' | 'stat'>,
  key: MasterKey,
  name: string,
  size?: number,
): Promise<PackedBlob[]> {
  const h = { type: 'data' as const, name }
  const fileSize = size ?? (await backend.stat(h)).size
  if (fileSize < 4 + 32) throw new AppError('INVALID_DATA', `Pack "${name}" is too short (${fileSize} bytes) to hold a header`)
  const tailLen = Math.min(fileSize, EAGER_TAIL_SIZE)
  let tail = await backend.load(h, fileSize - tailLen, tailLen)
  const headerLen = tail.readUInt32LE(tail.length - 4)
  if (headerLen < 32 || headerLen > fileSize - 4 || headerLen > MAX_HEADER_SIZE) {
    throw new AppError('INVALID_DATA', `Pack "${name}" has an invalid header length ${headerLen} (file size ${fileSize})`)
  }
  if (headerLen + 4 > tail.length) {
    tail = await backend.load(h, fileSize - 4 - headerLen, headerLen + 4)
  }
  const sealed = tail.subarray(tail.length - 4 - headerLen, tail.length - 4)
  let plain: Buffer
  try {
    plain = open(key, sealed)
  } catch (err) {
    throw new AppError('INVALID_DATA', `Pack "${name}" has a damaged header: ${(err as Error).message}`, { cause: err })
  }
  const blobs = parseHeader(plain, name)
  if (packSize(blobs) !== fileSize) {
    throw new AppError('INVALID_DATA', `Pack "${name}" header describes ${packSize(blobs)} bytes but the file has ${fileSize}`)
  }
  return blobs
}
