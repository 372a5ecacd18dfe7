/**
 * Test helpers for the daemon (tests only): a scriptable run-set function, plans, and real
 * receivers for notifications (an HTTP server that records requests, and a small SMTP server
 * that speaks EHLO, AUTH, MAIL, RCPT, DATA and QUIT and records messages).
 */
import { createServer, type IncomingHttpHeaders } from 'node:http'
import { createServer as createTcpServer, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { systemClock, type Clock } from '../base/index.js'
import type { NotificationTarget } from '../config/index.js'
import type { DaemonPlan, DestinationPlan, MaintenancePlan, SetPlan } from './plan.js'
import type { DestinationOutcome, RunSetFn, RunSetRequest, RunSetResult } from './run-contract.js'

/** A plan from parts, with defaults for what a test does not care about. */
export function testPlan(parts: {
  sets: (Partial<SetPlan> & { name: string; destinations: string[] })[]
  destinations?: (Partial<DestinationPlan> & { name: string })[]
  maintenance?: MaintenancePlan[]
  notifications?: NotificationTarget[]
}): DaemonPlan {
  const names = new Set([...parts.sets.flatMap((s) => s.destinations), ...(parts.destinations ?? []).map((d) => d.name)])
  return {
    sets: parts.sets.map((s) => ({ mode: 'first-available', notify: [], ...s })),
    destinations: [...names].map((name) => {
      const given = parts.destinations?.find((d) => d.name === name)
      return { location: `/repos/${name}`, removable: false, ...given, name }
    }),
    maintenance: parts.maintenance ?? [],
    notifications: parts.notifications ?? [],
  }
}

/** A call the fake run function received, with a way to end it. */
export interface FakeCall {
  request: RunSetRequest
  startedAt: number
  /** Ends the call with this result (default: success at every destination). */
  finish(result?: Partial<RunSetResult>): void
  /** Ends the call with a thrown error. */
  fail(error: Error): void
}

/**
 * A run-set function for tests. With `manual`, each call waits until the test ends it (to hold
 * a run open); otherwise it answers at once with `result`. An aborted call ends as the real one
 * does: its "finally hook" (recorded in `finallyRan`) runs, then it reports the interruption.
 */
export function fakeRunSet(
  options: {
    manual?: boolean
    result?: Partial<RunSetResult>
    now?: () => number
    /** The plan whose set destinations a call reports (default: "(all)"). */
    plan?: DaemonPlan
    /** Destinations for which this is false are reported missing, as the real function does. */
    isPresent?: (name: string) => boolean
  } = {},
): {
  fn: RunSetFn
  calls: FakeCall[]
  finallyRan: string[]
  waitForCalls(n: number, timeoutMs?: number): Promise<void>
} {
  const calls: FakeCall[] = []
  const finallyRan: string[] = []
  const ok = (req: RunSetRequest, extra: Partial<RunSetResult> = {}): RunSetResult => {
    const all = req.destinations ?? options.plan?.sets.find((s) => s.name === req.set)?.destinations ?? ['(all)']
    const dests = all.filter((n) => options.isPresent?.(n) ?? true)
    const missing = all.filter((n) => !(options.isPresent?.(n) ?? true))
    const id = (i: number) => `${String(calls.length).padStart(2, '0')}${i}`.padEnd(64, 'a')
    return {
      result: dests.length > 0 ? 'success' : 'skipped',
      destinations: [
        ...dests.map<DestinationOutcome>((name, i) => ({ name, status: 'success', snapshotId: id(i), files: 3, bytes: 300 })),
        ...missing.map<DestinationOutcome>((name) => ({ name, status: 'missing', error: 'drive not present' })),
      ],
      files: 3,
      bytes: 300,
      snapshotIds: dests.map((_, i) => id(i)),
      errors: [],
      ...extra,
    }
  }
  const fn: RunSetFn = (request) =>
    new Promise<RunSetResult>((resolve, reject) => {
      let settled = false
      const call: FakeCall = {
        request,
        startedAt: options.now?.() ?? Date.now(),
        finish: (result) => {
          if (settled) return
          settled = true
          resolve(ok(request, result))
        },
        fail: (error) => {
          if (settled) return
          settled = true
          reject(error)
        },
      }
      calls.push(call)
      request.onLog?.(`fake run of "${request.set}" started`)
      request.onProgress?.({ files: 1, bytes: 100, phase: 'backup' })
      request.signal.addEventListener(
        'abort',
        () => {
          finallyRan.push(request.set)
          request.onLog?.('finally hook ran')
          call.finish({ result: 'cancelled', errors: ['interrupted'] })
        },
        { once: true },
      )
      if (!options.manual) call.finish(options.result)
    })
  const waitForCalls = async (n: number, timeoutMs = 10_000) => {
    const start = Date.now()
    while (calls.length < n) {
      if (Date.now() - start > timeoutMs) throw new Error(`expected ${n} calls of the run function, got ${calls.length}`)
      await new Promise((r) => setTimeout(r, 10))
    }
  }
  return { fn, calls, finallyRan, waitForCalls }
}

/**
 * The real clock, shifted so that the next minute starts `msBefore` from now: a real daemon
 * with a `* * * * *` schedule then runs within `msBefore`, with real timers.
 */
export function clockBeforeMinute(msBefore: number): Clock {
  const now = Date.now()
  const nextMinute = Math.ceil((now + 1) / 60_000) * 60_000
  const offset = nextMinute - msBefore - now
  return { now: () => Date.now() + offset, setTimer: (ms, fn) => systemClock.setTimer(ms, fn) }
}

/** A request an HTTP receiver got. */
export interface ReceivedRequest {
  method: string
  path: string
  headers: IncomingHttpHeaders
  body: string
}

/** A TCP port on 127.0.0.1 where nothing listens (taken from the OS, then released). */
export async function closedPort(): Promise<number> {
  const server = createTcpServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  await new Promise<void>((r) => server.close(() => r()))
  return port
}

export { waitUntil } from '../../test/helpers/index.js'

/**
 * An HTTP server on 127.0.0.1 that records every request and answers `status` (default 200),
 * or never answers with `hang`.
 */
export async function startHttpReceiver(options: { status?: number; hang?: boolean } = {}): Promise<{
  url: string
  requests: ReceivedRequest[]
  close(): Promise<void>
}> {
  const requests: ReceivedRequest[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') })
      if (options.hang) return
      res.writeHead(options.status ?? 200, { 'content-type': 'text/plain' })
      res.end(options.status && options.status >= 400 ? 'receiver says no' : 'ok')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r())
        server.closeAllConnections()
      }),
  }
}

