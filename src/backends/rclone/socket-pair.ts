import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * Two connected Unix sockets: hand one to a child as its stdin and stdout, keep the other. Node
 * has no socketpair(), so this listens on a socket file in a private (0700) temp directory,
 * connects once, and removes the file at once.
 *
 * Why not the child's stdin/stdout pipes wrapped in Duplex.from()? node:http2 drives any stream
 * that is not a real socket through an internal JS adapter, which runs at a fraction of the
 * speed and, when the child dies with writes pending, fails an internal assertion (an uncaught
 * ERR_INTERNAL_ASSERTION in Node 20) instead of reporting an error.
 */
export async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-rclone-'))
  const path = join(dir, 'sock')
  const server = net.createServer()
  try {
    const accepted = new Promise<net.Socket>((resolve, reject) => {
      server.once('connection', resolve)
      server.once('error', reject)
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(path, resolve)
    })
    const client = net.connect(path)
    await new Promise<void>((resolve, reject) => {
      client.once('connect', resolve)
      client.once('error', reject)
    })
    client.pause()
    return [await accepted, client]
  } finally {
    server.close()
    await rm(dir, { recursive: true, force: true })
  }
}
