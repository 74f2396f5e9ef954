# A group's strategy is settled by its first test in collection order, here in another module.
import pytest


@pytest.mark.mp_group("One")
def test_inherits_from_another_module(request):
    assert request.node.get_closest_marker("mp_group_info").kwargs == {"group": "One", "strategy": "isolated_free"}


@pytest.mark.mp_group("Two")
def test_joins_the_serial_group(request):
    assert request.node.get_closest_marker("mp_group_info").kwargs == {"group": "Two", "strategy": "serial"}
