# Two tests that can only pass when they run at the same time and share mpexec's board, lock and trails:
# each waits for the other. Run with --group-by test and -j2 (each test a unit of its own).
import time

import pytest


def meet(board, me, other, key):
    board["{}.{}".format(key, me)] = True
    deadline = time.monotonic() + 60
    while "{}.{}".format(key, other) not in board:
        assert time.monotonic() < deadline, "the other test never arrived"
        time.sleep(0.01)


@pytest.mark.parametrize("me,other", [("a", "b"), ("b", "a")])
def test_meet(mp_message_board, mp_lock, mp_trail, mp_use_mp, mp_num_processes, me, other):
    board = mp_message_board
    assert mp_use_mp and mp_num_processes == 2
    for _ in range(20):  # a read and a write, apart: without the lock, increments get lost
        with mp_lock:
            n = board.get("count", 0)
            time.sleep(0.002)
            board["count"] = n + 1
    meet(board, me, other, "counted")
    assert board["count"] == 40
    with mp_trail("shared") as first:
        board["first." + me] = first
    meet(board, me, other, "started")
    assert [board["first.a"], board["first.b"]].count(True) == 1
    with mp_trail("shared", "finish") as last:
        board["last." + me] = last
    meet(board, me, other, "finished")
    assert [board["last.a"], board["last.b"]].count(True) == 1


def test_board_as_a_mapping(mp_message_board):
    board = mp_message_board
    odd = "some flag / ü {}".format(id(board))
    board[odd] = {"t": (1, 2)}
    assert board[odd] == {"t": [1, 2]}
    assert odd in board and odd in board.keys()
    assert board.setdefault(odd, "other") == {"t": [1, 2]}
    version = board.put("versioned", 1)
    assert board.put("versioned", 2, if_version=version + 1000) is None
    assert board.put("versioned", 2, if_version=version) > version
    assert board.wait("versioned", after=version, timeout=5) == (2, board.get_with_version("versioned")[1])
    del board[odd]
    assert board.get(odd) is None
    with pytest.raises(KeyError):
        del board[odd]
    with pytest.raises(TypeError):
        board["bad"] = object()
