import { createWriteStream, openSync, type WriteStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { AppError, messageOf } from '../../base/index.js'
import {
  ACCESS_LEVELS,
  hashPassword,
  loadUsersFile,
  parseByteSize,
  parseHtpasswd,
  removeHtpasswdUser,
  removeUsersFileUser,
  setHtpasswdUser,
  setUsersFileUser,
  startRestServer,
  startWebDavServer,
  type Access,
  type AccessLogEntry,
} from '../../server/index.js'
import { withRepository } from '../../app/index.js'
import type { CommandContext } from '../context.js'
import { passwordInput } from '../output/prompt.js'
import { collect, parseExtendedOptions } from '../options.js'

interface ServeRestOptions {
  path?: string
  backend?: string
  listen: string
  auth: boolean
  htpasswdFile?: string
  usersFile?: string
  appendOnly?: boolean
  privateRepos?: boolean
  maxSize?: string
  maxUploadSize?: string
  verifyUpload: boolean
  prometheus?: boolean
  prometheusNoAuth?: boolean
  tls?: boolean
  tlsCert?: string
  tlsKey?: string
  tlsMinVer?: string
  log?: string
  shutdownTimeout: string
  createUser?: string
  deleteUser?: string
  listUsers?: boolean
  access?: string
  quota?: string
  allowRepo?: string[]
}

const EXAMPLES = `
Examples:
  cairn serve rest --path /srv/restic --listen :8000
  cairn serve rest --path /srv/restic --private-repos --append-only --tls
  cairn serve rest --path /srv/restic --users-file /etc/cairn/users.yaml --prometheus --log -
  cairn serve rest --users-file /etc/cairn/users.yaml --create-user alice --access append-only --quota 100G
  echo "$PASSWORD" | cairn serve rest --path /srv/restic --create-user bob        (adds to <path>/.htpasswd)
  restic -r rest:http://alice:secret@host:8000/alice/ init`

/** `cairn serve rest`: the server (rest-server's flags) and the user-management helpers. */
export function registerServe(program: Command, ctx: CommandContext): void {
  const serve = program
    .command('serve')
    .description('Serve repositories to other machines')
    .addHelpText('after', '\nExamples:\n  cairn serve rest --path /srv/restic --listen :8000\n  cairn serve webdav --listen localhost:8080\n  cairn serve rest --help')
  serve
    .command('rest')
    .description("Serve repositories over restic's REST protocol (compatible with rest-server)")
    .option('--path <dir>', 'directory holding the repositories (created when missing)')
    .option('--backend <url>', 'serve repositories below a backend location instead (s3:…, sftp:…)')
    .option('--listen <addr>', 'listen address: HOST:PORT, :PORT or unix:/path', ':8000')
    .option('--no-auth', 'disable authentication')
    .option('--htpasswd-file <file>', 'htpasswd file (bcrypt or {SHA}); default <path>/.htpasswd')
    .option('--users-file <file>', 'users file (YAML) with per-user access, quota and repositories')
    .option('--append-only', 'refuse every delete except of locks, for everyone')
    .option('--private-repos', 'users may only use repositories under /<user>/')
    .option('--max-size <size>', 'most bytes stored over all repositories (e.g. 500G)')
    .option('--max-upload-size <size>', 'largest single upload', '256M')
    .option('--no-verify-upload', "do not check that an upload's SHA-256 matches its name")
    .option('--prometheus', 'serve Prometheus metrics at /metrics')
    .option('--prometheus-no-auth', '/metrics without authentication')
    .option('--tls', 'serve HTTPS')
    .option('--tls-cert <file>', 'TLS certificate (PEM); default <path>/public_key')
    .option('--tls-key <file>', 'TLS key (PEM); default <path>/private_key')
    .option('--tls-min-ver <v>', 'lowest TLS version: 1.2 or 1.3', '1.2')
    .option('--log <file>', 'write an access log (JSON lines) to the file, or "-" for stdout')
    .option('--shutdown-timeout <seconds>', 'on SIGINT/SIGTERM, wait this long for requests in flight', '60')
    .option('--create-user <name>', 'add a user (or set their password); password from stdin or a prompt')
    .option('--delete-user <name>', 'remove a user')
    .option('--list-users', 'list the users of the users file')
    .option('--access <level>', `with --create-user: ${ACCESS_LEVELS.join(', ')}`)
    .option('--quota <size>', 'with --create-user: most bytes the repositories the user may write to hold together (e.g. 50G; 0: no limit)')
    .option('--allow-repo <path>', 'with --create-user: only this repository and below (repeat for more)', collect)
    .addHelpText('after', EXAMPLES)
    .exitOverride()
    .action(async (opts: ServeRestOptions) => {
      if (opts.createUser !== undefined || opts.deleteUser !== undefined || opts.listUsers) return manageUsers(ctx, opts)
      await runServer(ctx, opts)
    })

  serve
    .command('webdav')
    .description("Serve the repository's snapshots read-only over WebDAV, for file managers and davfs2")
    .option('--listen <addr>', 'listen address: HOST:PORT or unix:/path', 'localhost:8080')
    .option('--htpasswd-file <file>', 'ask for a login of a user of this htpasswd file (bcrypt or {SHA})')
    .option('--no-auth', 'serve without a login on an address other hosts reach; on localhost, also answer requests for any host name (a reverse proxy in front), which a web page could reach through DNS rebinding')
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM)')
    .option('--tls-key <file>', 'the key of --tls-cert (PEM)')
    .option('-H, --host <host>', 'only snapshots of this host (repeatable)', collect)
    .option('--tag <taglist>', 'only snapshots with these tags (repeatable)', collect)
    .option('--path <path>', 'only snapshots including this path (repeatable)', collect)
    .addHelpText(
      'after',
      '\nThe layout is restic mount\'s: ids/<short ID>, snapshots/<time>, hosts/<host>/<time> and\ntags/<tag>/<time>, each with a "latest" folder. Files and folders are served; symlinks,\ndevices and fifos are left out. New snapshots show up within a minute. The repository is\nlocked (shared) while it is served, so prune waits.\n\nExamples:\n  cairn serve webdav\n  cairn serve webdav --listen :8080 --htpasswd-file /etc/cairn/webdav.htpasswd\n  mount -t davfs http://localhost:8080/ /mnt/snapshots     (davfs2)\n  rclone copy :webdav:snapshots/latest/home/me/Documents ./Documents --webdav-url http://localhost:8080/',
    )
    .action(async (opts: ServeWebDavFlags) => runWebDav(ctx, opts))
}

