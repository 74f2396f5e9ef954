# Each outcome pytest knows, in a free group, in a serial group and unmarked: mpexec reports them as pytest's
# users know them (docs/python.md, "Outcomes").
import pytest


@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")


class Outcomes:
    def test_pass(self):
        pass

    def test_fail(self):
        assert 1 == 2

    def test_skip(self):
        pytest.skip("not today")

    @pytest.mark.xfail(reason="known bug")
    def test_xfail(self):
        assert False

    @pytest.mark.xfail(reason="fixed?", strict=True)
    def test_xpass_strict(self):
        pass

    def test_setup_error(self, broken):
        pass


@pytest.mark.mp_group("Free", "free")
class TestFree(Outcomes):
    pass


@pytest.mark.mp_group("Serial", "serial")
class TestSerial(Outcomes):
    pass


class TestUnmarked(Outcomes):
    pass
