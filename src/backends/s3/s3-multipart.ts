import { createHash } from 'node:crypto'
import type { CompletedPart } from '@aws-sdk/client-s3'
import { createLimit } from '../../base/index.js'
import type { S3Connection } from './s3-client.js'
import { partSizeFor } from './s3-settings.js'

export interface MultipartTarget {
  bucket: string
  key: string
  storageClass: string | undefined
  /** Configured part size; grown for objects that would need more than MAX_PARTS parts. */
  partSize: number
  /** Parts in flight at once. */
  concurrency: number
}

/**
 * Uploads `data` as one object in parts: CreateMultipartUpload, UploadPart for each slice (with
 * Content-MD5, so the server checks every part), CompleteMultipartUpload with the parts in order.
 * The object appears only when Complete succeeds, so readers never see part of it. On any failure
 * the upload is aborted (its parts are deleted) and the first error is thrown.
 */
export async function uploadMultipart(conn: S3Connection, target: MultipartTarget, data: Buffer): Promise<void> {
  const { sdk, client } = conn
  const created = await client.send(
    new sdk.CreateMultipartUploadCommand({
      Bucket: target.bucket,
      Key: target.key,
      ContentType: 'application/octet-stream',
      ...(target.storageClass === undefined ? {} : { StorageClass: target.storageClass as never }),
    }),
  )
  const uploadId = created.UploadId
  if (uploadId === undefined) throw new Error('CreateMultipartUpload returned no upload ID')
  try {
    const size = partSizeFor(data.length, target.partSize)
    const count = Math.max(1, Math.ceil(data.length / size))
    const limit = createLimit(Math.max(1, target.concurrency))
    let firstError: unknown
    // allSettled, not all: every part in flight must end before the abort, or a late part could
    // be stored after it.
    const results = await Promise.allSettled(
      Array.from({ length: count }, (_, i) =>
        limit(async (): Promise<CompletedPart> => {
          if (firstError !== undefined) throw firstError
          const body = data.subarray(i * size, Math.min(data.length, (i + 1) * size))
          try {
            const out = await client.send(
              new sdk.UploadPartCommand({
                Bucket: target.bucket,
                Key: target.key,
                UploadId: uploadId,
                PartNumber: i + 1,
                Body: body,
                ContentLength: body.length,
                ContentMD5: createHash('md5').update(body).digest('base64'),
              }),
            )
            if (out.ETag === undefined) throw new Error(`UploadPart ${i + 1} returned no ETag`)
            return { PartNumber: i + 1, ETag: out.ETag }
          } catch (err) {
            firstError ??= err
            throw err
          }
        }),
      ),
    )
    if (firstError !== undefined) throw firstError
    const parts = results.map((r) => (r as PromiseFulfilledResult<CompletedPart>).value)
    await client.send(
      new sdk.CompleteMultipartUploadCommand({ Bucket: target.bucket, Key: target.key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
    )
  } catch (err) {
    await client.send(new sdk.AbortMultipartUploadCommand({ Bucket: target.bucket, Key: target.key, UploadId: uploadId })).catch(() => {})
    throw err
  }
}
