# The marker forms of pytest-mp's README, with its fixtures (conftest.py).
import os

import pytest


@pytest.mark.mp_group('SomeGroupName', 'free')  # free, serial, isolated_free, or isolated_serial
class TestSomething(object):

    def test_one(self, fixture_one, slow):
        assert True

    def test_two(self, fixture_two, slow):
        assert True


@pytest.mark.mp_group('SomeAdditionalGroupName')  # uses free strategy by default
def test_three(slow):
    assert True


@pytest.mark.mp_group(group='SomeOtherGroupName', strategy='isolated_serial')
def test_four(fixture_three, slow):
    # The group's tests share one process: test_five sees what test_four leaves.
    fixture_three['four_pid'] = os.getpid()
    assert True


@pytest.mark.mp_group('SomeOtherGroupName')  # still uses previously-defined strategy isolated_serial
def test_five(fixture_three, slow):
    assert fixture_three['four_pid'] == os.getpid()


@pytest.mark.mp_group(group='Ordered', strategy='serial')
class TestOrdered:
    seen = []

    def test_a(self, slow):
        TestOrdered.seen.append('a')

    def test_b(self, slow):
        assert TestOrdered.seen == ['a']


@pytest.mark.mp_group('Quiet', strategy='isolated_free')
def test_isolated_one(slow):
    assert True


@pytest.mark.mp_group('Quiet')
def test_isolated_two(slow):
    assert True


def test_unmarked(fixture_two, slow):
    assert True


def test_skipped():
    pytest.skip("skipped on purpose")


@pytest.mark.xfail(reason="expected to fail")
def test_expected_failure():
    assert False