interface ServeWebDavFlags {
  listen: string
  auth: boolean
  htpasswdFile?: string
  tlsCert?: string
  tlsKey?: string
  host?: string[]
  tag?: string[]
  path?: string[]
}

async function runWebDav(ctx: CommandContext, opts: ServeWebDavFlags): Promise<void> {
  const term = ctx.term
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
    throw new AppError('INVALID_ARGUMENT', 'HTTPS needs both --tls-cert and --tls-key', { hint: 'Give both PEM files, or neither for HTTP' })
  }
  await withRepository(ctx.repositoryOptions(), 'shared', async (repo) => {
    await repo.loadIndex()
    const server = await startWebDavServer(repo, {
      listen: opts.listen,
      htpasswdFile: opts.htpasswdFile,
      noAuth: !opts.auth,
      tls: opts.tlsCert === undefined ? undefined : { certFile: opts.tlsCert, keyFile: opts.tlsKey! },
      filter: { hosts: opts.host, tags: opts.tag, paths: opts.path },
      onMessage: (m) => term.warn(`serve: ${m}`),
    })
    if (term.json) term.jsonLine({ message_type: 'listening', url: server.url })
    else term.out(`Serving the snapshots of ${repo.backend.location} read-only on ${server.url}`)
    const signal = await new Promise<NodeJS.Signals>((res) => {
      process.once('SIGINT', () => res('SIGINT'))
      process.once('SIGTERM', () => res('SIGTERM'))
    })
    term.warn(`serve: ${signal} received, stopping`)
    await server.close()
  })
}

