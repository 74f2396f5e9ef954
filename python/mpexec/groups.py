"""pytest-mp's groups: the mp_group marker in its positional and keyword forms, and a group's strategy as
pytest-mp settles it (the first test of the group in collection order sets it, `free` when that test names
none; a later test that names another strategy is an error; a test without the marker is free)."""

STRATEGIES = ("free", "serial", "isolated_free", "isolated_serial")


class GroupError(Exception):
    pass


def marker_group(item):
    """(group, strategy or None) from the item's mp_group marker, or (None, None) without one."""
    markers = [m for m in item.iter_markers() if m.name == "mp_group"]
    if not markers:
        return None, None
    if len(markers) > 1:
        raise GroupError("{}: more than one mp_group marker (on the test, its class or module); "
                         "a test belongs to one group".format(item.nodeid))
    args, kwargs = tuple(markers[0].args), dict(markers[0].kwargs)
    unknown = set(kwargs) - {"group", "strategy"}
    if unknown:
        raise GroupError("{}: mp_group takes group and strategy, not {}".format(item.nodeid, ", ".join(sorted(unknown))))
    if len(args) + len(kwargs) > 2 or len(args) > 2 or ("group" in kwargs and args) or \
            ("strategy" in kwargs and len(args) > 1):
        raise GroupError("{}: too many mp_group values: mp_group(group, strategy)".format(item.nodeid))
    group = args[0] if args else kwargs.get("group")
    strategy = args[1] if len(args) > 1 else kwargs.get("strategy")
    if group is None:
        return None, None  # as pytest-mp: a strategy without a group leaves the test ungrouped
    if not isinstance(group, str) or not group:
        raise GroupError("{}: mp_group needs a group name, got {!r}".format(item.nodeid, group))
    if strategy is not None and strategy not in STRATEGIES:
        raise GroupError("{}: mp_group strategy {!r} is not one of {}".format(
            item.nodeid, strategy, ", ".join(STRATEGIES)))
    return group, strategy


def assign_groups(items):
    """[(item, group or None, strategy)] in the items' order, with each group's strategy settled."""
    settled = {}  # group -> (strategy, nodeid of the test that settled it)
    out = []
    for item in items:
        group, strategy = marker_group(item)
        if group is None:
            out.append((item, None, "free"))
            continue
        if group not in settled:
            settled[group] = (strategy or "free", item.nodeid)
        elif strategy is not None and strategy != settled[group][0]:
            raise GroupError("{}: group {!r} already has strategy {!r} (settled by {})".format(
                item.nodeid, group, settled[group][0], settled[group][1]))
        out.append((item, group, settled[group][0]))
    return out
