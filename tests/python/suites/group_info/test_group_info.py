# pytest-mp marks each test with mp_group_info(group=..., strategy=...) once the groups are settled, and
# suites read it: the same values under plain pytest and in every mpexec unit.
import pytest


def info(request):
    return request.node.get_closest_marker("mp_group_info").kwargs


@pytest.mark.mp_group("One", strategy="isolated_free")
def test_declares(request):
    assert info(request) == {"group": "One", "strategy": "isolated_free"}


@pytest.mark.mp_group(group="One")
def test_inherits(request):
    assert info(request) == {"group": "One", "strategy": "isolated_free"}


@pytest.mark.mp_group("Two", "serial")
class TestSerial:
    def test_a(self, request):
        assert info(request) == {"group": "Two", "strategy": "serial"}

    def test_b(self, request):
        assert info(request) == {"group": "Two", "strategy": "serial"}


def test_ungrouped(request):
    assert info(request) == {"group": "ungrouped", "strategy": "free"}
