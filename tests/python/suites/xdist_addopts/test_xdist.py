import time

import pytest


@pytest.mark.parametrize("n", range(6))
def test_in_the_units_own_process(n, worker_id):
    time.sleep(0.05 * (n % 3))
    assert worker_id == "master"  # pytest-xdist's name for a session that runs its tests itself


@pytest.mark.mp_group("together", "serial")
@pytest.mark.parametrize("n", range(4))
def test_serial(n, worker_id):
    time.sleep(0.05 * (n % 2))
    assert worker_id == "master"
