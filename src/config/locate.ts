/**
 * Where a key path sits in the config file's text. The file is parsed with the yaml package's
 * document API (JSON files too: JSON is YAML), keeping a LineCounter so that a path such as
 * `sets.data.destinations[1]` maps back to a line and column for messages.
 */
import type { Document, Node } from 'yaml'
import { lazyRequire } from '../base/index.js'

const yaml = lazyRequire<typeof import('yaml')>('yaml')

/** A key path into the config: map keys and list indexes, as zod reports them. */
export type KeyPath = ReadonlyArray<string | number>

/** A 1-based line and column. */
export interface Position {
  line: number
  column: number
}

/** One problem the YAML parser found, with its position. */
export interface SyntaxProblem {
  message: string
  position?: Position
  /** For a key given twice in one map: that key. */
  duplicateKey?: string
}

/**
 * Writes a key path the way the docs and messages spell it: `sets.data.destinations[1]`.
 *
 * @example
 * formatKeyPath(['sets', 'data', 'destinations', 1]) // 'sets.data.destinations[1]'
 */
export function formatKeyPath(path: KeyPath): string {
  let out = ''
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`
    else out += out === '' ? seg : `.${seg}`
  }
  return out
}

/** The parsed text of one config file: its plain value, syntax problems, and positions of keys. */
export class ConfigText {
  readonly value: unknown
  readonly problems: SyntaxProblem[]
  #doc: Document.Parsed
  #lines: InstanceType<ReturnType<typeof yaml>['LineCounter']>

  constructor(text: string) {
    this.#lines = new (yaml().LineCounter)()
    // YAML merge keys (`<<: *base`) share settings between sets, as in docker-compose files.
    this.#doc = yaml().parseDocument(text, { lineCounter: this.#lines, prettyErrors: false, uniqueKeys: true, merge: true })
    this.problems = this.#doc.errors.map((e) => {
      const problem: SyntaxProblem = { message: e.message.split('\n')[0], position: this.#at(e.pos[0]) }
      const key = e.code === 'DUPLICATE_KEY' ? /^("[^"\n]*"|'[^'\n]*'|[^:\n]+?)\s*:/.exec(text.slice(e.pos[0]))?.[1] : undefined
      if (key !== undefined) problem.duplicateKey = key.replace(/^(["'])(.*)\1$/, '$2')
      return problem
    })
    this.value = this.problems.length === 0 ? this.#doc.toJS({ maxAliasCount: 1000 }) : undefined
  }

  /**
   * The position of a key path: for a map key, the key itself (the line a user looks for); for a
   * list item, the item. A path that leads nowhere gives the position of its deepest existing
   * part (a missing key is reported at the map that should hold it); undefined only when the
   * document is empty.
   */
  locate(path: KeyPath): Position | undefined {
    let node: unknown = this.#doc.contents
    let best: Position | undefined = this.#rangeStart(node)
    for (const seg of path) {
      if (yaml().isMap(node)) {
        const pair = node.items.find((p) => yaml().isPair(p) && yaml().isScalar(p.key) && String(p.key.value) === String(seg))
        if (!pair) return best
        best = this.#rangeStart(pair.key) ?? best
        node = pair.value
      } else if (yaml().isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg]
        if (item === undefined) return best
        best = this.#rangeStart(item) ?? best
        node = item
      } else return best
    }
    return best
  }

  #rangeStart(node: unknown): Position | undefined {
    const range = (node as Node | null | undefined)?.range
    return range ? this.#at(range[0]) : undefined
  }

  #at(offset: number): Position {
    const p = this.#lines.linePos(offset)
    return { line: p.line, column: p.col }
  }
}
