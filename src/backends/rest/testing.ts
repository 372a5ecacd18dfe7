/**
 * Test helpers: a real `rclone serve restic` on a loopback port, and a tiny HTTP server whose
 * answers a test writes itself (for protocol corners no real server shows: v1 listings,
 * ignored Range, short bodies, 5xx). Only tests import this file.
 */
import assert from 'node:assert/strict'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import http from 'node:http'
import net, { type AddressInfo, type Socket } from 'node:net'
import type { Backend } from '../backend.js'

/** True when an `rclone` binary can be run. */
export function rcloneAvailable(): Promise<boolean> {
  return new Promise((resolve) => execFile('rclone', ['version'], (err) => resolve(err === null)))
}

/** A port the OS says is free right now (there is a small race until the server binds it). */
export async function freePort(): Promise<number> {
  const srv = net.createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as AddressInfo
  await new Promise((resolve) => srv.close(resolve))
  return port
}

export interface RcloneServer {
  /** `http://127.0.0.1:PORT/` (or https). */
  url: string
  port: number
  /** Kills the server and waits for it. */
  stop(): Promise<void>
}

/**
 * Starts `rclone serve restic --addr 127.0.0.1:PORT --cache-objects=false DIR ...extra` and waits
 * until its port accepts connections. `extra` adds flags (`--user`, `--cert`, `--append-only`).
 */
export async function startRcloneServe(dir: string, extra: string[] = [], scheme: 'http' | 'https' = 'http'): Promise<RcloneServer> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort()
    const child = spawn('rclone', ['serve', 'restic', '--addr', `127.0.0.1:${port}`, '--cache-objects=false', ...extra, dir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    if (await waitForPort(port, exited, 15_000)) {
      return { url: `${scheme}://127.0.0.1:${port}/`, port, stop: () => stopChild(child, exited) }
    }
    await stopChild(child, exited)
    if (attempt === 2 || !/address already in use/.test(stderr)) throw new Error(`rclone serve restic did not start: ${stderr}`)
  }
}

async function waitForPort(port: number, exited: Promise<void>, timeoutMs: number): Promise<boolean> {
  let gone = false
  void exited.then(() => (gone = true))
  const deadline = Date.now() + timeoutMs
  while (!gone && Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1')
      s.once('connect', () => {
        s.destroy()
        resolve(true)
      })
      s.once('error', () => resolve(false))
    })
    if (ok) return true
    await new Promise((r) => setTimeout(r, 50))
  }
  return false
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  await exited
}

export interface ScriptedServer {
  url: string
  /** Every request seen, in order. */
  requests: { method: string; url: string; headers: http.IncomingHttpHeaders }[]
  /** TCP connections accepted so far. */
  connections(): number
  stop(): Promise<void>
}

/**
 * An HTTP/1.1 server on a loopback port whose every answer comes from `handler`, for the corners
 * of the protocol that real servers do not show.
 */
export async function startScriptedServer(handler: (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void): Promise<ScriptedServer> {
  const requests: ScriptedServer['requests'] = []
  const sockets = new Set<Socket>()
  let accepted = 0
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers })
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => handler(req, res, Buffer.concat(chunks)))
  })
  server.on('connection', (s) => {
    accepted++
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    connections: () => accepted,
    stop: async () => {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/**
 * Saves and loads `rounds` different 16 MiB files, checking each and removing it, and returns
 * the best save and load rates in MB/s (10^6 bytes).
 */
export async function measure(be: Backend, rounds: number): Promise<{ saveMBps: number; loadMBps: number }> {
  let save = Infinity
  let load = Infinity
  for (let i = 0; i < rounds; i++) {
    const data = randomBytes(16 * 1024 * 1024)
    const h = { type: 'data' as const, name: createHash('sha256').update(data).digest('hex') }
    let t0 = performance.now()
    await be.save(h, data)
    save = Math.min(save, performance.now() - t0)
    t0 = performance.now()
    const back = await be.load(h)
    load = Math.min(load, performance.now() - t0)
    assert.ok(back.equals(data), 'the loaded pack equals the saved one')
    await be.remove(h)
  }
  return { saveMBps: 16.777216 / (save / 1000), loadMBps: 16.777216 / (load / 1000) }
}
