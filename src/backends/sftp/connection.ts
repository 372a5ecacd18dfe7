import type { SftpSession } from './sftp-session.js'

/** An SFTP session and the transport under it (an ssh2 connection, or an ssh child process). */
export interface SftpConnection {
  readonly session: SftpSession
  /** Ends the session and the transport; never rejects, and is safe to call twice. */
  close(): Promise<void>
}
