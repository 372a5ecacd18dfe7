import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isAppError } from '../base/index.js'
import { createKeyFile, masterKeyToJSON, newMasterKey, open, openKeyFile, parseKeyFile } from './index.js'

// The complete vector of the format notes (§2.3): a key file made for restic 0.14 and accepted by
// it, with a deliberate unknown field, and the repository config sealed with its master key.
const VECTOR_KEY_FILE =
  '{"created":"2026-11-22T03:39:33.734Z","username":"tsuser","hostname":"tshost","kdf":"scrypt","N":16384,"r":8,"p":1,' +
  '"salt":"nVFYR8GHIiUMw0c+6n9DI8Pia2ethyZyg+bAl2WAFNLjDNX26C1aIkO+Mpii3bXsmvc8ZLSWqvLwBk6pp6xQTQ==",' +
  '"data":"o62AKn9wVHyv68MxfroHoaHLIGsCyvM61SUbjRwZveSksy/SAFYYaaryRw6c1I5wTMHsZNoT3q8oAiDfJynGU9XGD3FE94ANcPc/TA20ny+2k2L4VABUsfa3s++Tp4CEpav9nFkF1cARLVVoEW6WKnYQJaWcCA8jKnRqDtC9DWH0ACPaQq8FS58w5B51jhS4pzUtjM3ZNIbU4Dd1zEgj3g==",' +
  '"extra_field":"ignored?"}'
const VECTOR_MASTER_JSON =
  '{"mac":{"k":"hHKT2pNW3zq7hflsn4dBtQ==","r":"YqBxD2jtzAhkjQwBWAijAA=="},"encrypt":"Tosb78+1YlnizQkmUfOisHuNKOoX/b1ktYS3DIYlJJs="}'
const VECTOR_CONFIG =
  'W8yPDaHGAobiBDGFDCEafyMjek2XmOMW32GDiVvtOTzyEWfTeGvJY90bWMUdpNXYOShN66jmXTVIq5e9YevLciTNcB6qJpgfx7DZTza25DxCN+g7z8EGa7UaD1Ar9bpEd83sHa1+Rbpbj8xnkjhOTTuKiB9ALnj/B3iSZCfVAKmRpWa+QkWNsn8tdnGY80bchkJoisFjCX0SJ6E='
const VECTOR_CONFIG_PLAINTEXT =
  '{"version":2,"id":"a632be2b1ed97ef8694c88dd7313ea56f0b528eb28000672fccea5a8f858cd32","chunker_polynomial":"3da3358b4dc173"}'

const FAST = { N: 1024, r: 8, p: 1 }
const isInvalidData = (err: unknown) => isAppError(err, 'INVALID_DATA')
const isWrongPassword = (err: unknown) => isAppError(err, 'WRONG_PASSWORD')

function variant(changes: Record<string, unknown>, base = VECTOR_KEY_FILE): Buffer {
  return Buffer.from(JSON.stringify({ ...JSON.parse(base), ...changes }))
}

test('openKeyFile() opens the restic-accepted key file vector, and its master key opens the config', async () => {
  const master = await openKeyFile(Buffer.from(VECTOR_KEY_FILE), 'pw2')
  assert.equal(masterKeyToJSON(master), VECTOR_MASTER_JSON)
  assert.equal(open(master, Buffer.from(VECTOR_CONFIG, 'base64')).toString(), VECTOR_CONFIG_PLAINTEXT)
})

test('openKeyFile() throws WRONG_PASSWORD for a wrong password', async () => {
  await assert.rejects(openKeyFile(Buffer.from(VECTOR_KEY_FILE), 'pw3'), isWrongPassword)
})

test('parseKeyFile() reads the vector\'s fields and ignores the unknown one', () => {
  const info = parseKeyFile(Buffer.from(VECTOR_KEY_FILE))
  const { extra_field: _ignored, ...known } = JSON.parse(VECTOR_KEY_FILE)
  assert.deepEqual(info, known)
  assert.equal(info.N, 16384)
  assert.equal(info.hostname, 'tshost')
  assert.ok(!('extra_field' in info))
})

test('createKeyFile() writes compact JSON in restic\'s field order, without a trailing newline', async () => {
  const master = newMasterKey()
  const created = new Date('2026-11-22T03:39:33.730Z')
  const { bytes, info } = await createKeyFile('pw', master, { params: FAST, username: 'ann', hostname: 'nas', created })
  const text = bytes.toString()
  assert.match(
    text,
    /^\{"created":"2026-11-22T03:39:33\.73Z","username":"ann","hostname":"nas","kdf":"scrypt","N":1024,"r":8,"p":1,"salt":"[A-Za-z0-9+/]{86}==","data":"[A-Za-z0-9+/=]+"\}$/,
  )
  assert.deepEqual(JSON.parse(text), info)
  assert.equal(Buffer.from(info.salt, 'base64').length, 64)
  // data = IV || sealed master key JSON || tag
  assert.equal(Buffer.from(info.data, 'base64').length, masterKeyToJSON(master).length + 32)
})

