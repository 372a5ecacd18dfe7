/**
 * RestBackend over HTTP/1.1 against a real `rclone serve restic` on loopback: the conformance
 * suite, Basic auth, TLS with our own CA (and a client certificate), --append-only, and the
 * speed of 16 MiB saves and loads.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { isAppError } from '../../base/index.js'
import type { Backend, Handle } from '../backend.js'
import { FileExistsError } from '../errors.js'
import { parseRepositoryUrl, type BackendOptions, type RepositoryLocation } from '../registry.js'
import { runConformanceSuite } from '../testing/conformance.js'
import { openRestBackend } from './open-rest-backend.js'
import { measure, rcloneAvailable, startRcloneServe, type RcloneServer } from './testing.js'

const hasRclone = await rcloneAvailable()
const skip = hasRclone ? false : 'rclone is not installed'
const root = mkdtempSync(join(tmpdir(), 'cairn-rest-rclone-'))
const started: Promise<RcloneServer>[] = []
after(async () => {
  await Promise.all(started.map(async (s) => (await s.catch(() => undefined))?.stop()))
  rmSync(root, { recursive: true, force: true })
})

function serve(dir: string, extra: string[] = [], scheme: 'http' | 'https' = 'http'): Promise<RcloneServer> {
  const s = startRcloneServe(join(root, dir), extra, scheme)
  started.push(s)
  return s
}

/** The backend alone, without the retry and other wrappers openBackend() adds. */
function open(url: string, options: BackendOptions = {}): Backend {
  return openRestBackend(parseRepositoryUrl(url) as Extract<RepositoryLocation, { scheme: 'rest' }>, options)
}

function file(type: Handle['type'], size: number): { h: Handle; data: Buffer } {
  const data = randomBytes(size)
  return { h: { type, name: createHash('sha256').update(data).digest('hex') }, data }
}

let plain: Promise<RcloneServer> | undefined
let repoCount = 0
if (hasRclone) {
  // rclone serve restic replaces a file POSTed twice (restic-format.md §7.4), hence `overwrites`.
  runConformanceSuite(
    'RestBackend over HTTP/1.1 to rclone serve restic',
    async () => {
      plain ??= serve('conformance')
      return open(`rest:${(await plain).url}repo-${++repoCount}/`)
    },
    { overwrites: true },
  )
}

