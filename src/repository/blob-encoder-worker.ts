// Worker thread body for createWorkerEncoder: compress and seal blobs with the master key.
import { parentPort, workerData } from 'node:worker_threads'
import { masterKeyFromJSON } from '../crypto/index.js'
import { encodeBlob } from './blob-encoder.js'
import type { BlobType } from './blob.js'

const key = masterKeyFromJSON((workerData as { key: string }).key)

parentPort!.on('message', (m: { id: number; type: BlobType; data: Uint8Array; level: number }) => {
  try {
    const { sealed, uncompressedLength } = encodeBlob(key, m.type, m.data, m.level)
    // Transfer the result; copy first when the buffer is a slice of a larger (pooled) one.
    const out = sealed.byteOffset === 0 && sealed.byteLength === sealed.buffer.byteLength ? sealed : new Uint8Array(sealed)
    parentPort!.postMessage({ id: m.id, sealed: out, uncompressedLength, size: m.data.length }, [out.buffer as ArrayBuffer])
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: (err as Error).message, size: m.data.length })
  }
})
