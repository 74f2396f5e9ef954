"""`mpexec import pytest|unittest` and then `mpexec`, as a user runs them; the strategies' guarantees are
checked in the JSON report. Needs MPEXEC_BIN (make test sets it) or build/release/mpexec."""

import json
import os
import shutil
import tempfile
import unittest

from support import MPEXEC, NOSE2, PYTHON, copy_suite, run


NEEDS_MPEXEC = unittest.skipUnless(os.access(MPEXEC, os.X_OK), "no mpexec at {} (set MPEXEC_BIN)".format(MPEXEC))


@NEEDS_MPEXEC
class EndToEnd(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="mpexec-e2e-")
        self.addCleanup(shutil.rmtree, self.work)

    def import_and_run(self, kind, suite, *import_args, np=2):
        manifest = os.path.join(self.work, "manifest.json")
        proc = run([MPEXEC, "import", kind, "--python", PYTHON, *import_args], suite)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(manifest, "w") as f:
            f.write(proc.stdout)
        report = os.path.join(self.work, "report.json")
        proc = run([MPEXEC, "--np", str(np), "--json", report, "--state-dir", os.path.join(self.work, "state"),
                    manifest], suite)
        with open(report) as f:
            tests = {t["name"]: t for t in json.load(f)["tests"]}
        return proc, tests

    def test_units_share_the_board_lock_and_trails(self):
        suite = copy_suite("sync_between_units", self.work)
        proc, tests = self.import_and_run("pytest", suite, "--group-by", "test")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual({t["outcome"] for t in tests.values()}, {"PASS"})
        self.assertEqual(len({t["unit"] for t in tests.values()}), 3)

    def test_outcomes_with_one_unit_per_test(self):
        suite = os.path.join(self.work, "free")
        os.mkdir(suite)
        with open(os.path.join(suite, "test_free.py"), "w") as f:
            f.write("import unittest\n"
                    "class Free(unittest.TestCase):\n"
                    "    def test_pass(self): pass\n"
                    "    @unittest.skip('not here')\n    def test_skip(self): pass\n"
                    "    @unittest.expectedFailure\n    def test_xfail(self): self.fail()\n"
                    "    def test_fail(self): self.fail('wrong')\n")
        proc, tests = self.import_and_run("unittest", suite, "--group-by", "test", ".")
        self.assertEqual({n.rsplit(".", 1)[1]: t["outcome"] for n, t in tests.items()},
                         {"test_pass": "PASS", "test_skip": "SKIP", "test_xfail": "PASS", "test_fail": "FAIL"})
        self.assertEqual(proc.returncode, 1)

    def test_pytest_mp_readme(self):
        suite = copy_suite("pytest_mp_readme", self.work)
        proc, tests = self.import_and_run("pytest", suite, np=3)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        outcomes = {name.split("::", 1)[1]: t["outcome"] for name, t in tests.items()}
        self.assertEqual(outcomes.pop("test_skipped"), "SKIP")
        self.assertIn("skipped on purpose", tests["test_readme.py::test_skipped"]["reason"])
        self.assertEqual(tests["test_readme.py::test_expected_failure"].get("note"), "xfail")
        self.assertEqual(set(outcomes.values()), {"PASS"}, outcomes)
        by_name = {name.split("::", 1)[1]: t for name, t in tests.items()}
        # A serial group: one unit, in order.
        for group in (["test_four", "test_five"], ["TestOrdered::test_a", "TestOrdered::test_b"]):
            members = [by_name[n] for n in group]
            self.assertEqual(len({t["unit"] for t in members}), 1, group)
            self.assertLessEqual(members[0]["end_us"], members[1]["start_us"], group)
        self.assertEqual(by_name["test_four"]["strategy"], "isolated_serial")
        # Free tests of one group: a unit each.
        self.assertNotEqual(by_name["TestSomething::test_one"]["unit"], by_name["TestSomething::test_two"]["unit"])
        # Isolated groups overlap nothing of another group.
        for t in tests.values():
            if not t["strategy"].startswith("isolated"):
                continue
            for other in tests.values():
                if other.get("group") != t.get("group"):
                    self.assertTrue(other["end_us"] <= t["start_us"] or other["start_us"] >= t["end_us"],
                                    (t["name"], other["name"]))

    def test_trail_names_and_board_keys_of_any_length(self):
        suite = copy_suite("long_names", self.work)
        proc, tests = self.import_and_run("pytest", suite)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual(len(tests), 3)
        self.assertEqual({t["outcome"] for t in tests.values()}, {"PASS"}, tests)
        self.assertEqual(len({t["unit"] for t in tests.values()}), 3)

    def test_pytest_xdist_in_addopts_does_not_distribute_inside_a_unit(self):
        suite = copy_suite("xdist_addopts", self.work)
        proc, tests = self.import_and_run("pytest", suite)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual(len(tests), 10)
        self.assertEqual({t["outcome"] for t in tests.values()}, {"PASS"}, tests)

    def test_a_trail_started_and_never_finished_is_first_once(self):
        # One slot: each unit starts after the one before it ended, still a consumer as in pytest-mp.
        suite = copy_suite("trail_start_only", self.work)
        proc, tests = self.import_and_run("pytest", suite, np=1)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual(len({t["unit"] for t in tests.values()}), 4)
        self.assertEqual({t["outcome"] for t in tests.values()}, {"PASS"}, tests)

    def test_pytest_cache_options_in_addopts_and_the_cache_fixture(self):
        suite = copy_suite("cache_addopts", self.work)
        for group_by in ("chunks", "test"):
            proc, tests = self.import_and_run("pytest", suite, "--group-by", group_by)
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            self.assertEqual(len(tests), 2)
            self.assertEqual({t["outcome"] for t in tests.values()}, {"PASS"}, tests)
        self.assertFalse(os.path.exists(os.path.join(suite, ".pytest_cache")))  # nothing left in the tree

    def test_pytest_mp_group_info_in_every_unit(self):
        suite = copy_suite("group_info", self.work)
        for group_by in ("chunks", "test"):
            proc, tests = self.import_and_run("pytest", suite, "--group-by", group_by)
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            self.assertEqual(len(tests), 7)
            self.assertEqual({t["outcome"] for t in tests.values()}, {"PASS"})

    def test_outcomes_in_every_strategy_and_grouping(self):
        suite = copy_suite("outcomes", self.work)
        expected = {"test_pass": ("PASS", None, ""), "test_fail": ("FAIL", None, "assert 1 == 2"),
                    "test_skip": ("SKIP", None, "not today"), "test_xfail": ("PASS", "xfail", "known bug"),
                    "test_xpass_strict": ("FAIL", "xpass", "[XPASS(strict)] fixed?"),
                    "test_setup_error": ("ERROR", None, "error in setup: RuntimeError: fixture exploded")}
        for group_by in ("test", "chunks"):
            proc, tests = self.import_and_run("pytest", suite, "--group-by", group_by)
            self.assertEqual(proc.returncode, 1)
            self.assertEqual(len(tests), 18)
            for name, t in tests.items():
                got = (t["outcome"], t.get("note"), t.get("reason"))
                self.assertEqual(got, expected[name.rsplit("::", 1)[1]], (group_by, name))

    def test_unittest_state(self):
        suite = copy_suite("unittest_state", self.work)
        proc, tests = self.import_and_run("unittest", suite, ".")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual(tests["test_class_state.Independent.test_skipped"]["outcome"], "SKIP")
        counter = [tests["test_class_state.Counter.test_1_first"], tests["test_class_state.Counter.test_2_second"]]
        self.assertEqual(counter[0]["unit"], counter[1]["unit"])
        self.assertEqual({t["outcome"] for n, t in tests.items() if "skipped" not in n}, {"PASS"})

    def test_unittest_load_tests_with_parameters(self):
        suite = copy_suite("unittest_load_tests", self.work)
        runs = [("unittest", "chunks"), ("unittest", "test")] + ([("nose2", "chunks")] if NOSE2 else [])
        for loader, group_by in runs:
            proc, tests = self.import_and_run("unittest", suite, "--loader", loader, "--group-by", group_by)
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            self.assertEqual(sorted(tests), ["test_params.Plain.test_plain"] + [
                "test_params.Port.test_port_is_valid#{}".format(n) for n in (1, 2, 3)])
            self.assertEqual({t["outcome"] for t in tests.values()}, {"PASS"}, tests)

    @unittest.skipUnless(NOSE2, "nose2 is not installed (packaging/install-deps.sh installs python3-nose2)")
    def test_nose2_suite(self):
        suite = copy_suite("nose2_mp", self.work)
        proc, tests = self.import_and_run("unittest", suite, ".")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual(len(tests), 12)
        self.assertEqual({t["outcome"] for n, t in tests.items() if "skipped" not in n}, {"PASS"})
        state = [tests["test_nose2_kinds.WithState.test_a"], tests["test_nose2_kinds.WithState.test_b"]]
        self.assertEqual(state[0]["unit"], state[1]["unit"])

    @unittest.skipUnless(NOSE2, "nose2 is not installed (packaging/install-deps.sh installs python3-nose2)")
    def test_nose2_suite_found_through_its_configuration(self):
        # No START_DIR: nose2's start-dir, code-directories and always-on plugins, as `nose2 -N 2` reads them.
        suite = copy_suite("nose2_config", self.work)
        proc, tests = self.import_and_run("unittest", suite)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual(sorted(tests), ["test_calc.TestCalc.test_add", "test_calc.TestCalc.test_add_negative",
                                         "test_calc.test_function", "test_calc.test_generator:1",
                                         "test_calc.test_generator:2"])
        self.assertEqual({t["outcome"] for t in tests.values()}, {"PASS"}, tests)
        # nose2's JUnit XML plugin writes its file neither at the import nor in the (read-only) units.
        self.assertFalse(os.path.exists(os.path.join(suite, "nose2-junit.xml")))

    @unittest.skipUnless(NOSE2, "nose2 is not installed (packaging/install-deps.sh installs python3-nose2)")
    def test_nose2_such_specs_on_layers(self):
        suite = copy_suite("nose2_such", self.work)
        for group_by in ("chunks", "test"):
            proc, tests = self.import_and_run("unittest", suite, "--group-by", group_by)
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            self.assertEqual(sorted(tests), [
                "test_calculator.A calculator.test 0000: should add",
                "test_calculator.having a negative number.test 0000: should subtract, after adding",
                "test_calculator.test_plain"])
            self.assertEqual({t["outcome"] for t in tests.values()}, {"PASS"}, tests)
            such = [t for n, t in tests.items() if "0000" in n]
            self.assertEqual(such[0]["unit"], such[1]["unit"])  # the layers' setup runs once, in one process

    @unittest.skipUnless(NOSE2, "nose2 is not installed (packaging/install-deps.sh installs python3-nose2)")
    def test_nose2_parameters_and_generators_in_a_testcase_choose_nose2(self):
        suite = copy_suite("nose2_in_testcase", self.work)
        proc, tests = self.import_and_run("unittest", suite)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual(sorted(tests), ["test_methods.Ports.test_port:1", "test_methods.Ports.test_port:2",
                                         "test_methods.Ports.test_sequence:1", "test_methods.Ports.test_sequence:2",
                                         "test_methods.Ports.test_sequence:3"])
        self.assertEqual({t["outcome"] for t in tests.values()}, {"PASS"}, tests)

    def test_no_tests_collected_is_an_error_with_the_reason_in_every_grouping(self):
        empty = os.path.join(self.work, "empty")
        os.mkdir(empty)
        proc, tests = self.import_and_run("pytest", empty)
        self.assertEqual([(t["outcome"], t.get("reason")) for t in tests.values()],
                         [("ERROR", "no tests collected (pytest)")])
        self.assertEqual(proc.returncode, 1)
        with open(os.path.join(empty, "test_one.py"), "w") as f:
            f.write("def test_one():\n    pass\n")
        proc, tests = self.import_and_run("pytest", empty, "--group-by", "test", "-k", "no_such_test")
        self.assertEqual([(t["outcome"], t.get("reason")) for t in tests.values()],
                         [("ERROR", "no tests collected (pytest -k no_such_test)")])
        self.assertEqual(proc.returncode, 1)

    def test_a_module_that_does_not_import_is_an_error_in_every_grouping(self):
        with open(os.path.join(self.work, "test_broken.py"), "w") as f:
            f.write("import unittest\nimport no_such_module\n")
        with open(os.path.join(self.work, "test_ok.py"), "w") as f:
            f.write("import unittest\nclass T(unittest.TestCase):\n    def test_ok(self): pass\n")
        for kind, extra, broken in (("pytest", [], "test_broken.py"), ("unittest", ["."], "test_broken")):
            for group_by in ("test", "chunks"):
                proc, tests = self.import_and_run(kind, self.work, "--group-by", group_by, *extra)
                self.assertEqual(tests[broken]["outcome"], "ERROR", (kind, group_by, tests[broken]))
                self.assertIn("no_such_module", tests[broken]["reason"], (kind, group_by))
                self.assertEqual({t["outcome"] for n, t in tests.items() if n != broken}, {"PASS"})


if __name__ == "__main__":
    unittest.main()
