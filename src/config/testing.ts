/**
 * Config texts for tests: the example from issue #7 exactly as written there, and a file
 * with one of each kind of mistake (line numbers matter: tests name them).
 */

/** Issue #7's example: it must be accepted as written. */
export const ISSUE_EXAMPLE = `repositories:
  nas:
    url: sftp://backup@nas.local//srv/cairn
    password-file: ~/.config/cairn/nas.pass
  usb:
    url: /media/me/T9/cairn
    password-command: pass show cairn/usb
    removable: true
  cloud:
    url: s3:https://s3.example.com/bucket/cairn
    password-file: ~/.config/cairn/cloud.pass
    env: { AWS_ACCESS_KEY_ID: ..., AWS_SECRET_ACCESS_KEY: ... }
defaults:
  exclude: ["*.tmp", "node_modules", ".cache"]
  retention: { keep-daily: 7, keep-weekly: 4 }
sets:
  data:
    sources: [/data]
    exclude: ["tmp/*", "*.log"]
    destinations: [nas, usb, cloud]
    mode: first-available
    schedule: daily 02:30
    retention:
      usb: { keep-last: 5 }
    hooks:
      before: ["pg_dump mydb > /data/db.sql"]
      finally: ["rm -f /data/db.sql"]
  config:
    sources: [~/.config, ~/env.sh, ~/.secrets]
    destinations: [nas, usb]
    mode: all
`

/** One mistake per marked line; `BAD_EXAMPLE_MISTAKES` lists line, key path and a message fragment. */
export const BAD_EXAMPLE = `repositories:
  nas:
    url: /srv/nas
    password-file: ~/nas.pass
    password-env: NAS_PASSWORD
  usb:
    url: /media/usb
    removable: yes
    min-free: 10 parsecs
defaults:
  exclude: "*.tmp"
  retention: { keep-daily: seven }
sets:
  data:
    sources: [/data]
    destiantions: [nas]
    mode: firstavailable
    schedule: daily 25:00
    retention:
      usbb: { keep-last: 5 }
    hooks:
      before: [{ command: "x", timout: 5 }]
      finally: [42]
  other:
    sources: [/x]
    destinations: [nas, usbb]
    prune: { when: sometimes }
    check: { read-data-subset: lots }
`

/** The mistakes of BAD_EXAMPLE: [line, key path, a fragment of the message or hint]. */
export const BAD_EXAMPLE_MISTAKES: ReadonlyArray<[number, string, RegExp]> = [
  [5, 'repositories.nas.password-env', /password-file and password-env; give only one/],
  [6, 'repositories.usb', /no password source/],
  [8, 'repositories.usb.removable', /expected true or false, got the text "yes"/],
  [9, 'repositories.usb.min-free', /invalid size "10 parsecs"/],
  [11, 'defaults.exclude', /expected a list, got the text "\*\.tmp"/],
  [12, 'defaults.retention.keep-daily', /invalid count "seven"/],
  [14, 'sets.data', /set "data" has no destinations/],
  [16, 'sets.data.destiantions', /unknown key "destiantions"[^]*Did you mean "destinations"\?/],
  [17, 'sets.data.mode', /"firstavailable" is not a valid mode[^]*Did you mean "first-available"\?/],
  [18, 'sets.data.schedule', /invalid schedule "daily 25:00"/],
  [20, 'sets.data.retention.usbb', /neither a keep-\* option nor a repository name[^]*Did you mean "usb"\?/],
  [22, 'sets.data.hooks.before[0].timout', /unknown key "timout"[^]*Did you mean "timeout"\?/],
  [23, 'sets.data.hooks.finally[0]', /expected text or a map of keys, got the number 42/],
  [26, 'sets.other.destinations[1]', /destination "usbb" is not a repository[^]*Did you mean "usb"\?/],
  [27, 'sets.other.prune.when', /invalid schedule "sometimes"/],
  [28, 'sets.other.check.read-data-subset', /invalid read-data-subset "lots"/],
]
