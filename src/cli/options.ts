/**
 * Option helpers. restic's list flags (--tag, --exclude, --host, …) take one value per flag and are
 * repeated; commander's variadic `<x...>` would swallow the positional arguments that follow, so
 * list options collect repeated single values instead.
 */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}
