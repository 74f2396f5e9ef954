"""`mpexec import pytest` and `mpexec import unittest`: the manifests they write."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from support import MPEXEC, NOSE2, PYTHON, copy_suite, env, run


@unittest.skipUnless(os.access(MPEXEC, os.X_OK), "no mpexec at {} (set MPEXEC_BIN)".format(MPEXEC))
class ImportTest(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="mpexec-import-")
        self.addCleanup(shutil.rmtree, self.work)

    def imported(self, kind, cwd, *args):
        proc = run([MPEXEC, "import", kind, "--python", PYTHON, *args], cwd)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return json.loads(proc.stdout), proc.stderr

    def test_pytest_mp_readme_groups(self):
        suite = copy_suite("pytest_mp_readme", self.work)
        m, _ = self.imported("pytest", suite, "--group-by", "module")
        tests = {t["name"].split("::", 1)[1]: t for t in m["tests"]}
        groups = m["groups"]
        self.assertEqual(groups["SomeOtherGroupName"]["strategy"], "isolated_serial")
        self.assertEqual(groups["Ordered"]["strategy"], "serial")
        self.assertEqual(groups["Quiet"]["strategy"], "isolated_free")
        self.assertEqual(groups["SomeGroupName"]["strategy"], "free")
        self.assertEqual(groups["SomeAdditionalGroupName"]["strategy"], "free")
        batch = groups["Ordered"]["batch"]["cmd"]
        self.assertEqual(batch[:3], [PYTHON, "-m", "pytest"])
        self.assertIn("--mpexec-batch", batch)
        self.assertNotIn("cmd", tests["test_four"])
        self.assertEqual(tests["test_five"]["group"], "SomeOtherGroupName")
        self.assertEqual(groups["SomeGroupName"]["batch"], groups["Ordered"]["batch"])  # a free group's too
        self.assertEqual([t for t in tests.values() if "cmd" in t], [])
        self.assertEqual(tests["test_unmarked"]["group"], "pytest.test_readme.py")
        self.assertEqual(m["defaults"]["cwd"], os.path.realpath(suite))
        # mpexec from a build tree puts its own source tree's package first.
        first = m["defaults"]["env"]["PYTHONPATH"].split(":")[0]
        self.assertTrue(os.path.isfile(os.path.join(first, "mpexec", "__init__.py")), first)
        names = [t["name"] for t in m["tests"]]
        self.assertEqual(names.index("test_readme.py::test_four") + 1, names.index("test_readme.py::test_five"))

    def test_pytest_arguments_pass_through(self):
        suite = copy_suite("pytest_mp_readme", self.work)
        m, _ = self.imported("pytest", suite, "--group-by", "test", "--", "-k", "test_three or test_unmarked")
        self.assertEqual(sorted(t["name"] for t in m["tests"]),
                         ["test_readme.py::test_three", "test_readme.py::test_unmarked"])
        self.assertEqual(m["groups"][m["tests"][0]["group"]]["batch"]["cmd"][-2:], ["-k", "test_three or test_unmarked"])

    @unittest.skipUnless(subprocess.run([PYTHON, "-c", "import xdist"], stderr=subprocess.DEVNULL).returncode == 0,
                         "pytest-xdist is not installed (packaging/install-deps.sh installs python3-pytest-xdist)")
    def test_a_units_pytest_keeps_installed_plugins_but_not_xdist_looponfail(self):
        # The suite may use what an installed plugin gives (xdist's worker_id fixture); looponfail's -f has
        # no meaning in a unit, and its module imports execnet, so the commands block it.
        with open(os.path.join(self.work, "test_p.py"), "w") as f:
            f.write("import sys\n"
                    "def test_p(worker_id, pytestconfig):\n"
                    "    pm = pytestconfig.pluginmanager\n"
                    "    assert worker_id == 'master'\n"
                    "    assert pm.has_plugin('xdist') and not pm.has_plugin('xdist.looponfail')\n"
                    "    assert 'execnet' not in sys.modules\n")
        m, _ = self.imported("pytest", self.work)
        cmd = m["groups"][m["tests"][0]["group"]]["batch"]["cmd"]
        ids = os.path.join(self.work, "ids")
        with open(ids, "w") as f:
            f.write("test_p.py::test_p\n")
        proc = run(cmd, self.work, MPEXEC_BATCH_IDS_FILE=ids)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("1 passed", proc.stdout)

    def test_a_module_that_does_not_import_stays_as_a_test(self):
        with open(os.path.join(self.work, "test_broken.py"), "w") as f:
            f.write("import no_such_module\n")
        with open(os.path.join(self.work, "test_ok.py"), "w") as f:
            f.write("def test_ok():\n    pass\n")
        m, err = self.imported("pytest", self.work)
        self.assertEqual(sorted(t["name"] for t in m["tests"]), ["test_broken.py", "test_ok.py::test_ok"])
        self.assertIn("cannot collect test_broken.py", err)

    def test_no_tests_is_one_test_that_says_so(self):
        m, err = self.imported("pytest", self.work)
        self.assertEqual([t["name"] for t in m["tests"]], ["<collection>"])
        self.assertIn("no tests collected", err)

    def test_conflicting_strategies_are_a_usage_error(self):
        with open(os.path.join(self.work, "test_conflict.py"), "w") as f:
            f.write("import pytest\n"
                    "@pytest.mark.mp_group('G', 'serial')\ndef test_a(): pass\n"
                    "@pytest.mark.mp_group('G', 'isolated_free')\ndef test_b(): pass\n")
        proc = run([MPEXEC, "import", "pytest", "--python", PYTHON], self.work)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("already has strategy 'serial'", proc.stderr)
        self.assertEqual(proc.stdout, "")

    def test_an_interpreter_without_pytest_is_named(self):
        proc = run([MPEXEC, "import", "pytest", "--python", "/nonexistent/python3"], self.work)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("/nonexistent/python3", proc.stderr)

    def test_unittest_fixtures_make_batch_groups(self):
        suite = copy_suite("unittest_state", self.work)
        m, _ = self.imported("unittest", suite, "--group-by", "test", ".")
        groups = {t["name"]: t.get("group") for t in m["tests"]}
        self.assertEqual(groups["test_class_state.Counter.test_1_first"], "test_class_state.Counter")
        self.assertEqual(groups["test_module_state.First.test_a"], "test_module_state")
        self.assertEqual(groups["test_module_state.Second.test_b"], "test_module_state")
        self.assertEqual(groups["test_class_state.Independent.test_plain"], "unittest.ungrouped")
        self.assertEqual(m["groups"]["unittest.ungrouped"]["strategy"], "free")
        self.assertEqual(m["groups"]["test_class_state.Counter"]["strategy"], "serial")
        self.assertIn("mpexec.unittest_batch", m["groups"]["test_module_state"]["batch"]["cmd"])

    def test_unittest_function_tests_are_named_not_dropped_silently(self):
        with open(os.path.join(self.work, "test_funcs.py"), "w") as f:
            f.write("import unittest\ndef test_function(): pass\n"
                    "class T(unittest.TestCase):\n    def test_m(self): pass\n")
        m, err = self.imported("unittest", self.work, "--loader", "unittest", ".")
        self.assertEqual([t["name"] for t in m["tests"]], ["test_funcs.T.test_m"])
        self.assertIn("test_funcs.test_function is not a unittest.TestCase test", err)

    @unittest.skipUnless(NOSE2, "nose2 is not installed (packaging/install-deps.sh installs python3-nose2)")
    def test_nose2_suite_is_collected_by_nose2(self):
        suite = copy_suite("nose2_mp", self.work)
        m, _ = self.imported("unittest", suite, ".")
        groups = {t["name"]: t.get("group") for t in m["tests"]}
        self.assertEqual(groups["test_nose2_kinds.test_params:2"], "nose2.chunk1")
        self.assertEqual(groups["test_nose2_kinds.test_generator:3"], "nose2.chunk1")
        self.assertEqual(groups["test_nose2_kinds.WithState.test_b"], "test_nose2_kinds.WithState")
        self.assertEqual(groups["test_nose2_kinds.TestPlain.test_ready"], "test_nose2_kinds.TestPlain")
        self.assertEqual(groups["test_module_fixture.test_again"], "test_module_fixture")
        self.assertEqual(len(groups), 12)
        self.assertIn("mpexec.nose2_batch", m["groups"]["test_module_fixture"]["batch"]["cmd"])
        forced, _ = self.imported("unittest", suite, "--loader", "unittest", ".")
        self.assertEqual(sorted(t["name"] for t in forced["tests"]),
                         ["test_nose2_kinds.WithState.test_a", "test_nose2_kinds.WithState.test_b",
                          "test_nose2_kinds.WithState.test_skipped"])

    def interrupted_import(self, kind, *args):
        """Ctrl-C while the import runs a module's code: what mpexec prints and its exit status."""
        ready = os.path.join(self.work, "importing")
        with open(os.path.join(self.work, "test_slow_import.py"), "w") as f:
            f.write("import time, unittest\nopen({!r}, 'w').close()\ntime.sleep(60)\n"
                    "class T(unittest.TestCase):\n    def test_t(self): pass\n"
                    "def test_f(): pass\n".format(ready))
        with open(os.path.join(self.work, "test_ok.py"), "w") as f:
            f.write("import unittest\nclass T(unittest.TestCase):\n    def test_t(self): pass\n")
        # As a terminal's Ctrl-C reaches the foreground job: SIGINT, which the job does not ignore.
        proc = subprocess.Popen([MPEXEC, "import", kind, "--python", PYTHON, *args], cwd=self.work, env=env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 60
        while not os.path.exists(ready) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        return proc.returncode, out, err

    def test_ctrl_c_in_the_pytest_collection_writes_no_manifest(self):
        code, out, err = self.interrupted_import("pytest")
        self.assertEqual((code, out), (130, ""), err)
        self.assertIn("mpexec import pytest: interrupted", err)
        self.assertNotIn("Traceback", err)

    def test_ctrl_c_in_the_unittest_discovery_writes_no_manifest(self):
        for loader in ("unittest", "nose2") if NOSE2 else ("unittest",):
            code, out, err = self.interrupted_import("unittest", "--loader", loader, ".")
            self.assertEqual((code, out), (130, ""), loader + ": " + err)
            self.assertIn("mpexec import unittest: interrupted", err)
            self.assertNotIn("Traceback", err)
            os.unlink(os.path.join(self.work, "importing"))

    def test_unittest_missing_start_dir(self):
        proc = run([MPEXEC, "import", "unittest", "--python", PYTHON, "nope"], self.work)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("nope", proc.stderr)


if __name__ == "__main__":
    unittest.main()
