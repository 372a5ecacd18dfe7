/**
 * Shell completions and man pages, generated from the command tree itself (so they never fall
 * behind a new command or flag): `cairn generate`, as restic's.
 */
import type { EventEmitter } from 'node:events'
import type { Command, Option } from 'commander'

/** One command of the tree, flattened: its path below the program and what it takes. */
interface CommandInfo {
  /** Names from the program down ([] for the program itself). */
  path: string[]
  description: string
  usage: string
  subcommands: Array<{ name: string; description: string }>
  options: Option[]
  /** Whether it takes operands (paths, snapshot IDs), which complete as file names. */
  operands: boolean
  help: string
}

function collect(cmd: Command, path: string[], out: CommandInfo[]): CommandInfo[] {
  const visible = cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden)
  out.push({
    path,
    description: cmd.description(),
    usage: cmd.usage(),
    subcommands: visible.map((c) => ({ name: c.name(), description: c.description() })),
    options: cmd.options.filter((o) => !o.hidden),
    operands: cmd.registeredArguments.length > 0,
    help: helpAfter(cmd),
  })
  for (const c of visible) collect(c, [...path, c.name()], out)
  return out
}

/** The text a command adds after its generated help (examples and notes). */
function helpAfter(cmd: Command): string {
  let text = ''
  const fake = { write: (s: string) => (text += s) }
  // commander emits 'afterHelp' listeners with a context that has write(); replay them.
  for (const listener of (cmd as unknown as EventEmitter).listeners('afterHelp')) (listener as (ctx: unknown) => void)({ error: false, command: cmd, write: fake.write })
  return text.trim()
}

/** The program's flags that every command takes (not --version, which only the program does). */
const globalOptions = (program: Command): Option[] => program.options.filter((o) => !o.hidden && o.long !== '--version')

const flagsOf = (o: Option): string[] => [o.short, o.long].filter((f): f is string => f !== undefined)
const takesValue = (o: Option): boolean => o.required || o.optional

/** Values offered after a flag that takes one of a few words. */
const FLAG_WORDS: Record<string, string[]> = {
  '--compression': ['auto', 'off', 'max'],
  '--archive': ['tar', 'zip'],
  '--mode': ['restore-size', 'files-by-contents', 'raw-data', 'blobs-per-file'],
}

function shellWords(words: readonly string[]): string {
  return words.map((w) => w.replace(/[^A-Za-z0-9_.,:/=+-]/g, (c) => '\\' + c)).join(' ')
}

/**
 * A bash completion script: subcommands and flags by position, the words of flags such as
 * `--compression`, and file names for every other value.
 *
 * @example
 * writeFileSync('/etc/bash_completion.d/cairn', bashCompletion(program))
 */
export function bashCompletion(program: Command): string {
  const name = program.name()
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}`
  const all = collect(program, [], [])
  const globals = globalOptions(program)
  const lines: string[] = [
    `# bash completion for ${name}, made by "${name} generate --bash-completion"`,
    `${fn}() {`,
    '  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"',
    '  local -A subs=() opts=() vals=()',
  ]
  for (const c of all) {
    // bash takes no empty key: the program is "." and a command ". repair index".
    const key = ['.', ...c.path].join(' ')
    const options = c.path.length === 0 ? c.options : [...c.options, ...globals]
    lines.push(`  subs[${JSON.stringify(key)}]=${JSON.stringify(c.subcommands.map((s) => s.name).join(' '))}`)
    lines.push(`  opts[${JSON.stringify(key)}]=${JSON.stringify(options.flatMap(flagsOf).join(' '))}`)
    lines.push(`  vals[${JSON.stringify(key)}]=${JSON.stringify(' ' + options.filter(takesValue).flatMap(flagsOf).join(' ') + ' ')}`)
  }
  lines.push(
    '  local path="." i w skip=0',
    '  for ((i = 1; i < COMP_CWORD; i++)); do',
    '    w="${COMP_WORDS[i]}"',
    '    if ((skip)); then skip=0; continue; fi',
    '    case "$w" in',
    '      --*=*) continue ;;',
    '      -*) [[ "${vals[$path]}" == *" $w "* ]] && skip=1; continue ;;',
    '    esac',
    '    [[ " ${subs[$path]} " == *" $w "* ]] && path="$path $w"',
    '  done',
    '  if [[ "${vals[$path]}" == *" $prev "* ]]; then',
    '    case "$prev" in',
  )
  for (const [flag, words] of Object.entries(FLAG_WORDS)) {
    lines.push(`      ${flag}) COMPREPLY=($(compgen -W ${JSON.stringify(shellWords(words))} -- "$cur")); return ;;`)
  }
  lines.push(
    '    esac',
    '    COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null; return',
    '  fi',
    '  if [[ "$cur" == -* ]]; then',
    '    COMPREPLY=($(compgen -W "${opts[$path]}" -- "$cur")); return',
    '  fi',
    '  if [[ -n "${subs[$path]}" ]]; then',
    '    COMPREPLY=($(compgen -W "${subs[$path]}" -- "$cur")); return',
    '  fi',
    '  COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null',
    '}',
    `complete -F ${fn} ${name}`,
    '',
  )
  return lines.join('\n')
}

