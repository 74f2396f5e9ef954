"""What the pytest plugin and the unittest runner send through the batch protocol, checked against a
stand-in for mpexec's results endpoints; and the exit codes of a single test's command."""

import json
import os
import shutil
import tempfile
import unittest
import xml.etree.ElementTree as ET

from support import NOSE2, PYTHON, ResultsServer, copy_suite, run

PYTEST_SUITE = '''
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("boom in fixture")

@pytest.fixture
def bad_teardown():
    yield
    raise RuntimeError("boom in teardown")

def test_pass():
    print("said on stdout")

def test_fail():
    assert 1 == 2

def test_skip():
    pytest.skip("not today")

@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert 0

@pytest.mark.xfail(reason="fixed?", strict=True)
def test_xpass_strict():
    pass

@pytest.mark.xfail(reason="maybe")
def test_xpass():
    pass

def test_setup_error(broken):
    pass

def test_teardown_error(bad_teardown):
    pass
'''

EXPECTED = {
    "test_pass": ("pass", ""), "test_fail": ("fail", ""), "test_skip": ("skip", ""),
    "test_xfail": ("pass", "xfail"), "test_xpass_strict": ("fail", "xpass"), "test_xpass": ("pass", "xpass"),
    "test_setup_error": ("error", ""), "test_teardown_error": ("error", ""),
}


class PytestBatchTest(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="mpexec-pytest-")
        with open(os.path.join(self.work, "test_outcomes.py"), "w") as f:
            f.write(PYTEST_SUITE)
        with open(os.path.join(self.work, "test_other.py"), "w") as f:
            f.write("raise ImportError('this module must not be collected')\n")
        self.addCleanup(shutil.rmtree, self.work)

    def batch(self, ids):
        server = ResultsServer(ids)
        self.addCleanup(server.close)
        proc = run([PYTHON, "-m", "pytest", "-p", "mpexec.pytest_plugin", "-p", "no:cacheprovider",
                    "--continue-on-collection-errors", "--mpexec-batch"], self.work, **server.batch_env(ids, self.work))
        return server, proc

    def test_each_outcome_as_its_users_know_it(self):
        ids = ["test_outcomes.py::" + name for name in EXPECTED] + ["test_outcomes.py::test_renamed"]
        server, proc = self.batch(ids)
        self.assertNotIn("must not be collected", proc.stdout + proc.stderr)
        got = {i.split("::")[1]: (b["outcome"], b.get("note", "")) for i, b in server.finished.items()}
        self.assertEqual(got, dict(EXPECTED, test_renamed=("error", "")), proc.stdout)
        f = server.finished
        self.assertEqual(f["test_outcomes.py::test_skip"]["message"], "not today")
        self.assertIn("assert 1 == 2", f["test_outcomes.py::test_fail"]["message"])
        self.assertIn("boom in fixture", f["test_outcomes.py::test_setup_error"]["message"])
        self.assertIn("teardown", f["test_outcomes.py::test_teardown_error"]["message"])
        self.assertIn("said on stdout", f["test_outcomes.py::test_pass"]["output"])
        self.assertIn("did not collect", f["test_outcomes.py::test_renamed"]["message"])
        # Every test that ran was started before it finished, in order.
        order = [(p.rsplit("/", 1)[1], b["id"]) for p, b, _ in server.requests]
        for test_id in ids[:-1]:
            self.assertLess(order.index(("started", test_id)), order.index(("finished", test_id)))
        self.assertTrue(all(auth == "Bearer " + server.token for _, _, auth in server.requests))

    def test_junit_file_carries_the_same_results(self):
        ids = ["test_outcomes.py::test_pass", "test_outcomes.py::test_skip", "test_outcomes.py::test_fail"]
        self.batch(ids)
        cases = {c.get("classname") + "::" + c.get("name"): [x.tag for x in c if x.tag != "system-out"]
                 for c in ET.parse(os.path.join(self.work, "junit.xml")).getroot()}
        self.assertEqual(cases, {ids[0]: [], ids[1]: ["skipped"], ids[2]: ["failure"]})

    def test_a_module_that_does_not_import_is_an_error_of_its_tests(self):
        server, _ = self.batch(["test_other.py::test_x", "test_other.py"])
        self.assertEqual(server.finished["test_other.py::test_x"]["outcome"], "error")
        self.assertIn("must not be collected", server.finished["test_other.py"]["message"])

    def test_single_test_exit_codes(self):
        codes = {}
        for name in ("test_pass", "test_skip", "test_xfail", "test_fail", "test_setup_error", "test_xpass_strict"):
            proc = run([PYTHON, "-m", "pytest", "-p", "mpexec.pytest_plugin", "-p", "no:cacheprovider",
                        "--mpexec-single", "test_outcomes.py::" + name], self.work)
            codes[name] = proc.returncode
            if name == "test_skip":
                self.assertIn("SKIP: not today", proc.stdout)
            if name == "test_xfail":
                self.assertIn("PASS (xfail)", proc.stdout)
        self.assertEqual(codes, {"test_pass": 0, "test_skip": 77, "test_xfail": 0, "test_fail": 1,
                                 "test_setup_error": 1, "test_xpass_strict": 1})


