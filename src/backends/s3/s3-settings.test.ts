import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isAppError } from '../../base/index.js'
import { openBackend } from '../registry.js'
import { nameFromListedKey, objectKey, typePrefix } from './s3-layout.js'
import { awsRegionOf, MAX_PARTS, parseSize, partSizeFor, resolveS3Settings, type S3Location } from './s3-settings.js'

const MiB = 1024 * 1024
const ID = 'ab'.padEnd(64, '0')
const swift: S3Location = { endpoint: '127.0.0.1:8080', bucket: 'bkt', prefix: 'repo', useHttp: true }
const aws: S3Location = { endpoint: 's3.amazonaws.com', bucket: 'my-bucket', prefix: '', useHttp: false }

describe('resolveS3Settings()', () => {
  it('uses path-style, us-east-1 and the written scheme for a server that is not AWS', () => {
    const s = resolveS3Settings(swift, {}, {})
    assert.equal(s.endpointUrl, 'http://127.0.0.1:8080')
    assert.equal(s.sdkEndpoint, 'http://127.0.0.1:8080')
    assert.equal(s.region, 'us-east-1')
    assert.equal(s.forcePathStyle, true)
    assert.equal(s.isAws, false)
    assert.equal(s.connections, 5)
    assert.equal(s.multipartThreshold, 200 * MiB)
    assert.equal(s.partSize, 16 * MiB)
    assert.equal(s.sdkRetries, 0)
  })

  it('takes the region from -o s3.region, then AWS_DEFAULT_REGION, then AWS_REGION', () => {
    const env = { AWS_DEFAULT_REGION: 'eu-west-1', AWS_REGION: 'eu-central-1' }
    assert.equal(resolveS3Settings(swift, { 's3.region': 'ap-south-1' }, env).region, 'ap-south-1')
    assert.equal(resolveS3Settings(swift, {}, env).region, 'eu-west-1')
    assert.equal(resolveS3Settings(swift, {}, { AWS_REGION: 'eu-central-1' }).region, 'eu-central-1')
  })

  it('leaves the region to the bucket on the generic AWS host, and reads it from a regional one', () => {
    const s = resolveS3Settings(aws, {}, {})
    assert.equal(s.region, undefined)
    assert.equal(s.sdkEndpoint, undefined, 'the SDK derives the regional endpoint itself')
    assert.equal(s.isAws, true)
    assert.equal(s.forcePathStyle, false, 'AWS gets virtual-host addressing')
    const regional = resolveS3Settings({ ...aws, endpoint: 's3.eu-west-2.amazonaws.com' }, {}, {})
    assert.equal(regional.region, 'eu-west-2')
    assert.equal(regional.sdkEndpoint, 'https://s3.eu-west-2.amazonaws.com')
  })

  it('honours -o s3.bucket-lookup, and keeps path-style for a bucket name with dots on AWS', () => {
    assert.equal(resolveS3Settings(aws, { 's3.bucket-lookup': 'path' }, {}).forcePathStyle, true)
    assert.equal(resolveS3Settings(swift, { 's3.bucket-lookup': 'dns' }, {}).forcePathStyle, false)
    assert.equal(resolveS3Settings({ ...aws, bucket: 'my.bucket' }, {}, {}).forcePathStyle, true)
    assert.throws(() => resolveS3Settings(swift, { 's3.bucket-lookup': 'vhost' }, {}), (err) => isAppError(err, 'INVALID_ARGUMENT') && /auto.*dns.*path/.test(err.message))
  })

  it('reads storage class, connections, multipart sizes and retries', () => {
    const s = resolveS3Settings(
      swift,
      { 's3.storage-class': 'STANDARD_IA', 's3.connections': '12', 's3.multipart-threshold': '64MiB', 's3.part-size': '8M', 's3.retries': '3' },
      {},
    )
    assert.equal(s.storageClass, 'STANDARD_IA')
    assert.equal(s.connections, 12)
    assert.equal(s.multipartThreshold, 64 * MiB)
    assert.equal(s.partSize, 8 * MiB)
    assert.equal(s.sdkRetries, 3)
  })

  it('refuses bad values and unknown s3 options, and ignores other backends\' options', () => {
    const invalid = (extended: Record<string, string>, pattern: RegExp) =>
      assert.throws(() => resolveS3Settings(swift, extended, {}), (err) => isAppError(err, 'INVALID_ARGUMENT') && pattern.test(err.message))
    invalid({ 's3.connections': '0' }, /s3\.connections/)
    invalid({ 's3.connections': 'many' }, /s3\.connections/)
    invalid({ 's3.part-size': '4MiB' }, /at least 5MiB/)
    invalid({ 's3.multipart-threshold': 'big' }, /s3\.multipart-threshold/)
    invalid({ 's3.storage-klass': 'X' }, /Unknown option "s3\.storage-klass"/)
    assert.throws(() => resolveS3Settings(swift, { 's3.layout': 's3legacy' }, {}), (err) => isAppError(err, 'UNSUPPORTED'))
    assert.doesNotThrow(() => resolveS3Settings(swift, { 'sftp.command': 'ssh x', 's3.layout': 'default' }, {}))
  })

  it('drops a "." prefix, as Go\'s path.Clean leaves it for an empty one', () => {
    assert.equal(resolveS3Settings({ ...swift, prefix: '.' }, {}, {}).prefix, '')
    assert.equal(resolveS3Settings({ ...swift, prefix: 'a/b' }, {}, {}).prefix, 'a/b')
  })
})