/** A message an SMTP receiver got. */
export interface ReceivedMail {
  from: string
  to: string[]
  /** The message as sent (headers and body), dot-unstuffed, CRLF line ends. */
  data: string
  /** The user name of AUTH PLAIN or LOGIN, with the password. */
  auth?: { user: string; password: string }
}

/**
 * A small SMTP server (RFC 5321 subset: EHLO/HELO, AUTH PLAIN and LOGIN, MAIL, RCPT, DATA, RSET,
 * NOOP, QUIT) on 127.0.0.1 that records messages. No TLS, so clients send in the clear.
 */
export async function startSmtpReceiver(): Promise<{ port: number; messages: ReceivedMail[]; close(): Promise<void> }> {
  const messages: ReceivedMail[] = []
  const sockets = new Set<Socket>()
  const server = createTcpServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    let buffer = ''
    let mode: 'command' | 'data' | 'auth-user' | 'auth-pass' = 'command'
    let mail: ReceivedMail = { from: '', to: [], data: '' }
    let auth: { user: string; password: string } | undefined
    let pendingUser = ''
    const reply = (line: string) => socket.write(`${line}\r\n`)
    reply('220 test.local ESMTP ready')
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1')
      for (;;) {
        const end = buffer.indexOf('\r\n')
        if (end < 0) return
        const line = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        if (mode === 'data') {
          if (line === '.') {
            messages.push({ ...mail, data: Buffer.from(mail.data, 'latin1').toString('utf8'), ...(auth ? { auth } : {}) })
            mail = { from: '', to: [], data: '' }
            mode = 'command'
            reply('250 2.0.0 queued')
          } else mail.data += `${line.startsWith('..') ? line.slice(1) : line}\r\n`
          continue
        }
        if (mode === 'auth-user') {
          pendingUser = Buffer.from(line, 'base64').toString('utf8')
          mode = 'auth-pass'
          reply(`334 ${Buffer.from('Password:').toString('base64')}`)
          continue
        }
        if (mode === 'auth-pass') {
          auth = { user: pendingUser, password: Buffer.from(line, 'base64').toString('utf8') }
          mode = 'command'
          reply('235 2.7.0 authenticated')
          continue
        }
        const [verb, ...rest] = line.split(' ')
        const arg = rest.join(' ')
        switch (verb.toUpperCase()) {
          case 'EHLO':
            socket.write('250-test.local\r\n250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n')
            break
          case 'HELO':
            reply('250 test.local')
            break
          case 'AUTH': {
            const [mech, initial] = arg.split(' ')
            if (mech.toUpperCase() === 'PLAIN' && initial) {
              const [, user, password] = Buffer.from(initial, 'base64').toString('utf8').split('\0')
              auth = { user, password }
              reply('235 2.7.0 authenticated')
            } else if (mech.toUpperCase() === 'LOGIN') {
              mode = 'auth-user'
              reply(`334 ${Buffer.from('Username:').toString('base64')}`)
            } else reply('504 5.5.4 unsupported mechanism')
            break
          }
          case 'MAIL':
            mail.from = /<([^>]*)>/.exec(arg)?.[1] ?? ''
            reply('250 2.1.0 ok')
            break
          case 'RCPT':
            mail.to.push(/<([^>]*)>/.exec(arg)?.[1] ?? '')
            reply('250 2.1.5 ok')
            break
          case 'DATA':
            mode = 'data'
            reply('354 end with <CRLF>.<CRLF>')
            break
          case 'RSET':
            mail = { from: '', to: [], data: '' }
            reply('250 2.0.0 ok')
            break
          case 'NOOP':
            reply('250 2.0.0 ok')
            break
          case 'QUIT':
            reply('221 2.0.0 bye')
            socket.end()
            break
          default:
            reply('502 5.5.2 command not recognized')
        }
      }
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as AddressInfo).port,
    messages,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      }),
  }
}
