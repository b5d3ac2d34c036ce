"""resreg's generic checks (resreg.testing) over everything this plugin registers."""

import pytest

from resreg.testing import plugin_checks


@pytest.mark.parametrize("check", plugin_checks("se"), ids=str)
def test_resreg_checks(check):
    check()