class UnittestBatchTest(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="mpexec-unittest-")
        self.addCleanup(shutil.rmtree, self.work)
        self.suite = copy_suite("unittest_state", self.work)
        with open(os.path.join(self.suite, "test_fixtures_fail.py"), "w") as f:
            f.write("import unittest\n"
                    "class SetupFails(unittest.TestCase):\n"
                    "    @classmethod\n    def setUpClass(cls): raise RuntimeError('no database')\n"
                    "    def test_a(self): pass\n"
                    "class TeardownFails(unittest.TestCase):\n"
                    "    @classmethod\n    def tearDownClass(cls): raise RuntimeError('leaked')\n"
                    "    def test_b(self): pass\n"
                    "class Skipped(unittest.TestCase):\n"
                    "    @classmethod\n    def setUpClass(cls): raise unittest.SkipTest('no GPU')\n"
                    "    def test_c(self): pass\n"
                    "class Unexpected(unittest.TestCase):\n"
                    "    @unittest.expectedFailure\n    def test_d(self): pass\n")

    def batch(self, ids):
        server = ResultsServer(ids)
        self.addCleanup(server.close)
        proc = run([PYTHON, "-m", "mpexec.unittest_batch", "--top", self.suite], self.suite,
                   **server.batch_env(ids, self.work))
        return server, proc

    def test_class_state_is_kept_and_outcomes_reported(self):
        ids = ["test_class_state.Counter.test_1_first", "test_class_state.Counter.test_2_second",
               "test_class_state.Independent.test_skipped", "test_class_state.Independent.test_expected_failure",
               "test_module_state.First.test_a", "test_module_state.Second.test_b"]
        server, proc = self.batch(ids)
        got = {i: (b["outcome"], b.get("note", "")) for i, b in server.finished.items()}
        self.assertEqual(got, {ids[0]: ("pass", ""), ids[1]: ("pass", ""), ids[2]: ("skip", ""),
                               ids[3]: ("pass", "xfail"), ids[4]: ("pass", ""), ids[5]: ("pass", "")}, proc.stderr)
        self.assertEqual(server.finished[ids[2]]["message"], "skipped on purpose")
        self.assertEqual(proc.returncode, 0)

    def test_fixture_errors_are_never_lost(self):
        ids = ["test_fixtures_fail.SetupFails.test_a", "test_fixtures_fail.TeardownFails.test_b",
               "test_fixtures_fail.Skipped.test_c", "test_fixtures_fail.Unexpected.test_d", "test_gone.Missing.test"]
        server, proc = self.batch(ids)
        f = server.finished
        self.assertEqual({i: (b["outcome"], b.get("note", "")) for i, b in f.items()},
                         {ids[0]: ("error", ""), ids[1]: ("error", ""), ids[2]: ("skip", ""),
                          ids[3]: ("fail", "xpass"), ids[4]: ("error", "")})
        self.assertIn("setUpClass", f[ids[0]]["message"])
        self.assertIn("no database", f[ids[0]]["message"])
        self.assertIn("leaked", f[ids[1]]["message"])
        self.assertEqual(f[ids[2]]["message"], "no GPU")
        self.assertIn("No module named 'test_gone'", f[ids[4]]["message"])
        self.assertEqual(proc.returncode, 1)

    def test_single_test_exit_codes(self):
        def code(test_id):
            return run([PYTHON, "-m", "mpexec.unittest_batch", "--top", self.suite, "--single", test_id],
                       self.suite).returncode
        self.assertEqual(code("test_class_state.Independent.test_plain"), 0)
        self.assertEqual(code("test_class_state.Independent.test_skipped"), 77)
        self.assertEqual(code("test_fixtures_fail.SetupFails.test_a"), 1)


