import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { hashId } from '../base/index.js'
import { PATHS_PER_SNAPSHOT, TreeGraph, type SnapshotPaths } from './tree-graph.js'

const t = (name: string) => hashId(Buffer.from(name))

function plain(m: Map<number, SnapshotPaths>): Record<number, SnapshotPaths> {
  return Object.fromEntries(m)
}

describe('TreeGraph', () => {
  it('locate() finds a shared tree under every name in every snapshot', () => {
    const g = new TreeGraph()
    // snapshot 0: /home/{a,b} both hold the same "docs" tree; snapshot 1 shares /home
    g.addRoot(t('root0'), 0)
    g.addRoot(t('root1'), 1)
    g.addEdge(t('root0'), 'home', t('home'))
    g.addEdge(t('root1'), 'home', t('home'))
    g.addEdge(t('home'), 'a', t('docs'))
    g.addEdge(t('home'), 'b', t('docs'))
    assert.deepEqual(plain(g.locate({ tree: t('docs') })), {
      0: { paths: ['/home/a', '/home/b'], count: 2 },
      1: { paths: ['/home/a', '/home/b'], count: 2 },
    })
    assert.deepEqual(plain(g.locate({ tree: t('docs'), name: 'x.txt' })), {
      0: { paths: ['/home/a/x.txt', '/home/b/x.txt'], count: 2 },
      1: { paths: ['/home/a/x.txt', '/home/b/x.txt'], count: 2 },
    })
    assert.deepEqual(plain(g.locate({ tree: t('root1') })), { 1: { paths: ['/'], count: 1 } })
    assert.deepEqual(plain(g.locate({ tree: t('unknown') })), {})
  })

  it('addEdge() says whether the child is new, so each tree is walked once', () => {
    const g = new TreeGraph()
    g.addRoot(t('r'), 0)
    assert.equal(g.addEdge(t('r'), 'x', t('sub')), true)
    assert.equal(g.addEdge(t('r'), 'y', t('sub')), false)
    assert.equal(g.size, 2)
    assert.deepEqual(g.trees(), [t('r'), t('sub')])
  })

  it('lists at most PATHS_PER_SNAPSHOT paths per snapshot but counts them all', () => {
    const g = new TreeGraph()
    g.addRoot(t('r'), 0)
    for (let i = 0; i < 50; i++) g.addEdge(t('r'), `d${i}`, t('same'))
    const found = g.locate({ tree: t('same') }).get(0)!
    assert.equal(found.paths.length, PATHS_PER_SNAPSHOT)
    assert.equal(found.count, 50)
  })

  it('sees edges added after an earlier locate()', () => {
    const g = new TreeGraph()
    g.addRoot(t('r'), 0)
    g.addEdge(t('r'), 'a', t('x'))
    assert.equal(g.locate({ tree: t('x') }).get(0)!.count, 1)
    g.addRoot(t('r2'), 1)
    g.addEdge(t('r2'), 'b', t('x'))
    assert.deepEqual(plain(g.locate({ tree: t('x') })), { 0: { paths: ['/a'], count: 1 }, 1: { paths: ['/b'], count: 1 } })
  })

  it('does not loop on a forged cycle', () => {
    const g = new TreeGraph()
    g.addRoot(t('r'), 0)
    g.addEdge(t('r'), 'a', t('x'))
    g.addEdge(t('x'), 'back', t('r'))
    assert.deepEqual(g.locate({ tree: t('x') }).get(0)!.paths, ['/a'])
  })
})
