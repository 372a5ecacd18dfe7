/**
 * Layers that most commands never need, loaded on first use: a backup or a snapshot listing
 * would otherwise load the maintenance and restore layers (two dozen modules) at every start.
 * Types are imported from these layers as usual; only values go through here.
 *
 * @example
 * const { planPrune } = await maintenance()
 */
export const maintenance = () => import('../maintenance/index.js')
export const restorer = () => import('../restorer/index.js')
