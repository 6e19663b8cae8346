"""Data Docs views that compile GX's Jinja templates once per process instead of on every page build.

GX builds a new view, with a new ``jinja2.Environment``, on every ``build_data_docs``. These are GX's own
views except that instances of one class with the same custom directories share the first one's
Environment (the views hold no other state), so its template cache lasts. ``great_expectations.yml``
names them as ``local_site``'s views.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView

if TYPE_CHECKING:
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
