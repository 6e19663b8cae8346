"""The fake API's server: a client hanging up is not a traceback in the test output; a real error is."""

from __future__ import annotations

import pytest

from dev.fakeapi.server import serve


@pytest.mark.parametrize(
    ("error", "printed"),
    [
        pytest.param(BrokenPipeError(32, "Broken pipe"), False, id="broken-pipe"),
        pytest.param(ConnectionResetError(104, "reset"), False, id="reset"),
        pytest.param(ValueError("a bug"), True, id="bug"),
    ],
)
def test_only_real_errors_print(capsys, error: Exception, printed: bool) -> None:
    with serve() as running:
        try:
            raise error
        except Exception:
            running._httpd.handle_error(None, ("127.0.0.1", 1))
    assert ("Traceback" in capsys.readouterr().err) is printed
