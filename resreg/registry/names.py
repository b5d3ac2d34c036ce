"""Who gets a name two plugins register: never a matter of which was installed or loaded first.

- A built-in component (registered by one of resreg's own plugins) keeps its name. Another plugin's
  entry of that name is refused, unless it was registered with `replace=True`, which replaces the
  built-in on purpose (`resreg plugins` shows it).
- Two other plugins registering one name: both entries are refused, and the name stays contested, so
  that no order of loading gives it to either. Each plugin keeps everything else it registered.
"""

from __future__ import annotations

from resreg.errors import RegistryError
from resreg.registry.entry import Entry

_DISABLE_HINT = "uninstall one, or disable it with RESREG_DISABLE_PLUGINS"


class Refused(RegistryError):
    """An entry the registry did not take, in one line; `plugins` names the plugins whose entries it refused."""

    def __init__(self, message: str, plugins: tuple[str, ...]) -> None:
        super().__init__(message)
        self.plugins = plugins


def claim(entries: dict[str, Entry], new: Entry, *, replace: bool, contested: dict[str, str]) -> list[Refused]:
    """Put `new` into `entries` (one kind's, by name) if it may have its name; raise `Refused` if not.

    Returns the refusals of entries that `new` took the name from (a built-in registered after a plugin
    that had taken its name). `contested` (name -> why) holds the names two plugins registered.
    """
    old, name, what = entries.get(new.name), new.name, f"{new.kind} {new.name!r}"
    if name in contested and not new.provider.builtin:
        raise Refused(f"{what} of {new.provider} refused: {contested[name]}", (new.plugin,))
    if old is None:
        entries[name] = new
        return []
    if old.provider.builtin and new.provider.builtin:
        raise Refused(f"{what} registered twice: by {old.provider} and by {new.provider}", (new.plugin,))
    if old.provider.builtin or new.provider.builtin:
        builtin, other = (old, new) if old.provider.builtin else (new, old)
        if other is new and replace:
            new.replaces, entries[name] = old, new
            return []
        entries[name] = builtin
        refused = Refused(
            f"{what} of {other.provider} refused: the built-in {builtin.provider} has that name "
            f"(register it with replace=True to replace the built-in on purpose)",
            (other.plugin,),
        )
        if other is new:
            raise refused
        return [refused]
    # Two plugins that are not resreg's: neither may take the name from the other, whatever the order.
    if old.replaces is not None:
        entries[name] = old.replaces
    else:
        del entries[name]
    contested[name] = f"{old.provider} and {new.provider} both register it; {_DISABLE_HINT}"
    raise Refused(f"{what} refused: {contested[name]}", (old.plugin, new.plugin))