describe('RestBackend against rclone serve restic', { skip }, () => {
  it('uses Basic auth from the URL, CAIRN_REST_* or RESTIC_REST_*; a wrong password is PERMISSION_DENIED and never shown', async () => {
    const s = await serve('auth', ['--user', 'alice', '--pass', 'c0rrect-horse'])
    const host = `127.0.0.1:${s.port}`
    const good = open(`rest:http://alice:c0rrect-horse@${host}/`)
    const { h, data } = file('keys', 100)
    try {
      await good.create()
      await good.save(h, data)
    } finally {
      await good.close()
    }
    for (const env of [
      { RESTIC_REST_USERNAME: 'alice', RESTIC_REST_PASSWORD: 'c0rrect-horse' },
      { CAIRN_REST_USERNAME: 'alice', CAIRN_REST_PASSWORD: 'c0rrect-horse', RESTIC_REST_PASSWORD: 'stale' },
    ]) {
      const fromEnv = open(`rest:http://${host}/`, { env })
      try {
        assert.deepEqual(await fromEnv.load(h), data)
      } finally {
        await fromEnv.close()
      }
    }
    for (const url of [`rest:http://alice:Wr0ng-Pa55word@${host}/`, `rest:http://${host}/`]) {
      const bad = open(url, { env: {} })
      try {
        await assert.rejects(bad.load(h), (err: unknown) => {
          assert.ok(isAppError(err, 'PERMISSION_DENIED'), String(err))
          assert.match(err.message, new RegExp(`^Cannot load "keys/${h.name}" from "rest:http://${host}/": the server refused the credentials \\(401 Unauthorized\\)`))
          assert.doesNotMatch(`${err.message} ${err.hint}`, /Wr0ng|c0rrect/)
          assert.match(err.hint ?? '', /user name and password/)
          return true
        })
      } finally {
        await bad.close()
      }
    }
  })

  it('speaks TLS with a CA given as --cacert, refuses an untrusted certificate, and sends a client certificate', async () => {
    const pki = makePki(join(root, 'pki'))
    const s = await serve('tls', ['--cert', pki.serverCert, '--key', pki.serverKey], 'https')
    const { h, data } = file('snapshots', 500)
    const trusted = open(`rest:${s.url}`, { caCertFiles: [pki.ca] })
    try {
      await trusted.create()
      await trusted.save(h, data)
      assert.deepEqual(await trusted.load(h), data)
    } finally {
      await trusted.close()
    }
    for (const options of [{}, { caCertFiles: [pki.otherCa] }]) {
      const untrusted = open(`rest:${s.url}`, options)
      try {
        await assert.rejects(untrusted.stat(h), (err: unknown) => {
          assert.ok(isAppError(err, 'PERMISSION_DENIED'), String(err))
          assert.match(err.message, /the server's TLS certificate is not trusted: .*\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/)
          assert.match(err.hint ?? '', /--cacert/)
          return true
        })
      } finally {
        await untrusted.close()
      }
    }

    const mtls = await serve('mtls', ['--cert', pki.serverCert, '--key', pki.serverKey, '--client-ca', pki.ca], 'https')
    const withCert = open(`rest:${mtls.url}`, { caCertFiles: [pki.ca], tlsClientCertFile: pki.clientPem })
    try {
      await withCert.create()
      await withCert.save(h, data)
      assert.deepEqual(await withCert.stat(h), { name: h.name, size: 500 })
    } finally {
      await withCert.close()
    }
    const withoutCert = open(`rest:${mtls.url}`, { caCertFiles: [pki.ca] })
    try {
      await assert.rejects(withoutCert.stat(h), (err: unknown) => isAppError(err) && /Cannot stat/.test(err.message))
    } finally {
      await withoutCert.close()
    }
  })

  it('with --append-only: saves work, removing data is PERMISSION_DENIED, removing locks works, saving twice is FileExistsError', async () => {
    const s = await serve('append-only', ['--append-only'])
    const be = open(`rest:${s.url}`)
    try {
      await be.create()
      const pack = file('data', 2000)
      const lock = file('locks', 50)
      await be.save(pack.h, pack.data)
      await be.save(lock.h, lock.data)
      await assert.rejects(be.remove(pack.h), (err: unknown) => {
        assert.ok(isAppError(err, 'PERMISSION_DENIED'), String(err))
        assert.match(err.message, new RegExp(`^Cannot remove "data/${pack.h.name}" from "rest:${s.url}": the server refused the operation \\(403 Forbidden\\)`))
        assert.match(err.hint ?? '', /append-only/)
        return true
      })
      assert.deepEqual(await be.load(pack.h), pack.data)
      await be.remove(lock.h)
      await assert.rejects(be.stat(lock.h), (err: unknown) => isAppError(err, 'NOT_FOUND'))
      await assert.rejects(be.save(pack.h, pack.data), FileExistsError)
    } finally {
      await be.close()
    }
  })

  it('saves and loads 16 MiB packs (speed reported)', async (t) => {
    const s = await serve('speed')
    const be = open(`rest:${s.url}`)
    try {
      await be.create()
      const { saveMBps, loadMBps } = await measure(be, 5)
      t.diagnostic(`HTTP/1.1 to rclone serve restic, 16 MiB: save ${saveMBps.toFixed(0)} MB/s, load ${loadMBps.toFixed(0)} MB/s (best of 5)`)
    } finally {
      await be.close()
    }
  })
})

interface Pki {
  ca: string
  otherCa: string
  serverCert: string
  serverKey: string
  /** Client certificate and key in one PEM, as --tls-client-cert wants. */
  clientPem: string
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
function makePki(dir: string): Pki {
  execFileSync('mkdir', ['-p', dir])
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  run('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=cairn test CA')
  run('req', '-x509', ...ec, '-keyout', 'other.key', '-out', 'other.pem', '-days', '2', '-subj', '/CN=some other CA')
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n')
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n')
  for (const who of ['server', 'client']) {
    run('req', ...ec, '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=cairn test ${who}`)
    run('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.pem`, '-days', '2', '-extfile', `${who}.ext`)
  }
  execFileSync('sh', ['-c', 'cat client.pem client.key > client-combined.pem'], { cwd: dir })
  return {
    ca: join(dir, 'ca.pem'),
    otherCa: join(dir, 'other.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    clientPem: join(dir, 'client-combined.pem'),
  }
}