describe('parseSize() and partSizeFor()', () => {
  it('parses plain bytes and binary units', () => {
    assert.equal(parseSize('x', '5242880'), 5 * MiB)
    assert.equal(parseSize('x', '512k'), 512 * 1024)
    assert.equal(parseSize('x', '16MiB'), 16 * MiB)
    assert.equal(parseSize('x', '2G'), 2 * 1024 * MiB)
    assert.equal(parseSize('x', ''), undefined)
    assert.throws(() => parseSize('x', '1.5M'), (err) => isAppError(err, 'INVALID_ARGUMENT'))
  })

  it('grows the part size in whole MiB so no object needs more than MAX_PARTS parts', () => {
    assert.equal(partSizeFor(100 * MiB, 16 * MiB), 16 * MiB)
    const size = 50_000 * MiB
    const part = partSizeFor(size, 16 * MiB)
    assert.ok(Math.ceil(size / part) <= MAX_PARTS)
    assert.equal(part % MiB, 0)
  })
})

describe('awsRegionOf()', () => {
  it('finds the region in regional AWS host names only', () => {
    assert.equal(awsRegionOf('s3.eu-west-1.amazonaws.com'), 'eu-west-1')
    assert.equal(awsRegionOf('s3-us-west-2.amazonaws.com'), 'us-west-2')
    assert.equal(awsRegionOf('s3.dualstack.ap-southeast-2.amazonaws.com'), 'ap-southeast-2')
    assert.equal(awsRegionOf('s3.cn-north-1.amazonaws.com.cn'), 'cn-north-1')
    assert.equal(awsRegionOf('s3.amazonaws.com'), undefined)
    assert.equal(awsRegionOf('s3-external-1.amazonaws.com'), undefined)
  })
})

describe('S3 object keys (restic\'s default layout)', () => {
  it('puts packs in data/<id[0:2]>/ and everything else one level below its type', () => {
    assert.equal(objectKey('repo', { type: 'config', name: '' }), 'repo/config')
    assert.equal(objectKey('repo', { type: 'data', name: ID }), `repo/data/ab/${ID}`)
    assert.equal(objectKey('', { type: 'keys', name: ID }), `keys/${ID}`)
    assert.equal(objectKey('a/b', { type: 'snapshots', name: ID }), `a/b/snapshots/${ID}`)
    assert.equal(typePrefix('', 'index'), 'index/')
    assert.equal(typePrefix('repo', 'data'), 'repo/data/')
  })

  it('takes names from listed keys and skips what cannot be loaded', () => {
    assert.equal(nameFromListedKey('data', `ab/${ID}`), ID)
    assert.equal(nameFromListedKey('data', ID), undefined, 'a flat s3legacy pack')
    assert.equal(nameFromListedKey('data', `cd/${ID}`), undefined, 'a pack in the wrong folder')
    assert.equal(nameFromListedKey('keys', ID), ID)
    assert.equal(nameFromListedKey('keys', `${ID}-tmp`), undefined)
    assert.equal(nameFromListedKey('keys', ID.toUpperCase()), undefined)
  })
})

describe('openBackend("s3:…")', () => {
  it('opens an S3Backend without any I/O, with the location in https form and no secret in it', async () => {
    const be = await openBackend('s3:s3.amazonaws.com/bucket/some/prefix', { env: { AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: 'hunter2-secret' } })
    assert.equal(be.location, 's3:https://s3.amazonaws.com/bucket/some/prefix')
    assert.deepEqual(be.properties, { connections: 5, local: false, listsAfterWrite: false })
    assert.equal((await openBackend('s3:http://127.0.0.1:9000/bkt', {})).location, 's3:http://127.0.0.1:9000/bkt')
  })

  it('reports a bad -o s3 option when opening', async () => {
    await assert.rejects(openBackend('s3:http://127.0.0.1:9000/bkt', { extended: { 's3.connections': '-1' } }), (err) => isAppError(err, 'INVALID_ARGUMENT'))
  })
})
