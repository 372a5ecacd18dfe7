import { Agent as HttpAgent, type ClientRequestArgs } from 'node:http'
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions, type RequestOptions } from 'node:https'
import type { Duplex } from 'node:stream'

type Callback = (err: Error | null, stream: Duplex) => void

const ignore = (): void => {}

/** Adds the listener to a socket returned directly, or handed to the callback later. */
function guard(create: (callback?: Callback) => Duplex | null | undefined, callback: Callback | undefined): Duplex | null | undefined {
  const socket = create(
    callback === undefined
      ? undefined
      : (err, stream) => {
          stream?.on('error', ignore)
          callback(err, stream)
        },
  )
  socket?.on('error', ignore)
  return socket
}

/**
 * An http agent whose sockets never crash the process. A server may answer an upload early (404
 * NoSuchUpload, 403) and close the connection while the body is still being written; the
 * write's EPIPE then arrives on a socket that no request listens to any more, and Node would
 * throw it as an uncaught exception. The request has already failed with the server's answer,
 * so that late socket error carries nothing new and is dropped. Errors while a request owns the
 * socket still reach the request as before.
 */
export class GuardedHttpAgent extends HttpAgent {
  override createConnection(options: ClientRequestArgs, callback?: Callback): Duplex | null | undefined {
    return guard((cb) => super.createConnection(options, cb), callback)
  }
}

/** The https version of GuardedHttpAgent (same reason, TLS sockets). */
export class GuardedHttpsAgent extends HttpsAgent {
  constructor(options: HttpsAgentOptions) {
    super(options)
  }

  override createConnection(options: RequestOptions, callback?: Callback): Duplex | null | undefined {
    return guard((cb) => super.createConnection(options, cb), callback)
  }
}
