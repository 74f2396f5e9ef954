# pytest-mp's README example, as a suite: its fixtures and marker forms unchanged, plus the resource they use.
# Under mpexec, `some_resource` counts on mpexec's board (through mp_message_board), so the checks see every
# unit's calls; under plain pytest everything is in one process.
import os
import time

import pytest


class SomeResource:
    """Records each call on the board under a key of its own (the callers may hold mp_lock already), so
    that a check can count them."""

    def __init__(self, board):
        self.board = board

    def _count(self, key):
        self.board["{}.{}.{}".format(key, os.getpid(), time.monotonic_ns())] = True

    def destructive_call(self):
        self._count("destructive_calls")
        return {"state": "ready", "pid": os.getpid()}

    def get_current_state(self):
        return {"state": "ready"}

    def cleanup(self):
        self._count("cleanups")


@pytest.fixture(scope="session")
def some_resource(mp_message_board):
    return SomeResource(mp_message_board)


@pytest.fixture(scope='session')
def must_be_idempotent_without_teardown(mp_lock, mp_message_board, some_resource):
    with mp_lock:
        if mp_message_board.get('some_flag_your_fixture_creates'):
            return
        mp_message_board['some_flag_your_fixture_creates'] = True
        some_resource.destructive_call()
    return


@pytest.fixture(scope='session')
def must_be_idempotent_with_teardown(mp_trail, some_resource):
    with mp_trail('TrailName', 'start') as start:  #  mp_trail('TrailName') defaults to 'start'
        if start:  # First invocation of `must_be_idempotent_with_teardown` detected.
            yielded = some_resource.destructive_call()
        else:  # setup has already occured by another test runner
            yielded = some_resource.get_current_state()
    yield yielded
    with mp_trail('TrailName', 'finish') as finish:
        if finish:  # Last finalizer/teardown detected.
            # There are no other tests using this fixture at the moment
            some_resource.cleanup()


@pytest.fixture(scope='session')
def must_be_idempotent_with_teardown_locked(mp_lock, mp_message_board, some_resource):
    with mp_lock:
        if mp_message_board.get('must_be_idempotent_setup'):
            yielded = mp_message_board['must_be_idempotent_val']
        else:
            mp_message_board['must_be_idempotent_setup'] = True
            yielded = some_resource.destructive_call()
            mp_message_board['must_be_idempotent_val'] = yielded  # pickle!!!
    yield yielded
    with mp_lock:
        if mp_message_board.get('must_be_idempotent_teardown'):
            return
        mp_message_board['must_be_idempotent_teardown'] = True
        # Notice there is no synchronization w/ this teardown and active fixture consumers!
        some_resource.cleanup()


@pytest.fixture
def fixture_one(must_be_idempotent_without_teardown):
    return 1


@pytest.fixture
def fixture_two(must_be_idempotent_with_teardown):
    assert must_be_idempotent_with_teardown["state"] == "ready"
    return 2


@pytest.fixture
def fixture_three(must_be_idempotent_with_teardown_locked, mp_message_board):
    assert must_be_idempotent_with_teardown_locked["state"] == "ready"
    return mp_message_board


@pytest.fixture
def slow():
    # Long enough for units that run at the same time to overlap, so the report can show they did not.
    time.sleep(0.2)
