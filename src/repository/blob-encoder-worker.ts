// Worker thread body for createWorkerEncoder: compress and seal blobs with the master key.
import { ownBuffer, serveWorker } from '../base/index.js'
import { masterKeyFromJSON, type MasterKey } from '../crypto/index.js'
import { encodeBlob } from './blob-encoder.js'
import type { BlobType } from './blob.js'

let key: MasterKey | undefined

serveWorker<{ type: BlobType; data: Uint8Array; level: number }>((m, data) => {
  key ??= masterKeyFromJSON((data as { key: string }).key)
  const { sealed, uncompressedLength } = encodeBlob(key, m.type, m.data, m.level)
  const out = ownBuffer(sealed)
  return { result: { sealed: out, uncompressedLength }, transfer: [out.buffer as ArrayBuffer] }
})
