import type { Command } from 'commander'
import { checkConfig, describeBackupSet, writeStarterConfig, type SetDescription } from '../../app/sets.js'
import { defaultConfigPath, formatIssue, formatKeyPath, loadConfig, type ConfigIssue, type Origin } from '../../config/index.js'
import type { CommandContext } from '../context.js'

/** Adds `-c, --config FILE` to a command that reads the config file. */
export function addConfigOption(cmd: Command): Command {
  return cmd.option('-c, --config <file>', 'config file (default: $CAIRN_CONFIG, else ~/.config/cairn/cairn.yaml)')
}

function issueJson(i: ConfigIssue): Record<string, unknown> {
  return {
    severity: i.severity,
    file: i.file,
    line: i.position?.line ?? null,
    column: i.position?.column ?? null,
    key: formatKeyPath(i.path),
    message: i.message,
    ...(i.hint ? { hint: i.hint } : {}),
  }
}

/** A scalar as it would be written in YAML (quoted when plain text would read differently). */
function show(v: unknown): string {
  if (typeof v === 'string') return /^[A-Za-z0-9_./~@%+-][A-Za-z0-9_ ./~@%+:,=>-]*$/.test(v) && !/[ :]$/.test(v) && !/: /.test(v) ? v : JSON.stringify(v)
  if (v !== null && typeof v === 'object') {
    if (Array.isArray(v)) return `[${v.map(show).join(', ')}]`
    return `{ ${Object.entries(v).map(([k, x]) => `${k}: ${show(x)}`).join(', ')} }`
  }
  return String(v)
}

/** Lines of `key: value` with the origin of each value, nested as the file is. */
function settingLines(value: Record<string, unknown>, origins: Record<string, Origin>, prefix = '', indent = ''): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (const [key, v] of Object.entries(value)) {
    const path = prefix === '' ? key : `${prefix}.${key}`
    if (Array.isArray(v)) {
      out.push([`${indent}${key}:${v.length === 0 ? ' []' : ''}`, origins[path] ?? ''])
      v.forEach((item, i) => out.push([`${indent}  - ${show(item)}`, origins[`${path}[${i}]`] ?? origins[path] ?? '']))
    } else if (v !== null && typeof v === 'object') {
      out.push([`${indent}${key}:`, ''])
      out.push(...settingLines(v as Record<string, unknown>, origins, path, `${indent}  `))
    } else out.push([`${indent}${key}: ${show(v)}`, origins[path] ?? ''])
  }
  return out
}

function printDescription(ctx: CommandContext, d: SetDescription): void {
  const lines = settingLines(d.effective, d.origins)
  const width = Math.min(60, Math.max(...lines.map(([l]) => l.length)) + 2)
  const body = lines.map(([l, o]) => (o ? `${l.padEnd(width)}  (${o})` : l)).join('\n')
  const dests = d.destinations
    .map((x, i) => `  ${i + 1}. ${x.name}  ${x.location}${x.removable ? ' (removable)' : ''}\n     retention: ${x.retention ?? 'none (every snapshot is kept)'}`)
    .join('\n')
  ctx.term.out(`Set "${d.set}" from ${d.file}\nEach value shows where it came from: the set, defaults, or built-in.\n\n${body}\n\nDestinations in priority order:\n${dests}`)
}

export function registerConfig(program: Command, ctx: CommandContext): void {
  const config = program
    .command('config')
    .description('Check, show and create the config file of backup sets')
    .addHelpText(
      'after',
      '\nThe config file (YAML or JSON) names repositories, backup sets and defaults; see docs/config.md.\n\nExamples:\n  cairn config init\n  cairn config check\n  cairn config show data --json\n  cairn config check --config ./cairn.yaml',
    )

  addConfigOption(config.command('check').description('Validate the config file and the files and programs it names (exit code 1 on errors)'))
    .addHelpText('after', '\nErrors name the file, line and key, and say how to fix them; warnings do not change the exit code.\n\nExamples:\n  cairn config check\n  cairn config check --config ./cairn.yaml --json')
    .action(
    async (opts: { config?: string }) => {
      const result = await checkConfig(opts.config)
      const term = ctx.term
      if (term.json) {
        term.jsonLine({ file: result.file, ok: result.errors === 0, errors: result.errors, warnings: result.warnings, sets: result.sets, repositories: result.repositories, issues: result.issues.map(issueJson) })
      } else {
        for (const i of result.issues) term.warn(formatIssue(i))
        const counts = `${result.errors} error${result.errors === 1 ? '' : 's'}, ${result.warnings} warning${result.warnings === 1 ? '' : 's'}`
        if (result.errors === 0) term.out(`${result.file}: OK (${result.sets.length} sets, ${result.repositories.length} repositories; ${counts})`)
        else term.warn(`${result.file}: ${counts}`)
      }
      if (result.errors > 0) ctx.exitCode = 1
    },
  )

  addConfigOption(config.command('show').description("Print a set's effective settings and where each came from").argument('<set>', 'the backup set'))
    .addHelpText('after', '\nEach value is marked set, defaults or built-in.\n\nExamples:\n  cairn config show data\n  cairn config show data --json')
    .action(
    async (name: string, opts: { config?: string }) => {
      const loaded = await loadConfig(opts.config)
      for (const w of loaded.warnings) ctx.term.warn(formatIssue(w))
      const d = describeBackupSet(loaded, name)
      if (ctx.term.json) ctx.term.jsonLine(d)
      else printDescription(ctx, d)
    },
  )

  addConfigOption(config.command('init').description('Write a commented starter config file').option('--force', 'replace an existing file'))
    .addHelpText('after', '\nExamples:\n  cairn config init\n  cairn config init --config ./cairn.yaml --force')
    .action(
    async (opts: { config?: string; force?: boolean }) => {
      const file = await writeStarterConfig(opts.config, opts.force === true)
      if (ctx.term.json) ctx.term.jsonLine({ file })
      else ctx.term.info(`wrote ${file}\nEdit it, then run "cairn config check" and "cairn run --init".`)
    },
  )

  config
    .command('path')
    .description('Print where the config file is looked for')
    .addHelpText('after', '\n$CAIRN_CONFIG, else $XDG_CONFIG_HOME/cairn/cairn.yaml (~/.config/cairn/cairn.yaml).\n\nExamples:\n  cairn config path\n  $EDITOR "$(cairn config path)"')
    .action(() => ctx.term.out(defaultConfigPath()))
}