/** A zsh completion script: the bash one, through zsh's bashcompinit. */
export function zshCompletion(program: Command): string {
  const name = program.name()
  return [
    `#compdef ${name}`,
    `# zsh completion for ${name}, made by "${name} generate --zsh-completion"`,
    'autoload -U +X bashcompinit && bashcompinit',
    bashCompletion(program),
  ].join('\n')
}

const fishQuote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`

/** A fish completion script, with each command's and flag's description. */
export function fishCompletion(program: Command): string {
  const name = program.name()
  const all = collect(program, [], [])
  const lines = [`# fish completion for ${name}, made by "${name} generate --fish-completion"`, `complete -c ${name} -f`]
  for (const o of program.options.filter((x) => !x.hidden)) lines.push(fishOption(name, '', o))
  for (const c of all) {
    // A command's words must all be there, and no word of its subcommands yet.
    const here =
      c.path.length === 0
        ? '__fish_use_subcommand'
        : c.path.map((p) => `__fish_seen_subcommand_from ${p}`).join('; and ') +
          (c.subcommands.length > 0 ? `; and not __fish_seen_subcommand_from ${c.subcommands.map((s) => s.name).join(' ')}` : '')
    for (const s of c.subcommands) lines.push(`complete -c ${name} -n ${fishQuote(here)} -a ${s.name} -d ${fishQuote(s.description)}`)
    if (c.path.length === 0) continue
    const seen = c.path.map((p) => `__fish_seen_subcommand_from ${p}`).join('; and ')
    for (const o of c.options) lines.push(fishOption(name, seen, o))
    if (c.operands) lines.push(`complete -c ${name} -n ${fishQuote(seen)} -F`)
  }
  return lines.join('\n') + '\n'
}

function fishOption(name: string, condition: string, o: Option): string {
  let line = `complete -c ${name}`
  if (condition !== '') line += ` -n ${fishQuote(condition)}`
  if (o.long) line += ` -l ${o.long.replace(/^--/, '')}`
  if (o.short) line += ` -s ${o.short.replace(/^-/, '')}`
  if (takesValue(o)) {
    const words = o.long ? FLAG_WORDS[o.long] : undefined
    line += words ? ` -x -a ${fishQuote(words.join(' '))}` : ' -r -F'
  }
  return line + ` -d ${fishQuote(o.description)}`
}

const roff = (s: string) =>
  s
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/gm, '\\&$1')

/**
 * Man pages in roff, one per command (`cairn.1`, `cairn-backup.1`, `cairn-repair-index.1`),
 * by file name.
 */
export function manPages(program: Command, date: Date = new Date()): Map<string, string> {
  const name = program.name()
  const all = collect(program, [], [])
  const globals = globalOptions(program)
  const day = date.toISOString().slice(0, 10)
  const pages = new Map<string, string>()
  const pageName = (path: string[]) => [name, ...path].join('-')
  for (const c of all) {
    const title = pageName(c.path)
    const out: string[] = [
      `.TH ${JSON.stringify(title.toUpperCase())} 1 ${JSON.stringify(day)} ${JSON.stringify(name)} ${JSON.stringify(`${name} manual`)}`,
      '.SH NAME',
      `${roff(title)} \\- ${roff(c.description)}`,
      '.SH SYNOPSIS',
      `.B ${roff([name, ...c.path].join(' '))}`,
      roff(c.usage),
      '.SH DESCRIPTION',
      roff(c.description) + (c.description.endsWith('.') ? '' : '.'),
    ]
    if (c.help !== '') out.push('.PP', '.nf', roff(c.help), '.fi')
    const section = (heading: string, options: Option[]) => {
      if (options.length === 0) return
      out.push(`.SH ${heading}`)
      for (const o of options) {
        out.push('.TP', `.B ${roff(o.flags)}`, roff(o.description))
      }
    }
    section('OPTIONS', c.options)
    if (c.path.length > 0) section('GLOBAL OPTIONS', globals)
    if (c.subcommands.length > 0) {
      out.push('.SH COMMANDS')
      for (const s of c.subcommands) out.push('.TP', `.BR ${roff(pageName([...c.path, s.name]))} (1)`, roff(s.description))
    }
    out.push('.SH SEE ALSO', `.BR ${roff(c.path.length === 0 ? `${name}-backup` : pageName(c.path.slice(0, -1)))} (1)`, '')
    pages.set(`${title}.1`, out.join('\n'))
  }
  return pages
}
