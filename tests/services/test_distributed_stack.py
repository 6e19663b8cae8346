"""Every test that needs the one distributed Airflow, in one module, so pytest-xdist (--dist loadfile)
runs them on one worker and the stack starts once."""

from __future__ import annotations

import pytest

from tests.services.browser_checks import *  # noqa: F403
from tests.services.distributed_checks import *  # noqa: F403

pytestmark = pytest.mark.services
