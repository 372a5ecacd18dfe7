/**
 * A TCP proxy on loopback that a test can cut: every connection is forwarded to a target port
 * until cut() destroys all of them at once, as a dropped network link or a restarted server
 * would. New connections are accepted again afterwards (a server that came back).
 */
import { createServer, connect, type Server, type Socket } from 'node:net'

export interface TcpProxy {
  /** The port the proxy listens on (127.0.0.1). */
  readonly port: number
  /** Bytes forwarded from clients to the target so far. */
  readonly uploaded: number
  /** Destroys every open connection, both sides; returns how many were cut. */
  cut(): number
  /** Calls cut() once `bytes` more have been uploaded through the proxy. */
  cutAfterUpload(bytes: number): Promise<number>
  close(): Promise<void>
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const open = new Set<Socket>()
  let uploaded = 0
  let watchers: Array<{ at: number; fire: () => void }> = []
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, targetHost)
    open.add(client)
    open.add(upstream)
    const drop = () => {
      client.destroy()
      upstream.destroy()
      open.delete(client)
      open.delete(upstream)
    }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
    client.on('data', (chunk: Buffer) => {
      uploaded += chunk.length
      const due = watchers.filter((w) => uploaded >= w.at)
      if (due.length > 0) {
        watchers = watchers.filter((w) => uploaded < w.at)
        for (const w of due) w.fire()
      }
    })
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('the proxy has no TCP address')
  const cut = () => {
    const n = open.size
    for (const s of open) s.destroy()
    open.clear()
    return n
  }
  return {
    port: address.port,
    get uploaded() {
      return uploaded
    },
    cut,
    cutAfterUpload(bytes) {
      return new Promise((resolve) => watchers.push({ at: uploaded + bytes, fire: () => resolve(cut()) }))
    },
    close() {
      cut()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
