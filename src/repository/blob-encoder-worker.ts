// Worker thread body for createWorkerEncoder: compresses and seals blobs with the master key,
// straight into the reply buffer (no buffer per blob), and hands other requests to the
// extension module named in the pool's data, if any.
import { serveWorker, workerSetup } from '../base/index.js'
import { masterKeyFromJSON } from '../crypto/index.js'
import { encodeBlobInto, maxEncodedLength, type EncoderWorkerApi, type EncoderWorkerExtension } from './blob-encoder.js'
import type { BlobType } from './blob.js'

const setup = workerSetup<{ key: string; extension?: string }>()
const key = masterKeyFromJSON(setup.key)

const api: EncoderWorkerApi = {
  encode(type, data, level, out) {
    const { buf, offset } = out.room(maxEncodedLength(data.length, level))
    const { length, uncompressedLength } = encodeBlobInto(key, type, data, level, buf, offset)
    return { output: out.commit(length), uncompressedLength }
  },
}

const extension = setup.extension === undefined ? undefined : ((await import(setup.extension)) as { default: EncoderWorkerExtension }).default(api)

serveWorker<{ op?: string; type: BlobType; data: Uint8Array; level: number }>((m, _data, out) => {
  if (m.op === 'encode') {
    const { output, uncompressedLength } = api.encode(m.type, m.data, m.level, out)
    return { result: { uncompressedLength }, output }
  }
  if (extension === undefined) throw new Error(`Unknown request for the encoder worker: ${m.op}`)
  return extension(m as never, out)
})
