import type { Id, ReadDataSubset } from '../base/index.js'

export { parseReadDataSubset, type ReadDataSubset } from '../base/index.js'

/**
 * The packs to read out of `packs` (ID → size). `random` returns numbers in [0, 1), as
 * Math.random does; tests pass a seeded one.
 */
export function selectPacks(packs: ReadonlyMap<Id, number>, subset: ReadDataSubset, random: () => number = Math.random): Id[] {
  const ids = [...packs.keys()]
  switch (subset.kind) {
    case 'group':
      return ids.filter((id) => Number.parseInt(id.slice(0, 2), 16) % subset.t === subset.n - 1)
    case 'percent':
      return pickRandom(ids, subset.percent, random)
    case 'size': {
      let total = 0
      for (const size of packs.values()) total += size
      if (total === 0) return []
      return pickRandom(ids, (Math.min(subset.bytes, total) / total) * 100, random)
    }
  }
}

function pickRandom(ids: Id[], percent: number, random: () => number): Id[] {
  let count = Math.floor(ids.length * (percent / 100))
  if (ids.length > 0 && count < 1) count = 1
  // A partial Fisher–Yates shuffle: the first `count` places end up a uniform random choice.
  const a = ids.slice()
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (a.length - i))
    const tmp = a[i]
    a[i] = a[j]
    a[j] = tmp
  }
  return a.slice(0, count)
}
