import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { RepositoryProvider } from './repository-provider.js'
import { UsageTracker } from './usage.js'

/** A provider whose disk usage the test sets, counting how often it is asked. */
function disk(initial: number) {
  const state = { bytes: initial, counts: 0 }
  const provider = { usage: async () => (state.counts++, state.bytes) } as unknown as RepositoryProvider
  return { state, provider }
}

test('a refusal counts the space again when its count is older than a minute, and recount() forgets every count', async () => {
  // Files removed beside the server (a prune on its disk) counted until it restarted: the user
  // stayed over quota, and SIGHUP did not help.
  const { state, provider } = disk(90)
  let now = 1_000_000
  const usage = new UsageTracker(provider, () => now)
  const limits = [{ prefixes: [['carol']], bytes: 100, label: 'the quota of user "carol"' }]
  const refused = await usage.reserve(limits, 20)
  assert.equal(refused.ok, false)
  assert.equal(state.counts, 1, 'a fresh count is not made again')
  state.bytes = 30
  now += 61_000
  const allowed = await usage.reserve(limits, 20)
  assert.equal(allowed.ok, true)
  assert.equal(state.counts, 2)
  if (allowed.ok) allowed.release()
  usage.added(['carol'], 60)
  assert.equal(usage.used(['carol']), 90)
  state.bytes = 10
  usage.recount()
  assert.equal(usage.used(['carol']), undefined)
  assert.equal((await usage.reserve(limits, 80)).ok, true)
  assert.equal(usage.used(['carol']), 10)
})
