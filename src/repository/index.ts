/**
 * @module repository
 * A restic repository (format v1 and v2) on top of a Backend.
 *
 * Terms: a **blob** is a piece of content (a file chunk: "data", or a directory listing: "tree")
 * named by the SHA-256 of its plaintext. Blobs are sealed (AES-256-CTR + Poly1305-AES), optionally
 * zstd-compressed, and stored in **packs**: files in data/ whose encrypted header lists their
 * blobs. **Index** files map blobs to packs. **Unpacked** files (index, snapshots, locks) hold one
 * sealed JSON document each. The **config** names the format version and chunker polynomial;
 * **keys** wrap the master key with a password.
 *
 * @example
 * const repo = await Repository.open(backend, password)
 * await repo.loadIndex()
 * const plaintext = await repo.loadBlob('tree', id)
 */
export { Repository, type InitOptions, type OpenOptions, type UnpackedType } from './repository.js'
export { BlobWriter, compressionLevels, type CompressionMode, type SaveResult, type WriterOptions } from './blob-writer.js'
export { plaintextLength, type BlobLocation, type BlobType, type PackedBlob } from './blob.js'
export { MasterIndex } from './index/master-index.js'
export { decodeIndex, decodeIndexTable, encodeIndex, IndexFileBuilder, type IndexFile, type IndexPack, type IndexTable } from './index/index-file.js'
export { encodeHeader, packSize, parseHeader } from './pack/pack-format.js'
export { readPackHeader } from './pack/pack-reader.js'
export { decodeLock, Lock, isAbandoned, isStale, listLocks, processRuns, processScope, releaseAllLocks, type LockInfo } from './lock.js'
export { encodeRepoConfig, type RepoConfig } from './repo-config.js'
export { zstdCompress, zstdDecompress, zstdDecompressInto } from './compression.js'
export { createInlineEncoder, createWorkerEncoder, encodeBlob, encodedLength, type BlobEncoder, type EncodedBlob, type EncoderWorkerApi, type EncoderWorkerExtension, type WorkerEncoder } from './blob-encoder.js'
export { PackCache } from './pack/pack-cache.js'
export { decodeSealedBlob, keyForWorker, keyFromWorkerData, Scratch, verifySealedBlob, type BlobToDecode } from './blob-decoder.js'
