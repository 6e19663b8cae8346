"""Data Docs pieces named in ``great_expectations.yml`` for ``local_site``: GX's own, minus two costs that
grew with use.

- Views: GX builds a new view, with a new ``jinja2.Environment``, on every ``build_data_docs``. Ours are
  GX's views except that instances of one class with the same custom directories share the first one's
  Environment (the views hold no other state), so its template cache lasts.
- Section builders: asked to build the pages of given results, GX's lists every stored result first
  (and parses each one's run time), so each validation's page cost more with every result kept. Ours
  look up the given ones only; a build without ``resource_identifiers`` is GX's.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from great_expectations.render.renderer.site_builder import DefaultSiteSectionBuilder
from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView

if TYPE_CHECKING:
    from collections.abc import Sequence

    from jinja2 import Environment

_lock = threading.Lock()
_environments: dict[tuple[type, str | None, str | None], Environment] = {}
# How often an Environment was built per (view class, custom styles dir, custom views dir); tests read it.
environment_builds: dict[tuple[type, str | None, str | None], int] = {}


class _SharedEnvironment:
    """Mixin: after GX's own ``__init__``, use the process's Environment for this class and directories.

    GX's ``__init__`` still makes an Environment each time (about 0.02 ms, nothing compiled yet); all but
    the first of each key are dropped at once.
    """

    env: Environment

    def __init__(
        self, custom_styles_directory: str | None = None, custom_views_directory: str | None = None
    ) -> None:
        # GX reads these two parameter names off the signature to pass the site's directories.
        super().__init__(  # type: ignore[call-arg]
            custom_styles_directory=custom_styles_directory, custom_views_directory=custom_views_directory
        )
        key = (type(self), custom_styles_directory, custom_views_directory)
        with _lock:
            shared = _environments.get(key)
            if shared is None:
                _environments[key] = self.env
                environment_builds[key] = environment_builds.get(key, 0) + 1
            else:
                self.env = shared


class CachedJinjaPageView(_SharedEnvironment, DefaultJinjaPageView):
    """GX's ``DefaultJinjaPageView`` (expectation suite and validation result pages), templates compiled once."""


class CachedJinjaIndexPageView(_SharedEnvironment, DefaultJinjaIndexPageView):
    """GX's ``DefaultJinjaIndexPageView`` (the site's index.html), templates compiled once."""


def warm_templates() -> int:
    """Compile every template of both views now (about 0.4 s), for processes forked later to inherit:
    a Celery worker calls it at start. How many were compiled."""
    compiled = 0
    for view in (CachedJinjaPageView(), CachedJinjaIndexPageView()):
        for name in view.env.list_templates():
            view.env.get_template(name)
            compiled += 1
    return compiled


class _Listing:
    """A store that lists only ``keys`` (those of its key type it holds); everything else is the store's."""

    def __init__(self, store: Any, keys: Sequence[Any]) -> None:
        self._store = store
        self._keys = [k for k in keys if isinstance(k, store.key_class) and store.has_key(k)]

    def list_keys(self) -> list[Any]:
        return list(self._keys)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class TargetedSiteSectionBuilder(DefaultSiteSectionBuilder):
    """GX's section builder; given ``resource_identifiers``, it builds their pages without listing the store."""

    def build(self, resource_identifiers: Sequence[Any] | None = None) -> None:
        if not resource_identifiers:
            return super().build(resource_identifiers)
        store = self.source_store
        self.source_store = _Listing(store, resource_identifiers)
        try:
            return super().build(resource_identifiers)
        finally:
            self.source_store = store
