import type { BackendOptions, RepositoryLocation } from '../registry.js'
import { RestBackend } from '../rest/rest-backend.js'
import { rcloneConfig } from './config.js'
import { RcloneTransport, type RcloneTransportOptions } from './rclone-transport.js'

/**
 * A repository on any rclone remote (`rclone:remote:path`, or `rclone:/local/path`): cairn starts
 * `rclone serve restic --stdio` and speaks restic's REST protocol over HTTP/2 on its pipes, as
 * restic does (restic-format.md §7.4). `-o rclone.program`, `-o rclone.args` (replacing the
 * default args), `-o rclone.timeout` (default 1m) and `-o rclone.connections` (default 5) are
 * restic's options. rclone's stderr reaches BackendOptions.onMessage as `rclone: …` lines.
 * rclone starts with the first request; close() stops it.
 *
 * @example
 * const be = RcloneBackend.open('b2:bucket/repo', { extended: { 'rclone.args': 'serve restic --stdio -v' } })
 */
export class RcloneBackend extends RestBackend {
  readonly #transport: RcloneTransport

  private constructor(transport: RcloneTransport, remote: string, connections: number) {
    super(transport, { location: `rclone:${remote}`, connections, listsAfterWrite: false })
    this.#transport = transport
  }

  /**
   * Parses the `-o rclone.*` options now (a bad one throws INVALID_ARGUMENT); starts nothing yet.
   * `tuning` changes the transport's timeouts (tests).
   */
  static open(remote: string, options: BackendOptions = {}, tuning: Pick<RcloneTransportOptions, 'idleTimeoutMs'> = {}): RcloneBackend {
    const config = rcloneConfig(remote, options.extended)
    const transport = new RcloneTransport(config, {
      ...tuning,
      ...(options.env === undefined ? {} : { env: options.env }),
      ...(options.onMessage === undefined ? {} : { onMessage: options.onMessage }),
    })
    return new RcloneBackend(transport, remote, config.connections)
  }

  /** The running rclone's process id: undefined before the first request, after close(), or after it died. */
  pid(): Promise<number | undefined> {
    return this.#transport.pid()
  }
}

/** registry.ts's factory for `rclone:` locations. */
export function openRcloneBackend(loc: Extract<RepositoryLocation, { scheme: 'rclone' }>, options: BackendOptions): RcloneBackend {
  return RcloneBackend.open(loc.remote, options)
}
