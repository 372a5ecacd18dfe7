/**
 * s3Error() for replies the Swift test server cannot be made to give (5xx, throttling, expired
 * tokens); the ones it can give are tested against it in s3-backend.test.ts. The errors here have
 * the shape the SDK gives them: `name` is the S3 code, `$metadata.httpStatusCode` the status.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AppError } from '../../base/index.js'
import { explainNetworkError } from '../rest/network-error.js'
import { isTransient } from '../wrap/transient.js'
import { isMissingKey, s3Error } from './s3-errors.js'
import { checkBucketName } from './s3-settings.js'

const ctx = { location: 's3:https://s3.example.net/bkt/repo', endpointUrl: 'https://s3.example.net', bucket: 'bkt', secret: 'sup3r-secret-key' }

function sdkError(name: string, status: number, message = name): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status }, $fault: status >= 500 ? 'server' : 'client' })
}

describe('s3Error()', () => {
  it('maps server trouble and throttling to NETWORK, so a retry wrapper retries it', () => {
    for (const err of [sdkError('InternalError', 500), sdkError('ServiceUnavailable', 503), sdkError('SlowDown', 503), sdkError('Unknown', 502), sdkError('TooManyRequestsException', 429)]) {
      const e = s3Error(err, 'save "data/ab"', ctx)
      assert.equal(e.code, 'NETWORK', err.name)
      assert.match(e.message, /^Cannot save "data\/ab" in "s3:https:\/\/s3\.example\.net\/bkt\/repo": the server failed \(HTTP 5?\d+/)
    }
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })
    assert.equal(s3Error(reset, 'list "keys"', ctx).code, 'NETWORK')
  })

  it('maps expired or invalid tokens to PERMISSION_DENIED, and scrubs the secret if a server echoes it', () => {
    const e = s3Error(sdkError('ExpiredToken', 400, 'token for sup3r-secret-key expired'), 'read "config"', ctx)
    assert.equal(e.code, 'PERMISSION_DENIED')
    assert.ok(!e.message.includes('sup3r-secret-key'), e.message)
    assert.match(e.message, /\*\*\*/)
    assert.match(e.message, /bucket "bkt" at "https:\/\/s3\.example\.net"/)
  })

  it('tells a policy refusal (AccessDenied) from bad credentials', () => {
    const e = s3Error(sdkError('AccessDenied', 403, 'Access Denied'), 'remove "locks/ab"', ctx)
    assert.equal(e.code, 'PERMISSION_DENIED')
    assert.match(e.message, /was denied/)
    assert.match(e.hint ?? '', /policy/)
  })

  it('passes an AppError through and keeps the SDK error as the cause otherwise', () => {
    const app = new AppError('INVALID_DATA', 'x')
    assert.equal(s3Error(app, 'read "config"', ctx), app)
    const err = sdkError('NoSuchBucket', 404)
    assert.equal(s3Error(err, 'read "config"', ctx).cause, err)
  })

  it('says a server that does not speak TLS does not, at once and with the way out (https:// to a plain-HTTP port)', () => {
    // It was an IO error with OpenSSL's text and no hint; the REST client retried it for a minute.
    const err = Object.assign(new Error('write EPROTO 80:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:ssl3_record.c:350:\n'), { code: 'EPROTO' })
    const e = s3Error(err, 'read "config"', ctx)
    assert.equal(e.code, 'INVALID_ARGUMENT')
    assert.equal(e.message, 'Cannot read "config" in "s3:https://s3.example.net/bkt/repo": cannot reach "https://s3.example.net": the server does not speak TLS there (OpenSSL: wrong version number)')
    assert.match(e.hint ?? '', /Use http:\/\//)
    const rest = explainNetworkError(err)
    assert.equal(rest.code, 'INVALID_ARGUMENT')
    assert.equal(isTransient(rest), false)
  })

  it('names an invalid bucket name as such, before sending anything and in what the server says', () => {
    for (const [bucket, why] of [['b1', /shorter than 3/], ['My Bucket', /not allowed/], ['a'.repeat(64), /longer than 63/], ['1.2.3.4', /IP address/]] as const) {
      assert.throws(() => checkBucketName(bucket), (err) => err instanceof AppError && err.code === 'INVALID_ARGUMENT' && why.test(err.message), bucket)
    }
    checkBucketName('My_Bucket') // restic's client lets it through too: some servers take it
    const named = s3Error(sdkError('InvalidBucketName', 400, 'The specified bucket is not valid.'), 'read "config"', { ...ctx, bucket: 'My_Bucket' })
    assert.equal(named.code, 'INVALID_ARGUMENT')
    assert.match(named.hint ?? '', /3 to 63 characters/)
    // A bare 400 to a HEAD: the region hint only when the name is a plain one
    const bare = (bucket: string) => s3Error(sdkError('UnknownError', 400, 'UnknownError'), 'create bucket', { ...ctx, bucket })
    assert.match(bare('My_Bucket').hint ?? '', /3 to 63 characters/)
    assert.match(bare('good-bucket').hint ?? '', /region/)
  })

  it('names the AWS_PROFILE it could not find credentials in', () => {
    const err = Object.assign(new Error('Could not resolve credentials using profile: [nosuch] in configuration/credentials file(s).'), { name: 'CredentialsProviderError' })
    const e = s3Error(err, 'read "config"', { ...ctx, profile: 'nosuch' })
    assert.equal(e.code, 'PERMISSION_DENIED')
    assert.match(e.message, /profile: \[nosuch\]/)
    assert.match(e.hint ?? '', /the profile "nosuch" named by AWS_PROFILE/)
    assert.match(s3Error(err, 'read "config"', ctx).hint ?? '', /Set AWS_ACCESS_KEY_ID/)
  })

  it('isMissingKey() is true for NoSuchKey and a bodiless 404, false for a missing bucket', () => {
    assert.equal(isMissingKey(sdkError('NoSuchKey', 404)), true)
    assert.equal(isMissingKey(sdkError('NotFound', 404)), true)
    assert.equal(isMissingKey(sdkError('NoSuchBucket', 404)), false)
    assert.equal(isMissingKey(sdkError('AccessDenied', 403)), false)
  })
})
