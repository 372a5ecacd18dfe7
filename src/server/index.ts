/**
 * @module server
 * Serving repositories over HTTP. Terms:
 * - **REST server**: restic's REST protocol (v1 and v2; restic-format.md §7.2) with
 *   rest-server's routes, status codes and options (§7.3), over any Backend. A **repository
 *   path** is 0 to 2 segments (`/`, `/alice/`, `/alice/laptop/`), each checked before anything
 *   is touched; a **RepositoryProvider** maps it to a Backend (a directory tree in restic's local
 *   layout, or a prefix of any backend location).
 * - **Account**: an authenticated user with an **access level** (read-only, append-only, full),
 *   an optional **quota** and optional allowed repositories, from an **htpasswd file** (bcrypt,
 *   {SHA}) and/or a **users file** (YAML); both are reloaded when they change.
 * - **Graceful shutdown**: stop accepting, let requests in flight finish, then close.
 *
 * @example
 * const server = await startRestServer({ path: '/srv/restic', listen: ':8000', privateRepos: true })
 * console.log(`listening on ${server.url}`)
 * process.on('SIGTERM', () => void server.close())
 */
export { startRestServer, type RunningRestServer, type ServeRestConfig } from './serve-rest.js'
export { createRestHandler, basicCredentials, DEFAULT_MAX_UPLOAD_BYTES, type RestHandler, type RestHandlerOptions } from './rest/rest-handler.js'
export { BackendUrlProvider, LocalRepositoryProvider, type RepositoryProvider } from './rest/repository-provider.js'
export { parseRestTarget, OBJECT_TYPES, type ObjectType, type ParsedTarget, type RestRoute } from './rest/request-path.js'
export type { AccessLogEntry } from './http/exchange.js'
export { parseListenAddress, type ListenAddress } from './http/listen.js'
export { ACCESS_LEVELS, isValidUserName, type Access, type Account } from './auth/account.js'
export { CredentialStore, type CredentialSources } from './auth/credential-store.js'
export { parseHtpasswd, removeHtpasswdUser, setHtpasswdUser } from './auth/htpasswd.js'
export { hashPassword, verifyPassword } from './auth/password-hash.js'
export { loadUsersFile, parseUsersFile, removeUsersFileUser, setUsersFileUser, type UserRecord, type UserUpdate } from './auth/users-file.js'
export { parseByteSize } from './size.js'
export { startWebDavServer, type RunningWebDavServer, type ServeWebDavConfig } from './webdav/serve-webdav.js'
export { createWebDavHandler, type WebDavHandlerOptions } from './webdav/webdav-handler.js'
