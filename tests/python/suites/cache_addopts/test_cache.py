def test_cache_fixture(cache):
    cache.set("mpexec/value", [1, 2])
    assert cache.get("mpexec/value", None) == [1, 2]


def test_plain():
    pass
