"""How collected tests become units (mpexec.manifest)."""

import unittest

import support  # noqa: F401

from mpexec.manifest import UNIT_START_IN_TESTS, Collected, Names, build, chunks, default_chunk_count


def suite():
    return [Collected("a.py::t1", "a.py"), Collected("a.py::C::t2", "a.py", "a.py::C"), Collected("a.py::C::t3", "a.py", "a.py::C"),
            Collected("b.py::t4", "b.py"), Collected("b.py::t5", "b.py", None, "G", "serial"),
            Collected("c.py::t6", "c.py", None, "my group", "isolated_free"), Collected("d.py::t7", "d.py")]


def units(m):
    """{serial group or test name: [test names]} of a manifest: a free group's tests are units of their own."""
    out = {}
    for t in m["tests"]:
        serial = m["groups"][t["group"]]["strategy"] in ("serial", "isolated_serial")
        out.setdefault(t["group"] if serial else t["name"], []).append(t["name"])
    return out


class BuildTest(unittest.TestCase):
    def make(self, group_by, n=2):
        return build(suite(), lambda: ["batch"], group_by, n, "/w", prefix="p.")

    def test_by_test(self):
        m = self.make("test")
        self.assertEqual(units(m)["a.py::C::t2"], ["a.py::C::t2"])
        self.assertEqual(m["tests"][0], {"name": "a.py::t1", "group": "p.ungrouped"})
        self.assertEqual(m["groups"]["p.ungrouped"], {"strategy": "free", "batch": {"cmd": ["batch"]}})
        self.assertEqual(m["groups"]["G"], {"strategy": "serial", "batch": {"cmd": ["batch"]}})
        quiet = [g for g in m["groups"] if g.startswith("my_group-")]
        self.assertEqual(len(quiet), 1)
        self.assertEqual(m["groups"][quiet[0]], {"strategy": "isolated_free", "batch": {"cmd": ["batch"]}})

    def test_by_module_and_class(self):
        self.assertEqual(units(self.make("module"))["p.a.py"], ["a.py::t1", "a.py::C::t2", "a.py::C::t3"])
        by_class = units(self.make("class"))
        self.assertEqual(by_class["p.a.py"], ["a.py::t1"])
        classes = [g for g in by_class if g.startswith("p.a.py_C-")]
        self.assertEqual([by_class[g] for g in classes], [["a.py::C::t2", "a.py::C::t3"]])

    def test_every_test_runs_through_its_groups_batch_command(self):
        m = self.make("module")
        self.assertEqual([t for t in m["tests"] if "cmd" in t], [])
        self.assertEqual({g["batch"]["cmd"][0] for g in m["groups"].values()}, {"batch"})

    def test_chunks_keep_modules_whole_and_balance_counts(self):
        tests = [Collected("m{}::t{}".format(m, i), "m{}".format(m)) for m in range(6) for i in range(m % 2 + 1)]
        c = chunks(tests, 3)
        self.assertEqual(sorted(set(c.values())), ["chunk1", "chunk2", "chunk3"])
        sizes = {}
        for t in tests:
            sizes[c[t.module]] = sizes.get(c[t.module], 0) + 1
        self.assertEqual(sorted(sizes.values()), [3, 3, 3])
        self.assertEqual(set(chunks(tests, 100).values()), {"chunk{}".format(i) for i in range(1, 7)})

    def test_default_chunk_count_is_the_unmarked_tests_share_of_the_slots(self):
        def module(m, n, group=None, strategy="free", klass_group=False):
            return [Collected("m{}.py::t{}".format(m, i), "m{}.py".format(m), None,
                              group if (not klass_group or i < 3) else None, strategy) for i in range(n)]
        # No groups: a chunk per slot.
        plain = [t for m in range(30) for t in module(m, 10)]
        self.assertEqual(default_chunk_count(plain, 2), 2)
        self.assertEqual(default_chunk_count(plain, 8), 8)
        # bench/python_suite.py: 270 unmarked tests and 10 serial groups of 3, at 2 slots. The groups keep
        # one slot busy as long as the unmarked tests the other: one chunk, one pytest start fewer.
        bench = [t for m in range(30) for t in module(m, 10, "serial{}".format(m) if m < 10 else None, "serial",
                                                        klass_group=True)]
        self.assertEqual(sum(1 for t in bench if t.group is None), 270)
        self.assertEqual(default_chunk_count(bench, 2), 1)
        # The same groups beside many unmarked tests leave them most of the slots (at 8: the groups' 10 units
        # are about one slot's share).
        big = bench + [t for m in range(30, 530) for t in module(m, 10)]
        self.assertEqual(default_chunk_count(big, 2), 2)
        self.assertEqual(default_chunk_count(big, 8), 7)
        # Free groups are a unit per test; isolated groups run in windows of their own and do not count.
        free = module(0, 50) + module(1, 2 * UNIT_START_IN_TESTS, "f", "free")
        self.assertEqual(default_chunk_count(free, 4), 1)
        isolated = module(0, 50) + module(1, 200, "i", "isolated_free") + module(2, 30, "s", "isolated_serial")
        self.assertEqual(default_chunk_count(isolated, 4), 4)
        self.assertEqual(default_chunk_count(module(0, 5, "g", "serial"), 4), 1)  # nothing unmarked

    def test_build_without_a_chunk_count_takes_the_default_for_the_cpus(self):
        m = build(suite(), lambda: ["batch"], "chunks", None, "/w", prefix="p.")
        self.assertIn("p.chunk1", m["groups"])

    def test_unknown_group_by(self):
        with self.assertRaises(ValueError):
            self.make("suite")


class NamesTest(unittest.TestCase):
    def test_valid_unique_names(self):
        names = Names()
        self.assertEqual(names("suite", "db"), "db")
        self.assertEqual(names("suite", "db"), "db")
        self.assertEqual(names("unmarked", "db"), "db-2")
        odd = names("suite", "my group/ü")
        self.assertRegex(odd, r"^[A-Za-z0-9._-]{1,128}$")
        self.assertRegex(names("suite", "x" * 300), r"^[A-Za-z0-9._-]{1,128}$")
        self.assertNotIn(names("suite", ".."), ("..", "."))


if __name__ == "__main__":
    unittest.main()
