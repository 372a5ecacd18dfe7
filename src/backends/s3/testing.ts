/**
 * A real S3 server for tests: OpenStack Swift with s3api on loopback, one per test file, started
 * in a temporary directory by the Python launcher in swift-launcher.ts (facts in
 * ../shared/docs/s3-test-server.md). Tests only.
 */
import { execFile, execFileSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SWIFT_LAUNCHER_PY } from './swift-launcher.js'

/** Debian's python3-swift is installed for the system Python; pyenv's python3 on PATH has no swift module. */
export const SWIFT_PYTHON = process.env.CAIRN_SWIFT_PYTHON ?? '/usr/bin/python3'

export interface SwiftS3Server {
  /** The server's directory (configuration, rings, logs in `log/`, object data). */
  dir: string
  /** `http://127.0.0.1:PORT` */
  httpEndpoint: string
  /** `https://127.0.0.1:PORT`, with a certificate signed by `caFile`; undefined when started without TLS. */
  httpsEndpoint: string | undefined
  /** The PEM CA that signed the https proxy's certificate (pass with --cacert / caCertFiles). */
  caFile: string | undefined
  accessKeyId: string
  secretAccessKey: string
  region: string
  /** A bucket the launcher created and checked. */
  bucket: string
  /** Start to ready, as measured around the launcher. */
  startupMs: number
  /** AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for this server, to merge into an environment. */
  credentialsEnv: Record<string, string>
  /** A repository location: `s3:<endpoint>/<bucket>/<prefix>`. */
  url(scheme: 'http' | 'https', bucket: string, prefix?: string): string
  /** Stops every process and removes the directory (kept when CAIRN_KEEP_TMP is set). */
  stop(): Promise<void>
}

export interface StartOptions {
  /** Start the https proxy too (default true). */
  tls?: boolean
  /** Run memcached for the proxies (default true when `memcached` is installed). */
  memcached?: boolean
}

interface LaunchInfo {
  http_port: number
  https_port: number | null
  ca_file: string | null
  access_key: string
  secret_key: string
  region: string
  bucket: string
}

let skipReason: Promise<string | false> | undefined

/**
 * Why the S3 tests cannot run here (for `describe(…, { skip })`), or false when they can:
 * the system Python must import swift (Debian's python3-swift), and openssl must exist for TLS.
 */
export function swiftS3SkipReason(): Promise<string | false> {
  skipReason ??= new Promise((resolve) => {
    execFile(SWIFT_PYTHON, ['-c', 'import swift.common.wsgi, swift.common.middleware.s3api'], (err) => {
      if (err) resolve(`${SWIFT_PYTHON} cannot import swift (install Debian's python3-swift): no S3 test server`)
      else if (!existsSync('/usr/bin/openssl')) resolve('openssl is missing: cannot make the S3 test server\'s certificate')
      else resolve(false)
    })
  })
  return skipReason
}

const running = new Set<string>()
let exitHookInstalled = false

/** Last resort when a test process ends without calling stop(): stop the servers synchronously. */
function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const dir of running) {
      try {
        execFileSync(SWIFT_PYTHON, [join(dir, 'launcher.py'), 'stop', dir], { stdio: 'ignore', timeout: 10_000 })
      } catch {
        // nothing more can be done while exiting
      }
    }
  })
}

/**
 * Starts a Swift S3 server on free loopback ports (http, and https with its own CA) in a new
 * temporary directory, and resolves when it serves S3 requests. Rejects with the launcher's
 * message (and the end of the failing server's log) when it cannot start.
 *
 * @example
 * const server = await startSwiftS3Server()
 * after(() => server.stop())
 * const be = new S3Backend(…server.url('http', 'bucket', 'repo')…, { env: server.credentialsEnv })
 */
export async function startSwiftS3Server(options: StartOptions = {}): Promise<SwiftS3Server> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-swift-s3-'))
  const launcher = join(dir, 'launcher.py')
  await writeFile(launcher, SWIFT_LAUNCHER_PY)
  const args = [launcher, 'start', dir]
  if (options.tls === false) args.push('--no-tls')
  if (options.memcached === false || (options.memcached === undefined && !existsSync('/usr/bin/memcached'))) args.push('--no-memcached')
  installExitHook()
  running.add(dir)
  const began = performance.now()
  let stdout: string
  try {
    stdout = await new Promise<string>((resolve, reject) => {
      execFile(SWIFT_PYTHON, args, { timeout: 120_000, maxBuffer: 1 << 20 }, (err, out, errOut) => {
        if (err) reject(new Error(`The S3 test server did not start (${dir}):\n${errOut.trim() || err.message}`))
        else resolve(out)
      })
    })
  } catch (err) {
    running.delete(dir)
    await rm(dir, { recursive: true, force: true }).catch(() => {})
    throw err
  }
  const startupMs = performance.now() - began
  const info = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as LaunchInfo
  const httpEndpoint = `http://127.0.0.1:${info.http_port}`
  const httpsEndpoint = info.https_port === null ? undefined : `https://127.0.0.1:${info.https_port}`
  let stopped = false
  return {
    dir,
    httpEndpoint,
    httpsEndpoint,
    caFile: info.ca_file ?? undefined,
    accessKeyId: info.access_key,
    secretAccessKey: info.secret_key,
    region: info.region,
    bucket: info.bucket,
    startupMs,
    credentialsEnv: { AWS_ACCESS_KEY_ID: info.access_key, AWS_SECRET_ACCESS_KEY: info.secret_key },
    url(scheme, bucket, prefix = '') {
      const endpoint = scheme === 'http' ? httpEndpoint : httpsEndpoint
      if (endpoint === undefined) throw new Error('The S3 test server was started without TLS')
      return `s3:${endpoint}/${bucket}${prefix === '' ? '' : `/${prefix}`}`
    },
    async stop() {
      if (stopped) return
      stopped = true
      await new Promise<void>((resolve) => execFile(SWIFT_PYTHON, [launcher, 'stop', dir], { timeout: 30_000 }, () => resolve()))
      running.delete(dir)
      if (process.env.CAIRN_KEEP_TMP) process.stderr.write(`# kept the S3 test server's files in ${dir}\n`)
      else await rm(dir, { recursive: true, force: true })
    },
  }
}