@unittest.skipUnless(NOSE2, "nose2 is not installed (packaging/install-deps.sh installs python3-nose2)")
class Nose2BatchTest(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="mpexec-nose2-")
        self.addCleanup(shutil.rmtree, self.work)
        self.suite = copy_suite("nose2_mp", self.work)
        with open(os.path.join(self.suite, "test_outcomes.py"), "w") as f:
            f.write("import unittest\n"
                    "def test_fails():\n    assert 1 == 2\n"
                    "class SetupFails(unittest.TestCase):\n"
                    "    @classmethod\n    def setUpClass(cls): raise RuntimeError('no database')\n"
                    "    def test_a(self): pass\n"
                    "class Expected(unittest.TestCase):\n"
                    "    @unittest.expectedFailure\n    def test_x(self): self.fail()\n"
                    "    @unittest.expectedFailure\n    def test_y(self): pass\n")

    def test_outcomes_and_state(self):
        ids = ["test_nose2_kinds.test_function", "test_nose2_kinds.test_generator:2", "test_nose2_kinds.test_params:1",
               "test_nose2_kinds.WithState.test_a", "test_nose2_kinds.WithState.test_b",
               "test_nose2_kinds.WithState.test_skipped", "test_nose2_kinds.TestPlain.test_ready",
               "test_module_fixture.test_same_process", "test_outcomes.test_fails", "test_outcomes.SetupFails.test_a",
               "test_outcomes.Expected.test_x", "test_outcomes.Expected.test_y", "test_gone.test"]
        server = ResultsServer(ids)
        self.addCleanup(server.close)
        proc = run([PYTHON, "-m", "mpexec.nose2_batch", "-s", self.suite], self.suite,
                   **server.batch_env(ids, self.work))
        got = {i: (b["outcome"], b.get("note", "")) for i, b in server.finished.items()}
        expected = {i: ("pass", "") for i in ids[:5] + ids[6:8]}
        expected.update({ids[5]: ("skip", ""), ids[8]: ("fail", ""), ids[9]: ("error", ""),
                         ids[10]: ("pass", "xfail"), ids[11]: ("fail", "xpass"), ids[12]: ("error", "")})
        self.assertEqual(got, expected, proc.stderr)
        self.assertIn("no database", server.finished[ids[9]]["message"])
        self.assertEqual(proc.returncode, 1)


class PlainRunnersTest(unittest.TestCase):
    """The example suites pass without mpexec: plain pytest (the fixtures in-process) and unittest."""

    def test_pytest_mp_readme_under_plain_pytest(self):
        work = tempfile.mkdtemp(prefix="mpexec-readme-")
        self.addCleanup(shutil.rmtree, work)
        suite = copy_suite("pytest_mp_readme", work)
        proc = run([PYTHON, "-m", "pytest", "-p", "mpexec.pytest_plugin", "-p", "no:cacheprovider", "-q"], suite)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertRegex(proc.stdout, r"12 passed, 1 skipped, 1 xfailed|1[0-9] passed")

    def test_pytest_mp_group_info_under_plain_pytest(self):
        work = tempfile.mkdtemp(prefix="mpexec-info-")
        self.addCleanup(shutil.rmtree, work)
        suite = copy_suite("group_info", work)
        proc = run([PYTHON, "-m", "pytest", "-p", "mpexec.pytest_plugin", "-p", "no:cacheprovider", "-q",
                    "--strict-markers"], suite)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("7 passed", proc.stdout)

    def test_pytest_mp_options_in_a_suites_ini_are_accepted(self):
        work = tempfile.mkdtemp(prefix="mpexec-mpini-")
        self.addCleanup(shutil.rmtree, work)
        with open(os.path.join(work, "pytest.ini"), "w") as f:
            f.write("[pytest]\naddopts = --mp --np 4 --instafail\nmp = true\nnum_processes = 2\n")
        with open(os.path.join(work, "test_a.py"), "w") as f:
            f.write("def test_a(mp_use_mp, mp_num_processes):\n    assert not mp_use_mp and mp_num_processes == 0\n")
        proc = run([PYTHON, "-m", "pytest", "-p", "no:pytest-mp", "-p", "mpexec.pytest_plugin", "-p", "no:cacheprovider",
                    "-W", "error", "-q"], work)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)

    @unittest.skipUnless(NOSE2, "nose2 is not installed (packaging/install-deps.sh installs python3-nose2)")
    def test_nose2_suite_under_nose2(self):
        work = tempfile.mkdtemp(prefix="mpexec-n2-")
        self.addCleanup(shutil.rmtree, work)
        suite = copy_suite("nose2_mp", work)
        proc = run([PYTHON, "-m", "nose2", "-s", "."], suite)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("Ran 12 tests", proc.stderr)

    def test_unittest_state_under_python_m_unittest(self):
        work = tempfile.mkdtemp(prefix="mpexec-ut-")
        self.addCleanup(shutil.rmtree, work)
        suite = copy_suite("unittest_state", work)
        proc = run([PYTHON, "-m", "unittest", "discover", "-s", "."], suite)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("OK (skipped=1, expected failures=1)", proc.stderr)


if __name__ == "__main__":
    unittest.main()
