"""Data Docs views that compile GX's Jinja templates once per process instead of once per build.

GX's ``SiteBuilder`` is instantiated on every ``build_data_docs`` (and ``get_docs_sites_urls``) call, and
with it a view per site section and one for the index; each ``DefaultJinjaView`` makes its own
``jinja2.Environment``, so every build re-read and re-compiled every template it rendered. These views
are GX's own classes (same templates, filters and output) except that instances of one class with the
same custom styles/views directories share one Environment, built by the first of them: its template
cache then survives from one build to the next. ``great_expectations.yml`` names them as the ``view`` of
each ``local_site`` section and of its index (a supported extension point: GX imports them by
``module_name``, which ``plugins/`` on ``PYTHONPATH`` makes importable wherever GX runs).

Sharing is correct because a view instance holds no state but its two directories (part of the key):
the Environment's filters are bound methods of the first instance, and what they do depends only on the
class (also part of the key) and those directories. The Environment keeps Jinja's default
``auto_reload``, so an edited template file (e.g. a custom view) is still picked up, as before.
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
