/**
 * Where the config file lives and how `~` and environment variables in paths are expanded.
 */
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'

/** The user's home directory: HOME when set, else the system's idea of it. */
export function homeDirectory(env: NodeJS.ProcessEnv = process.env): string {
  return env.HOME !== undefined && env.HOME !== '' ? env.HOME : homedir()
}

/**
 * cairn's state directory: `$XDG_STATE_HOME/cairn`, else `~/.local/state/cairn` (the daemon's
 * history and API token, and the locks of backup sets being run).
 */
export function stateDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_STATE_HOME
  if (xdg !== undefined && xdg !== '' && isAbsolute(xdg)) return join(xdg, 'cairn')
  return join(homeDirectory(env), '.local', 'state', 'cairn')
}

/**
 * The config file to use when none is given: CAIRN_CONFIG, else `cairn.yaml` in
 * `$XDG_CONFIG_HOME/cairn` (default `~/.config/cairn`); a `cairn.yml` or `cairn.json` there is
 * used when `cairn.yaml` does not exist.
 *
 * @example
 * defaultConfigPath({ HOME: '/home/me' }) // '/home/me/.config/cairn/cairn.yaml'
 */
export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CAIRN_CONFIG !== undefined && env.CAIRN_CONFIG !== '') return resolve(expandHome(env.CAIRN_CONFIG, env))
  const xdg = env.XDG_CONFIG_HOME
  const base = xdg !== undefined && xdg !== '' && isAbsolute(xdg) ? xdg : join(homeDirectory(env), '.config')
  const dir = join(base, 'cairn')
  const yaml = join(dir, 'cairn.yaml')
  if (existsSync(yaml)) return yaml
  for (const other of ['cairn.yml', 'cairn.json']) if (existsSync(join(dir, other))) return join(dir, other)
  return yaml
}

/**
 * `~` and `~/…` become the home directory; other paths are returned unchanged (`~user` is not
 * expanded).
 *
 * @example
 * expandHome('~/.config', { HOME: '/home/me' }) // '/home/me/.config'
 */
export function expandHome(path: string, env: NodeJS.ProcessEnv = process.env): string {
  if (path === '~') return homeDirectory(env)
  if (path.startsWith('~/')) return join(homeDirectory(env), path.slice(2))
  return path
}

const VARIABLE = /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g

/**
 * `$NAME` and `${NAME}` replaced by the environment variable's value; a variable that is not set
 * stays as written (config check names it: see unsetVariables()).
 *
 * @example
 * expandVariables('$HOME/backups', { HOME: '/home/me' }) // '/home/me/backups'
 */
export function expandVariables(path: string, env: NodeJS.ProcessEnv = process.env): string {
  if (!path.includes('$')) return path
  return path.replace(VARIABLE, (whole, braced: string | undefined, bare: string | undefined) => env[(braced ?? bare) as string] ?? whole)
}

/** The names of the variables in `path` that the environment does not set. */
export function unsetVariables(path: string, env: NodeJS.ProcessEnv = process.env): string[] {
  if (!path.includes('$')) return []
  return [...path.matchAll(VARIABLE)].map((m) => (m[1] ?? m[2]) as string).filter((name) => env[name] === undefined)
}

/** Environment variables and `~` expanded, then made absolute against `base` (the config file's directory). */
export function resolveConfigPath(path: string, base: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(base, expandHome(expandVariables(path, env), env))
}

/**
 * A repository URL with a local path made absolute (environment variables and `~` expanded,
 * relative paths against `base`); URLs of other backends (`sftp:`, `s3:`, `rest:`, `rclone:`, …) are returned unchanged.
 *
 * @example
 * resolveRepositoryUrl('~/backups/repo', '/etc', { HOME: '/home/me' }) // '/home/me/backups/repo'
 */
export function resolveRepositoryUrl(url: string, base: string, env: NodeJS.ProcessEnv = process.env): string {
  if (!isLocalRepositoryUrl(url)) return url
  if (url.startsWith('local:')) return `local:${resolveConfigPath(url.slice(6), base, env)}`
  return resolveConfigPath(url, base, env)
}

/**
 * Whether a repository URL as written in the config names a local path (`local:…`, a path, or
 * one starting with `~` or `$NAME`): only those are expanded and made absolute.
 */
export function isLocalRepositoryUrl(url: string): boolean {
  return url.startsWith('local:') || url.startsWith('$') || url.startsWith('~') || !/^[A-Za-z][A-Za-z0-9+.-]*:/.test(url)
}
