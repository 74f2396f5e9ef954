"""pytest-mp's mp_group rules (mpexec.groups), on stand-ins for pytest items."""

import unittest

import support  # noqa: F401

from mpexec.groups import GroupError, assign_groups, marker_group


class Mark:
    def __init__(self, *args, **kwargs):
        self.name, self.args, self.kwargs = "mp_group", args, kwargs


class Item:
    def __init__(self, nodeid, *marks):
        self.nodeid, self.marks = nodeid, marks

    def iter_markers(self):
        return iter(self.marks)


class MarkerTest(unittest.TestCase):
    def test_forms(self):
        self.assertEqual(marker_group(Item("t")), (None, None))
        self.assertEqual(marker_group(Item("t", Mark("G"))), ("G", None))
        self.assertEqual(marker_group(Item("t", Mark("G", "serial"))), ("G", "serial"))
        self.assertEqual(marker_group(Item("t", Mark("G", strategy="isolated_free"))), ("G", "isolated_free"))
        self.assertEqual(marker_group(Item("t", Mark(group="G", strategy="isolated_serial"))),
                         ("G", "isolated_serial"))
        self.assertEqual(marker_group(Item("t", Mark(strategy="serial"))), (None, None))

    def test_errors_name_the_test(self):
        for item in (Item("t::x", Mark("G"), Mark("H")), Item("t::x", Mark("G", "serial", "x")),
                     Item("t::x", Mark("G", group="H")), Item("t::x", Mark("G", "sideways")),
                     Item("t::x", Mark("G", colour="red")), Item("t::x", Mark(3))):
            with self.assertRaisesRegex(GroupError, "t::x"):
                marker_group(item)


class AssignTest(unittest.TestCase):
    def test_strategy_is_remembered_from_the_first_test(self):
        items = [Item("a", Mark("G", "isolated_serial")), Item("b", Mark("G")), Item("c"), Item("d", Mark("F"))]
        self.assertEqual([(g, s) for _, g, s in assign_groups(items)],
                         [("G", "isolated_serial"), ("G", "isolated_serial"), (None, "free"), ("F", "free")])

    def test_a_later_conflicting_strategy_is_an_error(self):
        with self.assertRaisesRegex(GroupError, "already has strategy 'serial'"):
            assign_groups([Item("a", Mark("G", "serial")), Item("b", Mark("G", "isolated_free"))])
        # As in pytest-mp: a first test without a strategy settles the group as free.
        with self.assertRaisesRegex(GroupError, "already has strategy 'free'"):
            assign_groups([Item("a", Mark("G")), Item("b", Mark("G", "serial"))])


if __name__ == "__main__":
    unittest.main()
