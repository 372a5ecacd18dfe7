import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { hashId } from '../../base/index.js'
import { S3Backend } from './s3-backend.js'
import { startSwiftS3Server, swiftS3SkipReason, SWIFT_PYTHON, type SwiftS3Server } from './testing.js'

const skip = await swiftS3SkipReason()

function launcher(server: SwiftS3Server, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(SWIFT_PYTHON, [join(server.dir, 'launcher.py'), ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
  })
}

async function pids(dir: string): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (const f of await readdir(join(dir, 'run'))) {
    if (f.endsWith('.pid')) out.set(f.slice(0, -4), Number((await readFile(join(dir, 'run', f), 'utf8')).trim()))
  }
  return out
}

/** A zombie (killed, not yet reaped by whoever adopted it) has an empty command line: not alive. */
function isAlive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`).length > 0
  } catch {
    return false
  }
}

describe('startSwiftS3Server() without TLS and memcached', { skip }, () => {
  let server: SwiftS3Server
  before(async () => {
    server = await startSwiftS3Server({ tls: false, memcached: false })
  })
  after(async () => {
    await server?.stop()
  })

  it('serves S3 over http with the test credentials, in us-east-1, with no https endpoint', async () => {
    assert.equal(server.httpsEndpoint, undefined)
    assert.equal(server.caFile, undefined)
    assert.equal(server.accessKeyId, 'test:tester')
    assert.equal(server.secretAccessKey, 'testing')
    assert.equal(server.region, 'us-east-1')
    assert.match(server.url('http', 'b', 'p'), /^s3:http:\/\/127\.0\.0\.1:\d+\/b\/p$/)
    assert.throws(() => server.url('https', 'b'), /without TLS/)
    const be = new S3Backend({ endpoint: server.httpEndpoint.slice('http://'.length), bucket: server.bucket, prefix: 'launcher', useHttp: true }, { env: server.credentialsEnv })
    try {
      const data = Buffer.from('hello swift')
      const h = { type: 'snapshots' as const, name: hashId(data) }
      await be.save(h, data)
      assert.deepEqual(await be.load(h), data)
    } finally {
      await be.close()
    }
  })

  it('runs four servers, each with a pid file, and refuses a second start in the same directory', async () => {
    const running = await pids(server.dir)
    assert.deepEqual([...running.keys()].sort(), ['account', 'container', 'object', 'proxy'])
    for (const pid of running.values()) assert.ok(isAlive(pid))
    const status = await launcher(server, 'status', server.dir)
    assert.equal(status.code, 0, status.stdout)
    const again = await launcher(server, 'start', server.dir, '--no-tls', '--no-memcached')
    assert.equal(again.code, 1)
    assert.match(again.stderr, /running in there already/)
    for (const pid of running.values()) assert.ok(isAlive(pid), 'the refused start left the running servers alone')
  })

  it('status names a server that died, and stop() ends the rest and removes the directory', async () => {
    const running = await pids(server.dir)
    process.kill(running.get('object')!, 'SIGKILL')
    for (let i = 0; i < 100 && isAlive(running.get('object')!); i++) await new Promise((r) => setTimeout(r, 20))
    const status = await launcher(server, 'status', server.dir)
    assert.equal(status.code, 1)
    assert.match(status.stdout, /object\s+\d+ NOT RUNNING/)
    assert.match(status.stdout, /proxy\s+\d+ running/)
    const dir = server.dir
    await server.stop()
    for (const [name, pid] of running) assert.ok(!isAlive(pid), `${name} (${pid}) still runs`)
    assert.equal(existsSync(dir), process.env.CAIRN_KEEP_TMP !== undefined)
  })
})