test('createKeyFile() output opens with the same password to the same master key', async () => {
  const master = newMasterKey()
  const { bytes } = await createKeyFile('correct horse ✓', master, { params: FAST, username: 'u', hostname: 'h' })
  const again = await openKeyFile(bytes, 'correct horse ✓')
  assert.equal(masterKeyToJSON(again), masterKeyToJSON(master))
  await assert.rejects(openKeyFile(bytes, 'correct horse'), isWrongPassword)
})

test('createKeyFile() uses a fresh salt, so two files for one master key differ but both open', async () => {
  const master = newMasterKey()
  const a = await createKeyFile('one', master, { params: FAST, username: 'u', hostname: 'h' })
  const b = await createKeyFile('two', master, { params: FAST, username: 'u', hostname: 'h' })
  assert.notEqual(a.info.salt, b.info.salt)
  assert.equal(masterKeyToJSON(await openKeyFile(a.bytes, 'one')), masterKeyToJSON(master))
  assert.equal(masterKeyToJSON(await openKeyFile(b.bytes, 'two')), masterKeyToJSON(master))
})

test('createKeyFile() escapes user and host names the way Go does', async () => {
  const { bytes, info } = await createKeyFile('pw', newMasterKey(), { params: FAST, username: 'a<b>&"c"', hostname: 'h\u2028' })
  assert.ok(bytes.toString().includes('"username":"a\\u003cb\\u003e\\u0026\\"c\\"","hostname":"h\\u2028"'))
  assert.equal(parseKeyFile(bytes).username, 'a<b>&"c"')
  assert.equal(info.hostname, 'h\u2028')
})

test('createKeyFile() rejects invalid scrypt parameters', async () => {
  await assert.rejects(createKeyFile('pw', newMasterKey(), { params: { N: 1000, r: 8, p: 1 }, username: 'u', hostname: 'h' }), RangeError)
})

test('openKeyFile() throws WRONG_PASSWORD when the sealed data was tampered with', async () => {
  const { bytes, info } = await createKeyFile('pw', newMasterKey(), { params: FAST, username: 'u', hostname: 'h' })
  const data = Buffer.from(info.data, 'base64')
  data[40] ^= 1
  await assert.rejects(openKeyFile(variant({ data: data.toString('base64') }, bytes.toString()), 'pw'), isWrongPassword)
})

test('openKeyFile() rejects a salt that is not 64 bytes', async () => {
  for (const size of [16, 32, 63, 65]) {
    const salt = Buffer.alloc(size, 1).toString('base64')
    await assert.rejects(openKeyFile(variant({ salt }), 'pw2'), isInvalidData, `salt of ${size} bytes`)
  }
})

test('openKeyFile() rejects a kdf other than scrypt', async () => {
  for (const kdf of ['argon2', 'SCRYPT', null, 1]) {
    await assert.rejects(openKeyFile(variant({ kdf }), 'pw2'), isInvalidData, String(kdf))
  }
  await assert.rejects(openKeyFile(variant({ kdf: undefined }), 'pw2'), isInvalidData)
})

test('openKeyFile() rejects invalid N, r or p', async () => {
  for (const change of [{ N: 16383 }, { N: 1 }, { N: '16384' }, { r: 0 }, { p: 0 }, { p: -1 }, { r: 1.5 }, { N: undefined }]) {
    await assert.rejects(openKeyFile(variant(change), 'pw2'), isInvalidData, JSON.stringify(change))
  }
})

test('openKeyFile() rejects malformed JSON and wrong field types', async () => {
  const cases = [
    Buffer.from('{"created":'),
    Buffer.from('[]'),
    Buffer.from('null'),
    Buffer.from(''),
    variant({ salt: 'not base64' }),
    variant({ salt: 12 }),
    variant({ data: 'AAAA' }), // shorter than IV + tag
    variant({ data: undefined }),
    variant({ username: 5 }),
    variant({ created: 'last tuesday' }),
  ]
  for (const bytes of cases) await assert.rejects(openKeyFile(bytes, 'pw2'), isInvalidData, bytes.toString())
})

test('parseKeyFile() reads missing created, username and hostname as Go zero values', () => {
  const info = parseKeyFile(variant({ created: undefined, username: null, hostname: undefined }))
  assert.equal(info.created, '0001-01-01T00:00:00Z')
  assert.equal(info.username, '')
  assert.equal(info.hostname, '')
})
