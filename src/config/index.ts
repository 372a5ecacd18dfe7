/**
 * @module config
 * The user's configuration file (`~/.config/cairn/cairn.yaml`, YAML or JSON) as zod schemas:
 * named **repositories** (where backups go and how to open them), **sets** (what to back up,
 * to which destinations in priority order, how long to keep it, hooks around the run) and
 * **defaults** every set inherits. Loading validates the file and reports each problem with
 * the file, line, key path and a hint; resolveBackupSet() gives a set's effective settings and
 * where each came from. A leaf layer: imports only base.
 *
 * @example
 * const loaded = await loadConfig()                       // ~/.config/cairn/cairn.yaml
 * const { set, origins } = resolveBackupSet(loaded.config, 'data', loaded.dir)
 * set.destinations // ['nas', 'usb', 'cloud']; origins.mode === 'set'
 */
export { ConfigError, formatIssue, sortIssues, type ConfigIssue, type IssueSeverity } from './config-error.js'
export { unsetVariableIssue, unsetVariableIssues } from './variables.js'
export { inspectConfig, loadConfig, parseConfig, readConfigText, type InspectedConfig, type LoadedConfig } from './load.js'
export { ConfigText, formatKeyPath, type KeyPath, type Position } from './locate.js'
export { defaultConfigPath, expandHome, expandVariables, homeDirectory, isLocalRepositoryUrl, resolveConfigPath, resolveRepositoryUrl, stateDirectory, unsetVariables } from './paths.js'
export { resolveRepository, type EffectiveRepository } from './repositories.js'
export { BUILT_IN_DEFAULTS, resolveBackupSet, setNames, type EffectiveSet, type HookCommand, type Origin, type ResolvedSet } from './resolve.js'
export {
  configSchema,
  NAME_PATTERN,
  RETENTION_KEYS,
  SET_TAG_PREFIX,
  type CheckConfig,
  type ConfigFile,
  type DefaultsConfig,
  type HookCommandConfig,
  type HooksConfig,
  type PruneConfig,
  type RepositoryConfig,
  type RetentionConfig,
  type RetentionPolicyConfig,
  type ScheduleConfig,
  type SetConfig,
} from './schema.js'
export {
  durationSchema,
  parseDuration,
  parseSchedule,
  SCHEDULE_EXAMPLES,
  scheduleFromSpec,
  scheduleSpecSchema,
  scheduleTextSchema,
  type Schedule,
  type ScheduleOptions,
  type ScheduleSpec,
} from './schedule.js'
export {
  DEFAULT_EVENTS,
  eventsOf,
  NOTIFICATION_EVENTS,
  notificationsSchema,
  notificationTargetSchema,
  targetName,
  type CommandTarget,
  type DiscordTarget,
  type EmailTarget,
  type GotifyTarget,
  type HealthchecksTarget,
  type NotificationEvent,
  type NotificationEventName,
  type NotificationTarget,
  type NtfyTarget,
  type SlackTarget,
  type WebhookTarget,
} from './notifications.js'
export { starterConfig } from './starter.js'
export { closest } from './suggest.js'
export { formatByteSize, parseByteSize, parseTimeout } from './values.js'
