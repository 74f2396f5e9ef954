# pytest-mp's trail as a run-once setup: every test starts the trail and none finishes it, so only the very
# first start is `first`; the units that start it later, after the earlier ones ended, find the setup done.
import pytest


@pytest.fixture
def shared_setup(mp_trail, mp_message_board):
    with mp_trail("setup_once") as first:
        if first:
            mp_message_board["setups"] = mp_message_board.get("setups", 0) + 1
    return mp_message_board["setups"]


@pytest.mark.mp_group("once", "free")
@pytest.mark.parametrize("n", range(3))
def test_setup_ran_once(n, shared_setup):
    assert shared_setup == 1


@pytest.mark.mp_group("once")
def test_a_finished_round_starts_again(mp_trail, mp_message_board):
    # A trail that is finished is first again at its next start.
    with mp_trail("round") as first:
        assert first
    with mp_trail("round", "finish") as last:
        assert last
    with mp_trail("round") as first:
        assert first  # after the last finish, the next start is first again
    with mp_trail("round", "finish") as last:
        assert last
