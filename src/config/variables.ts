/**
 * Environment variables in a config file's paths that are not set where cairn runs. A path
 * holding one would keep the `$NAME` as text and name a folder of that name beside the config
 * file (`cairn run --init` created a repository in "${BACKUP_DISK}"): an error for `config
 * check`, and a refusal for every command that loads the file.
 */
import type { ConfigIssue } from './config-error.js'
import type { LoadedConfig } from './load.js'
import type { KeyPath } from './locate.js'
import { isLocalRepositoryUrl, unsetVariables } from './paths.js'

/** The issue for one path value, when a variable in it is not set; else undefined. */
export function unsetVariableIssue(loaded: Pick<LoadedConfig, 'issueAt'>, keyPath: KeyPath, value: unknown, env: NodeJS.ProcessEnv): ConfigIssue | undefined {
  const names = typeof value === 'string' ? unsetVariables(value, env) : []
  if (names.length === 0) return undefined
  const list = names.map((n) => `$${n}`).join(', ')
  return loaded.issueAt(keyPath, `environment variable ${list} in "${value as string}" is not set here`, 'error', 'Set it where cairn runs (shell profile, systemd unit), or write the path out')
}

/** Every path value of the file with a variable that is not set: local repository URLs, password files, sources and exclude files. */
export function unsetVariableIssues(loaded: Pick<LoadedConfig, 'issueAt' | 'config'>, env: NodeJS.ProcessEnv): ConfigIssue[] {
  const out: ConfigIssue[] = []
  const check = (keyPath: KeyPath, value: unknown) => {
    const issue = unsetVariableIssue(loaded, keyPath, value, env)
    if (issue !== undefined) out.push(issue)
  }
  const config = loaded.config
  for (const [name, raw] of Object.entries(config.repositories ?? {})) {
    const r = raw as Record<string, unknown>
    // Only a local repository's path is expanded (a remote URL is left as written).
    if (typeof r.url === 'string' && isLocalRepositoryUrl(r.url)) check(['repositories', name, 'url'], r.url)
    check(['repositories', name, 'password-file'], r['password-file'])
  }
  const sections: Array<[KeyPath, unknown]> = [[['defaults'], config.defaults], ...Object.entries(config.sets ?? {}).map(([n, s]) => [['sets', n], s] as [KeyPath, unknown])]
  for (const [base, section] of sections) {
    const s = (section ?? {}) as Record<string, unknown>
    for (const key of ['sources', 'exclude-file']) {
      const list = s[key]
      if (Array.isArray(list)) list.forEach((v, i) => check([...base, key, i], v))
    }
  }
  return out
}
