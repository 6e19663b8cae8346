"""What a subprocess needs to import the repository's own modules, as `make` runs them."""

from __future__ import annotations

import os

from salestalk import REPO_ROOT

REPO_PYTHONPATH = os.pathsep.join([str(REPO_ROOT / "plugins"), str(REPO_ROOT)])
