"""Name -> constructor registries, used instead of if/elif chains over names."""

from tf_smvae.util.errors import ConfigError


class Registry:
    """Maps names to objects (classes or functions) for one kind of component.

    #### Examples

    ```python
    PRIORS = Registry("prior")

    @PRIORS.register("standard_normal")
    class StandardNormalPrior(...): ...

    prior_cls = PRIORS.get("standard_normal")
    ```
    """

    def __init__(self, kind):
        """Creates an empty registry.

        Args:
          kind: what the registry holds, used in error messages ("prior", "dataset").
        """
        self.kind = kind
        self._entries = {}

    def register(self, name):
        """Returns a decorator that registers its argument under `name`."""

        def decorator(obj):
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered.")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name, field=None):
        """Looks `name` up.

        Args:
          name: the registered name.
          field: the config field or argument the name came from, for the error message.

        Returns:
          The registered object.

        Raises:
          ConfigError: if `name` is not registered; the message lists the known names.
        """
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            where = f" (field {field!r})" if field else ""
            raise ConfigError(
                f"Unknown {self.kind} {name!r}{where}; known: {', '.join(self.names())}."
            ) from None

    def names(self):
        """Returns the sorted registered names."""
        return sorted(self._entries)

    def __contains__(self, name):
        return name in self._entries
