"""resreg's generic checks (resreg.testing) over everything this plugin registers."""

import pytest

from resreg.testing import plugin_checks


@pytest.mark.parametrize("check", plugin_checks("se"), ids=str)
def test_resreg_checks(check):
    check()


def test_eca_takes_its_kernel_size_or_adapts_it_to_the_channels():
    from resreg_se.parts import eca

    assert eca(256).conv.kernel_size == (5,)  # the paper's |(log2(256) + 1) / 2|, made odd
    assert eca(256, kernel_size=3).conv.kernel_size == (3,)
