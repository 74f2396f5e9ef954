# pytest-mp puts no limit on a trail's name (its own tests use names of 1,000 and more characters) or on a
# board key; mpexec's service takes names of up to 256 of [A-Za-z0-9._/-]. Three free tests (a unit each)
# count themselves through such names.
import pytest

import mpexec

TRAIL = "finish_without_consumers" * 100
KEY = "a board key with spaces, ü and more than 256 characters: " + "k" * 300


@pytest.mark.mp_group("long", "free")
@pytest.mark.parametrize("n", range(3))
def test_long_trail_and_key(n, mp_trail, mp_message_board):
    board = mp_message_board
    with mp_trail(TRAIL) as first:
        if first:
            board.setdefault("starts", 0)
            board["starts"] += 1  # the block keeps the other units out
        board[KEY] = board.get(KEY, 0) + 1
    assert KEY in board and KEY in list(board) and board[KEY] >= 1
    with mpexec.sync().lock("lock " + "l" * 300):
        pass
    with mp_trail(TRAIL, "finish") as last:
        board[KEY] -= 1
        assert (board[KEY] == 0) == last
