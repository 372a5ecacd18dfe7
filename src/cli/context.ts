import type { Command } from 'commander'
import type { RepositoryOptions } from '../app/index.js'
import { Terminal } from './output/terminal.js'
import { passwordInput } from './output/prompt.js'
import { parseExtendedOptions } from './options.js'

export interface GlobalOptions {
  repo?: string
  repositoryFile?: string
  passwordFile?: string
  passwordCommand?: string
  keyHint?: string
  json?: boolean
  quiet?: boolean
  verbose?: number
  lock?: boolean
  retryLock?: number
  option?: string[]
  cacert?: string[]
  tlsClientCert?: string
  insecureTls?: boolean
  limitUpload?: number
  limitDownload?: number
  cache?: boolean
  cacheDir?: string
  cleanupCache?: boolean
  compression?: string
  packSize?: number
}

/** What every command gets: the parsed global flags, the terminal, and a way to set the exit code. */
export class CommandContext {
  readonly program: Command
  exitCode = 0
  #term: Terminal | undefined

  constructor(program: Command) {
    this.program = program
  }

  get globals(): GlobalOptions {
    return this.program.opts<GlobalOptions>()
  }

  get term(): Terminal {
    const g = this.globals
    this.#term ??= new Terminal({ json: g.json === true, quiet: g.quiet === true, verbose: g.verbose ?? 0 })
    return this.#term
  }

  /** A word on stderr about what the command does on the user's behalf; silenced by --quiet. */
  notice(text: string): void {
    if (!this.term.quiet) this.term.warn(text)
  }

  repositoryOptions(): RepositoryOptions {
    const g = this.globals
    return {
      repo: g.repo,
      repositoryFile: g.repositoryFile,
      passwordFile: g.passwordFile,
      passwordCommand: g.passwordCommand,
      keyHint: g.keyHint,
      noLock: g.lock === false,
      ...(g.retryLock === undefined ? {} : { retryLockMs: g.retryLock }),
      backend: {
        extended: parseExtendedOptions(g.option ?? []),
        ...(g.cacert === undefined ? {} : { caCertFiles: g.cacert }),
        ...(g.tlsClientCert === undefined ? {} : { tlsClientCertFile: g.tlsClientCert }),
        ...(g.insecureTls === true ? { insecureTls: true } : {}),
        ...(g.limitUpload === undefined ? {} : { limitUploadKiB: g.limitUpload }),
        ...(g.limitDownload === undefined ? {} : { limitDownloadKiB: g.limitDownload }),
        onMessage: (m) => this.term.warn(m),
      },
      noCache: g.cache === false,
      ...(g.cacheDir === undefined ? {} : { cacheDir: g.cacheDir }),
      cleanupCache: g.cleanupCache === true,
      tellOldCaches: this.term.interactive,
      ...(g.compression === undefined ? {} : { compression: g.compression }),
      ...(g.packSize === undefined ? {} : { packSizeMiB: g.packSize }),
      prompt: passwordInput('repository password', (m) => this.notice(m)),
      onNotice: (m) => this.term.warn(m),
    }
  }
}
