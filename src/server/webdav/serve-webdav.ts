import { AppError } from '../../base/index.js'
import { SnapshotBrowser, type BrowserRepo, type SnapshotBrowserOptions } from '../../app/index.js'
import { CredentialStore } from '../auth/credential-store.js'
import { listen, parseListenAddress, type TlsFiles } from '../http/listen.js'
import { createWebDavHandler } from './webdav-handler.js'

export interface ServeWebDavConfig {
  /** Where to listen (default `localhost:8080`, as `rclone serve webdav`). */
  listen?: string
  /** Users who may read (htpasswd: bcrypt or {SHA}). */
  htpasswdFile?: string
  /** Serve without a login on an address other hosts reach. */
  noAuth?: boolean
  tls?: TlsFiles
  /** Only the snapshots that match. */
  filter?: SnapshotBrowserOptions['filter']
  onMessage?: (message: string) => void
}

export interface RunningWebDavServer {
  readonly url: string
  close(): Promise<void>
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|::1)$/i

/**
 * `cairn serve webdav`: the repository's snapshots, read-only, for file managers and davfs2.
 * Without --htpasswd-file it listens only on a loopback address unless --no-auth says that
 * anybody who reaches the port may read every file of every snapshot.
 *
 * @example
 * const server = await startWebDavServer(repo, { listen: 'localhost:8080' })
 */
export async function startWebDavServer(repo: BrowserRepo, config: ServeWebDavConfig = {}): Promise<RunningWebDavServer> {
  const address = parseListenAddress(config.listen ?? 'localhost:8080')
  const open = address.kind === 'tcp' && (address.host === undefined || !LOOPBACK.test(address.host))
  if (open && config.htpasswdFile === undefined && !config.noAuth) {
    throw new AppError('CONFIG', `Serving snapshots on "${config.listen}" without a login would let anybody who reaches it read every backed-up file`, {
      hint: 'Give --htpasswd-file, listen on localhost (the default), or add --no-auth if that is what you want',
    })
  }
  const credentials = config.htpasswdFile === undefined ? undefined : await CredentialStore.open({ htpasswdFile: config.htpasswdFile, onMessage: config.onMessage })
  const browser = new SnapshotBrowser(repo, { filter: config.filter })
  await browser.root() // a repository that cannot be listed fails here, not at the first request
  const { server, url } = await listen(createWebDavHandler(browser, { credentials, onMessage: config.onMessage, loopbackHostsOnly: credentials === undefined && !open && !config.noAuth && address.kind === 'tcp' }), address, config.tls)
  let closed: Promise<void> | undefined
  return {
    url,
    close: () =>
      (closed ??= new Promise<void>((res) => {
        server.close(() => res())
        server.closeAllConnections()
      })),
  }
}
