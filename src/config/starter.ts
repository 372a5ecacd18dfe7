/**
 * The commented starter file `cairn config init` writes: two destinations and two sets, every
 * line explained, valid as it stands once the paths are adjusted.
 */

/**
 * The starter config text; paths use `~`.
 *
 * @example
 * await writeFile(file, starterConfig(), { flag: 'wx' })
 */
export function starterConfig(): string {
  return `# cairn configuration: what to back up, where to, and how long to keep it.
# Check it with "cairn config check", see a set's settings with "cairn config show SET",
# run every set now with "cairn run". Reference: docs/config.md. Editors complete and check
# this file with docs/cairn.schema.json (for the YAML extension, add a first line
# "# yaml-language-server: $schema=/path/to/cairn/docs/cairn.schema.json").

# Where backups go. Each repository is created once with
#   cairn -r URL --password-file FILE init   (or: cairn run --init)
repositories:
  local:
    url: ~/backups/cairn              # a directory, sftp:user@host:/path, s3:https://host/bucket/path, rest:…, rclone:…
    password-file: ~/.config/cairn/local.pass
  usb:
    url: /media/me/backup-drive/cairn
    password-file: ~/.config/cairn/usb.pass
    removable: true                   # skipped with a message when the drive is not plugged in
    # min-free: 10GiB                 # refuse to back up when less space is free

# Inherited by every set (a set's own values win; exclude lists add up).
defaults:
  exclude: ["*.tmp", ".cache", "node_modules"]
  retention: { keep-daily: 7, keep-weekly: 4, keep-monthly: 6 }

# What to back up.
sets:
  home:
    sources: [~/Documents, ~/Pictures]
    destinations: [local, usb]        # in priority order
    mode: all                         # all: every available destination; first-available: the first that works
    schedule: daily 02:30             # used by "cairn daemon"
    retention:
      usb: { keep-last: 5 }           # a policy of its own for the drive
  config:
    sources: [~/.config]
    exclude: ["cairn/*.pass"]
    destinations: [local]
    # hooks:
    #   before: ["pg_dump mydb > ~/db.sql"]
    #   finally: ["rm -f ~/db.sql"]
`
}
