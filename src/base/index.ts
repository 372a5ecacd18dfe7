/**
 * @module base
 * Vocabulary with no I/O: the AppError base with codes, Id helpers, a concurrency limit and a
 * handoff of work from one producer to one consumer.
 */
export * from './byte-budget.js'
export * from './clock.js'
export * from './errors.js'
export * from './format.js'
export * from './id.js'
export * from './lazy-require.js'
export * from './limit.js'
export * from './make-directories.js'
export * from './read-data-subset.js'
export * from './handoff.js'
export * from './shared-slots.js'
export * from './worker-pool.js'