async function runServer(ctx: CommandContext, opts: ServeRestOptions): Promise<void> {
  const term = ctx.term
  const tlsMin = opts.tlsMinVer
  if (tlsMin !== '1.2' && tlsMin !== '1.3') throw new AppError('INVALID_ARGUMENT', `Invalid TLS version "${tlsMin}"`, { hint: 'Use --tls-min-ver 1.2 or 1.3' })
  const shutdownSeconds = Number(opts.shutdownTimeout)
  if (!(shutdownSeconds >= 0)) throw new AppError('INVALID_ARGUMENT', `Invalid --shutdown-timeout "${opts.shutdownTimeout}"`, { hint: 'Give a number of seconds' })
  const log = opts.log === undefined ? undefined : openAccessLog(opts.log, (m) => term.warn(`serve: ${m}`))
  const g = ctx.globals
  const server = await startRestServer({
    path: opts.path,
    backend: opts.backend,
    backendOptions: {
      extended: parseExtendedOptions(g.option ?? []),
      ...(g.cacert === undefined ? {} : { caCertFiles: g.cacert }),
      onMessage: (m) => term.warn(m),
    },
    listen: opts.listen,
    noAuth: !opts.auth,
    htpasswdFile: opts.htpasswdFile,
    usersFile: opts.usersFile,
    appendOnly: opts.appendOnly,
    privateRepos: opts.privateRepos,
    maxSize: opts.maxSize === undefined ? undefined : parseByteSize(opts.maxSize),
    maxUploadBytes: parseByteSize(opts.maxUploadSize ?? '256M'),
    verifyUpload: opts.verifyUpload,
    prometheus: opts.prometheus,
    prometheusNoAuth: opts.prometheusNoAuth,
    tls: opts.tls,
    tlsCert: opts.tlsCert,
    tlsKey: opts.tlsKey,
    tlsMinVersion: tlsMin,
    shutdownTimeoutMs: shutdownSeconds * 1000,
    onAccess: log === undefined ? undefined : (e: AccessLogEntry) => log.write(JSON.stringify(e) + '\n'),
    onMessage: (m) => term.warn(`serve: ${m}`),
  })
  if (term.json) term.jsonLine({ message_type: 'listening', url: server.url, location: server.location })
  else term.out(`Listening on ${server.url} (serving ${server.location})`)

  let stopListening = () => {}
  const onHup = () => {
    server.reloadCredentials().then(
      () => {},
      (err: unknown) => term.warn(`serve: credentials not reloaded, keeping the previous users: ${err instanceof Error ? err.message : String(err)}`),
    )
  }
  // After the first SIGINT/SIGTERM the handlers are gone, so a second one ends the process at once.
  const signal = await new Promise<NodeJS.Signals>((res) => {
    const onInt = () => res('SIGINT')
    const onTerm = () => res('SIGTERM')
    process.on('SIGHUP', onHup)
    process.once('SIGINT', onInt)
    process.once('SIGTERM', onTerm)
    stopListening = () => {
      process.off('SIGINT', onInt)
      process.off('SIGTERM', onTerm)
    }
  })
  stopListening()
  term.warn(`serve: ${signal} received, finishing ${server.handler.inFlight} requests in flight`)
  const { forced } = await server.close()
  process.off('SIGHUP', onHup)
  if (forced) term.warn(`serve: requests still running after ${shutdownSeconds} s were cut`)
  await log?.close()
  term.warn('serve: stopped')
}

/**
 * The access log: a file opened now (so a bad path is an error before the server starts), or
 * stdout for "-". A write that fails later (a full disk) is told once and logging stops; the
 * server goes on serving, as it goes on answering 507 when the disk is full.
 */
function openAccessLog(file: string, warn: (message: string) => void): { write(line: string): void; close(): Promise<void> } {
  let stream: WriteStream | NodeJS.WriteStream
  if (file === '-') stream = process.stdout
  else {
    const path = resolve(file)
    let fd: number
    try {
      fd = openSync(path, 'a', 0o640)
    } catch (err) {
      throw new AppError('IO', `Cannot open the access log "${path}": ${messageOf(err)}`, { hint: 'Check the folder exists and may be written, or log to stdout with --log -', cause: err })
    }
    stream = createWriteStream(path, { fd })
  }
  let failed = false
  stream.on('error', (err) => {
    if (failed) return
    failed = true
    warn(`the access log ${file === '-' ? 'on stdout' : `"${file}"`} cannot be written (${messageOf(err)}): requests are served without it from now on`)
  })
  return {
    write: (line) => {
      if (!failed) stream.write(line)
    },
    close: () => (stream === process.stdout || failed ? Promise.resolve() : new Promise<void>((res) => (stream as WriteStream).end(res))),
  }
}

