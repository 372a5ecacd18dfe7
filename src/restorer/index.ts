/**
 * @module restorer
 * Restore: writes a tree from a snapshot into a local directory, with contents, modes, owners,
 * timestamps, symlinks, hard links, xattrs, special files and sparse files. Each pack is read
 * once. Reports progress through callbacks and never prints.
 *
 * Dump is the other output: a tree written as a tar or zip stream (TarWriter, ZipWriter encode
 * the formats), or one file's content, into a **ByteSink** (a stream with backpressure). File
 * content is read in order with a **BlobQueue** that loads blobs ahead of the writer.
 *
 * @example
 * await restore(repo, { tree: snapshot.tree, target: '/tmp/restore' })
 */
export { restore, type RestoreAction, type RestoreOptions, type RestoreProgress, type RestoreSummary } from './restorer.js'
export { OVERWRITE_POLICIES, type OverwritePolicy } from './existing.js'
export { dumpArchive, dumpFile, type ArchiveFormat, type DumpOptions, type DumpSummary } from './archive-dump.js'
export { TarWriter, type TarEntry, type TarEntryType } from './tar-writer.js'
export { ZipWriter, type ZipEntry, type ZipMethod, type ZipWriterOptions } from './zip-writer.js'
export { memorySink, streamSink, type ByteSink } from './byte-sink.js'
export { BlobCache, BlobQueue, fileContent, type BlobQueueOptions } from './blob-stream.js'