async function manageUsers(ctx: CommandContext, opts: ServeRestOptions): Promise<void> {
  const term = ctx.term
  const target = opts.usersFile !== undefined ? { kind: 'users' as const, file: resolve(opts.usersFile) } : htpasswdTarget(opts)
  if (target.kind === 'htpasswd' && (opts.access !== undefined || opts.quota !== undefined || opts.allowRepo !== undefined)) {
    throw new AppError('INVALID_ARGUMENT', '--access, --quota and --allow-repo need a users file', { hint: 'Give --users-file FILE; an htpasswd file holds passwords only' })
  }
  if (opts.listUsers) {
    if (target.kind === 'users') {
      const users = [...(await loadUsersFile(target.file)).values()]
      if (term.json) term.jsonLine(users.map((u) => ({ name: u.name, access: u.access, quota: u.quota, repos: u.repos?.map((r) => r.join('/')) })))
      else for (const u of users) term.out(`${u.name}\t${u.access}${u.quota === undefined ? '' : `\tquota ${u.quota}`}${u.repos === undefined ? '' : `\trepos ${u.repos.map((r) => '/' + r.join('/')).join(',')}`}`)
    } else {
      const { readFile } = await import('node:fs/promises')
      const names = [...parseHtpasswd(await readFile(target.file, 'utf8')).users.keys()]
      if (term.json) term.jsonLine(names.map((name) => ({ name })))
      else for (const n of names) term.out(n)
    }
    return
  }
  if (opts.deleteUser !== undefined) {
    const removed = target.kind === 'users' ? await removeUsersFileUser(target.file, opts.deleteUser) : await removeHtpasswdUser(target.file, opts.deleteUser)
    if (!removed) throw new AppError('NOT_FOUND', `User "${opts.deleteUser}" is not in "${target.file}"`, { hint: 'List the users with --list-users' })
    term.info(`removed user "${opts.deleteUser}" from ${target.file}`)
    return
  }
  const name = opts.createUser!
  let access: Access | undefined
  if (opts.access !== undefined) {
    if (!(ACCESS_LEVELS as readonly string[]).includes(opts.access)) {
      throw new AppError('INVALID_ARGUMENT', `Invalid access level "${opts.access}"`, { hint: `Use one of ${ACCESS_LEVELS.join(', ')}` })
    }
    access = opts.access as Access
  }
  const password = await readNewUserPassword(name)
  const hash = await hashPassword(password)
  // The first user of a new server: its folder is made as the server makes it.
  if (target.kind === 'htpasswd' && opts.htpasswdFile === undefined && opts.path !== undefined) await mkdir(resolve(opts.path), { recursive: true, mode: 0o700 })
  const result =
    target.kind === 'users'
      ? await setUsersFileUser(target.file, name, {
          passwordHash: hash,
          ...(access === undefined ? {} : { access }),
          ...(opts.quota === undefined ? {} : { quota: parseByteSize(opts.quota) }),
          ...(opts.allowRepo === undefined ? {} : { repos: opts.allowRepo }),
        })
      : await setHtpasswdUser(target.file, name, hash)
  term.info(`${result === 'added' ? 'added' : 'updated'} user "${name}" in ${target.file}`)
}

function htpasswdTarget(opts: ServeRestOptions): { kind: 'htpasswd'; file: string } {
  if (opts.htpasswdFile !== undefined) return { kind: 'htpasswd', file: resolve(opts.htpasswdFile) }
  if (opts.path !== undefined) return { kind: 'htpasswd', file: join(resolve(opts.path), '.htpasswd') }
  throw new AppError('INVALID_ARGUMENT', 'Which file holds the users?', { hint: 'Give --users-file FILE, --htpasswd-file FILE, or --path DIR (for DIR/.htpasswd)' })
}

/** The new user's password: typed twice on a terminal, otherwise the first line of stdin. */
async function readNewUserPassword(name: string): Promise<string> {
  const hint = 'Type it at the prompt, or pipe it on stdin'
  const password = await passwordInput(`password for user "${name}"`, () => {}, { twice: true, hint })(`enter password for user "${name}": `)
  if (password === '') throw new AppError('INVALID_ARGUMENT', `No password given for user "${name}"`, { hint })
  return password
}
