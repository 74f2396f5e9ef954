"""Batch units forked from a preloaded interpreter (docs/sandbox.md, "Preloaded interpreters"): that they
are, and that each of DESIGN §4's guarantees holds for such a unit as for an exec'd one. The units write
what they see into their output directories; the assertions are here. Needs MPEXEC_BIN, as
test_end_to_end.py."""

import ctypes
import glob
import json
import mmap
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from support import MPEXEC, PYTHON, UNIT_PACKAGE_DIR, run

NEEDS_MPEXEC = unittest.skipUnless(os.access(MPEXEC, os.X_OK), "no mpexec at {} (set MPEXEC_BIN)".format(MPEXEC))
# mpexec run from its build tree preloads the tree's python/mpexec; under /tmp or /run units cannot see it,
# so they exec their command (test_end_to_end covers that). PreloadedFromUntrustedFiles copies a tree elsewhere.
NEEDS_TREE_UNITS_SEE = unittest.skipIf(
    UNIT_PACKAGE_DIR, "the checkout is under /tmp or /run, which units cannot see: its units exec their command")


def _preloaded_interpreters(mpexec_pid):
    """The pids of mpexec's children in mpexec's own pid namespace that run the interpreter: its preloaded
    spawners (the inits are children of mpexec too, each in a pid namespace of its own)."""
    own_ns = os.readlink("/proc/self/ns/pid")
    try:
        with open("/proc/{0}/task/{0}/children".format(mpexec_pid)) as f:
            children = [int(p) for p in f.read().split()]
    except OSError:
        return []
    found = []
    for pid in children:
        try:
            if (os.readlink("/proc/%d/ns/pid" % pid) == own_ns and
                    os.path.realpath("/proc/%d/exe" % pid) == os.path.realpath(PYTHON)):
                found.append(pid)
        except OSError:
            pass
    return found


def _kernel_populates_write():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    buffer = ctypes.create_string_buffer(2 * mmap.PAGESIZE)
    page = -(-ctypes.addressof(buffer) // mmap.PAGESIZE) * mmap.PAGESIZE
    return libc.madvise(page, mmap.PAGESIZE, 23) == 0  # MADV_POPULATE_WRITE


def _processes_with(needle):
    """The pids whose environment holds `needle`."""
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/environ" % name, "rb") as f:
                    if needle.encode() in f.read():
                        pids.append(int(name))
            except OSError:
                pass
    return pids


def _wait_for(predicate, seconds):
    for _ in range(int(seconds * 20)):
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()



# Two units, as mpexec sets one unit up ahead of its slot: the second starts before the interpreter is ready.
WARMUP = """
def warm_up():
    go = os.path.join(os.path.dirname(os.path.abspath(__file__)), "go")
    deadline = time.time() + 120
    while not os.path.exists(go) and time.time() < deadline:
        time.sleep(0.02)


@pytest.mark.mp_group("warmup", "serial")
def test_warmup():
    warm_up()


@pytest.mark.mp_group("warmup2", "serial")
def test_warmup2():
    warm_up()
"""


def _release_when_ready(mpexec, suite):
    """Lets WARMUP's units end once every preloaded interpreter of `mpexec` has loaded libmpexec-spawner.so."""
    def loaded():
        pids = _preloaded_interpreters(mpexec.pid)
        try:
            return pids and all("libmpexec-spawner.so" in open("/proc/%d/maps" % p).read() for p in pids)
        except OSError:
            return False
    _wait_for(loaded, 60)
    time.sleep(0.5)
    open(os.path.join(suite, "go"), "w").close()


def _run_once_ready(argv, suite, **kwargs):
    """Runs mpexec on a suite whose first units are WARMUP's: once every preloaded interpreter has loaded
    libmpexec-spawner.so (it is about to say it is ready), lets them end, so that the units after them
    are forked from one (mpexec does not wait for it). Returns the CompletedProcess."""
    mpexec = subprocess.Popen(argv, cwd=suite, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              **kwargs)
    try:
        _release_when_ready(mpexec, suite)
        out = mpexec.communicate(timeout=300)[0]
    finally:
        if mpexec.poll() is None:
            mpexec.kill()
            mpexec.wait()
    return subprocess.CompletedProcess(argv, mpexec.returncode, out, "")


def _new_suite(test, prefix, files):
    """A work directory removed after TEST, holding suite/ with FILES ({name: text}): (work, suite)."""
    work = tempfile.mkdtemp(prefix=prefix)
    test.addCleanup(shutil.rmtree, work, True)
    suite = os.path.join(work, "suite")
    os.mkdir(suite)
    for name, text in files.items():
        with open(os.path.join(suite, name), "w") as f:
            f.write(text)
    return work, suite


def _import_suite(test, work, suite):
    """Runs `mpexec import pytest` in the directory SUITE and writes the manifest to WORK/manifest.json: its path."""
    proc = run([MPEXEC, "import", "pytest", "--python", PYTHON], suite)
    test.assertEqual(proc.returncode, 0, proc.stderr)
    manifest = os.path.join(work, "manifest.json")
    with open(manifest, "w") as f:
        f.write(proc.stdout)
    return manifest


SUITE = r'''
import ctypes, json, os, random, socket, subprocess, sys, time
import pytest
''' + WARMUP + r'''


def scan(needles):
    """Which of `needles` ((prefix, suffix) pairs) this process's memory holds as prefix+suffix. The pair
    is never joined here, so only memory that held the whole string finds it."""
    found = set()
    mem = os.open("/proc/self/mem", os.O_RDONLY)
    with open("/proc/self/maps") as f:
        maps = f.read().splitlines()
    for line in maps:
        parts = line.split()
        if not parts[1].startswith("r") or (len(parts) > 5 and parts[5].startswith("[v")):
            continue
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        try:
            data = os.pread(mem, hi - lo, lo)
        except OSError:
            continue
        for i, (p, s) in enumerate(needles):
            k = data.find(p)
            while k >= 0:
                if data[k + len(p):k + len(p) + len(s)] == s:
                    found.add(i)
                k = data.find(p, k + 1)
    os.close(mem)
    return sorted(found)


def facts(board=None):
    group = os.environ["MPEXEC_GROUP"]
    f = {"preloaded": "mpexec._preload" in sys.modules, "pid": os.getpid(), "ppid": os.getppid()}
    uid = os.getuid()
    with open("/proc/self/uid_map") as m:
        for line in m:
            inside, outside, count = map(int, line.split())
            if inside <= uid < inside + count:
                f["host_uid"] = outside + uid - inside
    with open("/proc/self/status") as s:
        status = dict(l.split(":", 1) for l in s.read().splitlines() if ":" in l)
    f["seccomp"] = status["Seccomp"].strip()
    with open("/proc/self/smaps_rollup") as s:
        rollup = dict(l.split(":", 1) for l in s.read().splitlines()[1:])
    f["memory_kb"] = {k: int(rollup[k].split()[0]) for k in ("Anonymous", "Private_Dirty", "Shared_Dirty")}
    f["no_new_privs"] = status["NoNewPrivs"].strip()
    libc = ctypes.CDLL(None, use_errno=True)
    f["unshare"] = [libc.unshare(0x00020000), ctypes.get_errno()]  # CLONE_NEWNS
    f["tmp"] = sorted(n for n in os.listdir("/tmp") if n.startswith("zyg-marker-"))
    with open("/tmp/zyg-marker-" + group, "w"):
        pass
    f["random"] = random.random()
    f["hash"] = hash("mpexec preload")
    f["subprocess"] = subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True,
                                     text=True).stdout.strip()
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    f["fork"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if os.environ.get("ZYG_ABSTRACT"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect("\0" + os.environ["ZYG_ABSTRACT"])
            f["abstract"] = "connected"
        except OSError as e:
            f["abstract"] = e.errno
    if board is not None:
        token = os.environ["MPEXEC_SYNC_TOKEN"]
        board["tok1." + group] = token[:len(token) // 2]
        board["tok2." + group] = token[len(token) // 2:]
        other = os.environ["ZYG_OTHER"]
        needles = [(os.environ["ZYG_NEEDLE1"].encode(), os.environ["ZYG_NEEDLE2"].encode())]
        if "tok1." + other in board:
            needles.append((board["tok1." + other].encode(), board["tok2." + other].encode()))
        f["scanned"] = len(needles)
        f["found"] = scan(needles)
    with open(os.path.join(os.environ["MPEXEC_OUTPUT_DIR"], group + ".json"), "w") as out:
        json.dump(f, out)


@pytest.mark.mp_group("alpha", "serial")
def test_alpha(mp_message_board):
    facts(mp_message_board)


@pytest.mark.mp_group("beta", "serial")
def test_beta(mp_message_board):
    facts(mp_message_board)


@pytest.mark.mp_group("hashed", "serial")
def test_hashed():
    facts()


@pytest.mark.mp_group("hostnet", "serial")
def test_hostnet():
    facts()


@pytest.mark.mp_group("exec", "serial")
def test_exec():
    facts()


@pytest.mark.mp_group("limited", "serial")
def test_limited():
    facts()


@pytest.mark.mp_group("crash", "serial")
def test_crash():
    os.abort()


@pytest.mark.mp_group("slow", "serial")
def test_slow():
    time.sleep(60)
'''


@NEEDS_MPEXEC
@NEEDS_TREE_UNITS_SEE
class Preloaded(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="mpexec-preload-")
        suite = os.path.join(cls.work, "suite")
        os.mkdir(suite)
        with open(os.path.join(suite, "test_units.py"), "w") as f:
            f.write(SUITE)
        proc = run([MPEXEC, "import", "pytest", "--python", PYTHON], suite)
        assert proc.returncode == 0, proc.stderr
        m = json.loads(proc.stdout)
        cls.secrets = {g: secrets.token_hex(16) for g in ("alpha", "beta")}
        for g, other in (("alpha", "beta"), ("beta", "alpha")):
            s = cls.secrets[other]
            m["groups"][g]["env"] = {"ZYG_OTHER": other, "ZYG_NEEDLE1": s[:16], "ZYG_NEEDLE2": s[16:]}
        # The secret at the end of a long value: a freed copy keeps its tail (malloc reuses a chunk's head).
        # alpha's environment is much larger than beta's, so that no request of beta's lands on its copies.
        m["groups"]["alpha"]["env"]["ZYG_SECRET"] = "x" * 1000 + cls.secrets["alpha"]
        m["groups"]["beta"]["env"]["ZYG_SECRET"] = "y" * 200 + cls.secrets["beta"]
        cls.seed_hash = subprocess.run([PYTHON, "-c", "print(hash('mpexec preload'))"], capture_output=True,
                                       text=True, env=dict(os.environ, PYTHONHASHSEED="123")).stdout.strip()
        m["groups"]["hashed"]["env"] = {"PYTHONHASHSEED": "123"}
        cls.abstract = "mpexec-preload-test-" + secrets.token_hex(8)
        cls.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        cls.listener.bind("\0" + cls.abstract)
        cls.listener.listen(4)
        m["groups"]["hostnet"]["env"] = {"ZYG_ABSTRACT": cls.abstract}
        m["groups"]["hostnet"]["sandbox"] = {"network": "host"}
        m["groups"]["exec"]["env"] = {"PYTHONINSPECT": "1"}  # a variable that keeps the command exec'd
        m["groups"]["slow"]["timeout"] = 2
        m["groups"]["limited"]["sandbox"] = {"memory": "48M"}
        manifest = os.path.join(cls.work, "manifest.json")
        with open(manifest, "w") as f:
            json.dump(m, f)
        report = os.path.join(cls.work, "report.json")
        state = os.path.join(cls.work, "state")
        # One slot: alpha and beta run one after the other, so the second one's process is cloned after the
        # first one's commands went to its init.
        cls.proc = _run_once_ready([MPEXEC, "-v", "--np", "1", "--json", report, "--state-dir", state, manifest],
                                   suite)
        if "no libmpexec-spawner.so beside mpexec" in cls.proc.stdout:
            cls.tearDownClass()
            raise unittest.SkipTest("no libmpexec-spawner.so beside {} (the sanitizer builds have none)".format(MPEXEC))
        with open(report) as f:
            cls.tests = {t["name"].split("::")[1]: t for t in json.load(f)["tests"]}
        cls.facts = {}
        for path in glob.glob(os.path.join(state, "runs", "*", "out", "*", "*.json")):
            with open(path) as f:
                cls.facts[os.path.basename(path)[:-5]] = json.load(f)

    @classmethod
    def tearDownClass(cls):
        cls.listener.close()
        shutil.rmtree(cls.work, True)

    def fact(self, group, key):
        self.assertIn(group, self.facts, self.proc.stdout + self.proc.stderr)
        return self.facts[group][key]

    def test_the_units_ran_in_the_preloaded_interpreter(self):
        for group in ("alpha", "beta", "hashed", "hostnet"):
            self.assertTrue(self.fact(group, "preloaded"), group)
            self.assertEqual(self.tests["test_" + group]["outcome"], "PASS", self.tests["test_" + group])
        self.assertRegex(self.proc.stdout, r"preloaded interpreter \S+python\S* \(.*\): \d+ units")

    def test_a_command_it_cannot_run_as_its_interpreter_would_is_execd(self):
        self.assertFalse(self.fact("exec", "preloaded"))
        self.assertEqual(self.tests["test_exec"]["outcome"], "PASS", self.tests["test_exec"])
        self.assertIn("exec'd: PYTHONINSPECT is set", self.proc.stdout)

    def test_each_unit_is_contained(self):
        for group in ("alpha", "beta", "hashed", "hostnet", "exec"):
            self.assertNotEqual(self.fact(group, "host_uid"), 0, group)
            self.assertEqual(self.fact(group, "seccomp"), "2", group)
            self.assertEqual(self.fact(group, "no_new_privs"), "1", group)
            self.assertEqual(self.fact(group, "unshare")[0], -1, group)
            self.assertEqual(self.fact(group, "ppid"), 1, group)  # mpexec's init, pid 1 of its own namespace
            self.assertEqual(self.fact(group, "tmp"), [], group)  # no other unit's /tmp
            self.assertEqual(self.fact(group, "subprocess"), "42", group)
            self.assertEqual(self.fact(group, "fork"), 7, group)

    def test_the_memory_a_unit_inherits_is_its_own_from_its_start(self):
        # Copied at once (MADV_POPULATE_WRITE) rather than a copy-on-write fault at a time: by the time
        # the test runs, next to nothing is still shared with the init and the interpreter it was forked from.
        if not _kernel_populates_write():
            self.skipTest("the kernel has no MADV_POPULATE_WRITE (Linux 5.14)")
        for group in ("alpha", "beta"):
            memory = self.fact(group, "memory_kb")
            self.assertLess(memory["Shared_Dirty"], memory["Anonymous"] / 20, (group, memory))

    def test_a_unit_with_a_tight_memory_limit_does_not_copy_what_it_may_never_write(self):
        # The copy is charged to the unit's cgroup: under a limit of less than four times the
        # interpreter's writable memory, pages are copied as the session writes them, as without it.
        self.assertTrue(self.fact("limited", "preloaded"))
        self.assertEqual(self.tests["test_limited"]["outcome"], "PASS", self.tests["test_limited"])
        memory = self.fact("limited", "memory_kb")
        self.assertGreater(memory["Shared_Dirty"], memory["Anonymous"] / 10, memory)

    def test_landlock_keeps_a_unit_with_the_host_network_from_abstract_sockets(self):
        self.assertNotEqual(self.fact("hostnet", "abstract"), "connected")

    def test_no_unit_holds_another_units_token_or_environment(self):
        scans = [self.fact(g, "scanned") for g in ("alpha", "beta")]
        self.assertIn(2, scans, "neither unit saw the other's token on the board")
        self.assertEqual(self.fact("alpha", "found"), [])
        self.assertEqual(self.fact("beta", "found"), [])

    def test_pythonhashseed_is_honoured_and_random_is_reseeded(self):
        self.assertEqual(str(self.fact("hashed", "hash")), self.seed_hash)
        self.assertIn("PYTHONHASHSEED=123", self.proc.stdout)
        values = {self.fact(g, "random") for g in ("alpha", "beta", "hashed", "hostnet")}
        self.assertEqual(len(values), 4)

    def test_a_crash_is_a_crash_and_a_timeout_kills(self):
        crash = self.tests["test_crash"]
        self.assertEqual(crash["outcome"], "CRASH", crash)
        self.assertRegex(json.dumps(crash), "SIGABRT|signal 6|abort")
        self.assertEqual(self.tests["test_slow"]["outcome"], "TIMEOUT", self.tests["test_slow"])


@NEEDS_MPEXEC
@NEEDS_TREE_UNITS_SEE
class PreloadedShadowed(unittest.TestCase):
    def test_a_project_module_named_like_one_the_interpreter_imported_is_the_one_the_unit_gets(self):
        # pdb imports `code`; the preloaded interpreter imported pdb, so its `code` is the standard one. A
        # new interpreter, with the rootdir first on sys.path, gets the project's code.py: so does the unit.
        work, suite = _new_suite(self, "mpexec-preload-shadow-", {
            "code.py": "PROJECT = True\n\nclass InteractiveConsole:\n    pass\n\n"
                       "def interact(*args, **kwargs):\n    pass\n",
            "test_shadow.py": "import os, sys, time\nimport pytest\n" + WARMUP + "\n"
                              "@pytest.mark.mp_group('shadowed', 'serial')\n"
                              "def test_shadowed():\n"
                              "    assert getattr(sys.modules['code'], 'PROJECT', False), sys.modules['code']\n"})
        manifest = _import_suite(self, work, suite)
        report = os.path.join(work, "report.json")
        proc = _run_once_ready([MPEXEC, "-v", "--np", "1", "--json", report, "--state-dir",
                                os.path.join(work, "state"), manifest], suite)
        with open(report) as f:
            tests = {t["name"].split("::")[1]: t for t in json.load(f)["tests"]}
        self.assertEqual(tests["test_shadowed"]["outcome"], "PASS", (tests["test_shadowed"], proc.stdout))
        self.assertRegex(proc.stdout, r"preloaded interpreter \S+python\S* \(.*\): \d+ units", proc.stdout)


@NEEDS_MPEXEC
@NEEDS_TREE_UNITS_SEE
class PreloadedGone(unittest.TestCase):
    def test_units_exec_their_command_once_the_preloaded_interpreter_is_gone(self):
        work, suite = _new_suite(self, "mpexec-preload-gone-", {
            "test_gone.py": "import os, sys, time\nimport pytest\n" + WARMUP + "\n"
                            "@pytest.mark.mp_group('first', 'serial')\n"
                            "def test_first():\n"
                            "    open(os.path.join(os.environ['MPEXEC_OUTPUT_DIR'], 'running'), 'w').close()\n"
                            "    time.sleep(3)\n\n"
                            "@pytest.mark.mp_group('second', 'serial')\n"
                            "def test_second():\n    pass\n\n"
                            "@pytest.mark.mp_group('third', 'serial')\n"
                            "def test_third():\n    assert 'mpexec._preload' not in sys.modules\n"})
        manifest = _import_suite(self, work, suite)
        report = os.path.join(work, "report.json")
        mpexec = subprocess.Popen([MPEXEC, "--np", "1", "--json", report, "--state-dir", os.path.join(work, "state"),
                                   manifest], cwd=suite, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        _release_when_ready(mpexec, suite)
        # Once the first unit runs, the interpreter serving:
        for _ in range(600):
            if glob.glob(os.path.join(work, "state", "runs", "*", "out", "*", "running")):
                break
            time.sleep(0.05)
        killed = False
        for _ in range(200):
            for pid in _preloaded_interpreters(mpexec.pid):
                try:
                    os.kill(pid, 9)
                    killed = True
                except OSError:
                    pass
            if killed:
                break
            time.sleep(0.05)
        out = mpexec.communicate(timeout=120)[0]
        self.assertTrue(killed, "found no preloaded interpreter to kill:\n" + out)
        with open(report) as f:
            tests = {t["name"].split("::")[1]: t["outcome"] for t in json.load(f)["tests"]}
        # The units already cloned go on; one spawned after the kill (one slot, one unit set up ahead: the
        # third at least) execs its command.
        self.assertEqual(tests, {"test_warmup": "PASS", "test_warmup2": "PASS", "test_first": "PASS",
                                 "test_second": "PASS", "test_third": "PASS"}, out)


PLANT = r'''
import os, pytest

@pytest.mark.mp_group("plant", "serial")
def test_plant():
    """Writes into the package directory of the mpexec that runs it (a writable path of the manifest)."""
    init = os.path.join(os.environ["ZYG_PACKAGE"], "mpexec", "__init__.py")
    with open(init, "a") as f:
        f.write("\nimport os as _os\nopen(%r, 'w').write(str(_os.getuid()))\n" % os.environ["ZYG_MARKER"])

@pytest.mark.mp_group("victim", "serial")
def test_victim():
    pass
'''


@NEEDS_MPEXEC
class PreloadedFromUntrustedFiles(unittest.TestCase):
    """The preloaded interpreter runs with mpexec's privileges (root, on the host): it must not start where
    it would import what a unit or another user could have written. A unit of root writes through its
    writable paths as the invoking user, so what it leaves there belongs to root."""

    def own_tree(self):
        """A tree of its own (mpexec from a build tree imports the package beside it), which the test may
        change: build/release/{mpexec,mpexec-spawner,libmpexec-spawner.so,libmpexec-http.so} and python/mpexec.
        Returns (tree, its mpexec, its package directory)."""
        if not os.path.exists(os.path.join(os.path.dirname(os.path.realpath(MPEXEC)), "libmpexec-spawner.so")):
            self.skipTest("no libmpexec-spawner.so beside {}".format(MPEXEC))
        tree = tempfile.mkdtemp(prefix="mpexec-plant-", dir="/var/tmp")
        self.addCleanup(shutil.rmtree, tree, True)
        os.chmod(tree, 0o755)
        release = os.path.join(tree, "build", "release")
        os.makedirs(release)
        bin_dir = os.path.dirname(os.path.realpath(MPEXEC))
        for name in ("mpexec", "mpexec-spawner", "libmpexec-spawner.so", "libmpexec-http.so"):
            if os.path.exists(os.path.join(bin_dir, name)):
                shutil.copy2(os.path.join(bin_dir, name), release)
        package = os.path.join(tree, "python")
        shutil.copytree(os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "python", "mpexec"),
                        os.path.join(package, "mpexec"), ignore=shutil.ignore_patterns("__pycache__"))
        return tree, os.path.join(release, "mpexec"), package

    def one_test_suite(self, tree, mpexec, python):
        """A suite of one serial test in TREE/suite, imported with PYTHON: (suite, manifest)."""
        suite = os.path.join(tree, "suite")
        os.mkdir(suite)
        with open(os.path.join(suite, "test_one.py"), "w") as f:
            f.write("import pytest\n\n@pytest.mark.mp_group('g', 'serial')\ndef test_one():\n    pass\n")
        proc = run([mpexec, "import", "pytest", "--python", python], suite)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        manifest = os.path.join(tree, "manifest.json")
        with open(manifest, "w") as f:
            f.write(proc.stdout)
        return suite, manifest

    def test_a_unit_cannot_plant_code_the_preloaded_interpreter_runs(self):
        tree, mpexec, package = self.own_tree()
        marker = os.path.join(tree, "planted-code-ran")
        suite = os.path.join(tree, "suite")
        os.mkdir(suite)
        with open(os.path.join(suite, "test_plant.py"), "w") as f:
            f.write(PLANT)
        proc = run([mpexec, "import", "pytest", "--python", PYTHON], suite)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        m = json.loads(proc.stdout)
        m["groups"]["plant"]["env"] = {"ZYG_PACKAGE": package, "ZYG_MARKER": marker,
                                       "PYTHONINSPECT": "1"}  # exec'd: it runs before any preloaded spawner
        m["groups"]["plant"]["sandbox"] = {"writable": [package]}
        manifest = os.path.join(tree, "manifest.json")
        with open(manifest, "w") as f:
            json.dump(m, f)
        # Twice: the first run's preloaded interpreter may have started before the unit planted its code.
        for _ in range(2):
            proc = run([mpexec, "-v", "--np", "1", "--state-dir", os.path.join(tree, "state"), manifest], suite)
            self.assertFalse(os.path.exists(marker), "the planted code ran as the host's uid {}:\n{}".format(
                open(marker).read() if os.path.exists(marker) else "?", proc.stdout + proc.stderr))
        with open(os.path.join(package, "mpexec", "__init__.py")) as f:
            self.assertIn(marker, f.read(), "the unit did not plant its code:\n" + proc.stdout + proc.stderr)
        self.assertIn("is a writable path of the run", proc.stderr)

    def test_nothing_beside_the_package_that_another_user_owns_is_imported(self):
        # The package's directory comes first on the interpreter's sys.path: a pytest.py there shadows pytest.
        if os.geteuid() != 0:
            self.skipTest("needs root to give a file to another user")
        tree, mpexec, package = self.own_tree()
        suite, manifest = self.one_test_suite(tree, mpexec, PYTHON)
        marker = os.path.join(tree, "shadow-ran")
        shadow = os.path.join(package, "pytest.py")
        with open(shadow, "w") as f:
            f.write("open(%r, 'w').write(str(__import__('os').getuid()))\nraise ImportError('shadow')\n" % marker)
        os.chown(shadow, 4242, 4242)  # another user's, but writable by no one else
        proc = run([mpexec, "-v", "--np", "1", "--state-dir", os.path.join(tree, "state"), manifest], suite)
        self.assertFalse(os.path.exists(marker), "another user's {} ran as the host's uid {}:\n{}".format(
            shadow, open(marker).read() if os.path.exists(marker) else "?", proc.stdout + proc.stderr))
        self.assertIn(shadow + " belongs to uid 4242", proc.stderr)

    def test_no_venv_configuration_that_another_user_owns_is_read(self):
        # An interpreter reads pyvenv.cfg beside it or one directory up (a venv's bin/..), at its start: where
        # its standard library is (`home`) and whether it sees the system's site-packages.
        if os.geteuid() != 0:
            self.skipTest("needs root to give a file to another user")
        tree, mpexec, package = self.own_tree()
        venv = os.path.join(tree, "venv")
        os.makedirs(os.path.join(venv, "bin"))
        python = os.path.join(venv, "bin", "python3")
        os.symlink(os.path.realpath(PYTHON), python)
        config = os.path.join(venv, "pyvenv.cfg")
        with open(config, "w") as f:
            f.write("home = {}\ninclude-system-site-packages = true\n".format(os.path.dirname(os.path.realpath(PYTHON))))
        os.chown(config, 4242, 4242)  # another user's, but writable by no one else
        suite, manifest = self.one_test_suite(tree, mpexec, python)
        proc = run([mpexec, "-v", "--np", "1", "--state-dir", os.path.join(tree, "state"), manifest], suite)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertNotRegex(proc.stdout, r"(?m)^preloaded interpreter .*: \d+ units", "it read " + config)
        self.assertIn(config + " belongs to uid 4242", proc.stderr, proc.stdout)

    def test_no_pth_file_that_another_user_owns_beside_the_interpreter_is_read(self):
        # An interpreter reads REAL_EXECUTABLE._pth at its start, before any of its code runs: sys.path itself.
        if os.geteuid() != 0:
            self.skipTest("needs root to give a file to another user")
        tree, mpexec, package = self.own_tree()
        os.mkdir(os.path.join(tree, "bin"))
        python = os.path.join(tree, "bin", os.path.basename(os.path.realpath(PYTHON)))
        shutil.copy2(os.path.realpath(PYTHON), python)
        suite, manifest = self.one_test_suite(tree, mpexec, python)
        pth = python + "._pth"
        with open(pth, "w") as f:
            f.write("".join(p + "\n" for p in sys.path if p) + "import site\n")
        os.chown(pth, 4242, 4242)  # another user's, but writable by no one else
        proc = run([mpexec, "-v", "--np", "1", "--state-dir", os.path.join(tree, "state"), manifest], suite)
        self.assertNotRegex(proc.stdout, r"(?m)^preloaded interpreter .*: \d+ units", "it read " + pth)
        self.assertIn(pth + " belongs to uid 4242", proc.stderr, proc.stdout)

@NEEDS_MPEXEC
@NEEDS_TREE_UNITS_SEE
class PreloadedStart(unittest.TestCase):
    """The preloaded interpreter starts with the run; units due before it is ready wait for it, and a signal
    ends that wait. MPEXEC_TEST_PRELOAD_GATE holds its start until a file exists."""

    def suite(self, tests):
        work, suite = _new_suite(self, "mpexec-preload-start-", {
            "test_start.py": "import json, os, sys, time\nimport pytest\n\n"
                             "def facts():\n"
                             "    with open(os.path.join(os.environ['MPEXEC_OUTPUT_DIR'], 'facts.json'), 'w') as f:\n"
                             "        json.dump({'preloaded': 'mpexec._preload' in sys.modules}, f)\n\n" + tests})
        manifest = _import_suite(self, work, suite)
        return work, suite, manifest

    def start(self, work, suite, manifest, gate):
        return subprocess.Popen([MPEXEC, "-v", "--np", "1", "--json", os.path.join(work, "report.json"),
                                 "--state-dir", os.path.join(work, "state"), manifest], cwd=suite,
                                env=dict(os.environ, MPEXEC_TEST_PRELOAD_GATE=gate),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def test_units_due_while_it_starts_wait_for_it_and_are_forked_from_it(self):
        work, suite, manifest = self.suite(
            "".join("@pytest.mark.mp_group('g%d', 'serial')\ndef test_g%d():\n    facts()\n\n" % (i, i)
                    for i in range(4)))
        gate = os.path.join(work, "gate")
        mpexec = self.start(work, suite, manifest, gate)
        self.addCleanup(lambda: mpexec.poll() is None and mpexec.kill())
        held = _wait_for(lambda: [p for p in _processes_with(gate) if p != mpexec.pid], 30)
        time.sleep(1.0)
        facts = os.path.join(work, "state", "runs", "*", "out", "*", "facts.json")
        ran_while_held = glob.glob(facts)
        open(gate, "w").close()
        out = mpexec.communicate(timeout=120)[0]
        self.assertTrue(held, "no preloaded interpreter was starting:\n" + out)
        self.assertEqual(ran_while_held, [], "a unit ran exec'd instead of waiting for the preloaded interpreter")
        self.assertEqual(mpexec.returncode, 0, out)
        with open(os.path.join(work, "report.json")) as f:
            units = {t["name"].split("::")[1]: t["unit"] for t in json.load(f)["tests"]}
        for test, unit in units.items():
            with open(glob.glob(os.path.join(work, "state", "runs", "*", "out", unit, "facts.json"))[0]) as f:
                self.assertTrue(json.load(f)["preloaded"], "%s was exec'd:\n%s" % (test, out))
        self.assertRegex(out, r"preloaded interpreter \S+.*: 4 units\n")

    def test_an_interrupt_while_it_starts_ends_the_run_and_it(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            with self.subTest(signal=sig.name):
                work, suite, manifest = self.suite(
                    "@pytest.mark.mp_group('first', 'serial')\n"
                    "def test_first():\n"
                    "    facts()\n"
                    "    time.sleep(60)\n")
                gate = os.path.join(work, "gate-" + secrets.token_hex(8))  # never made
                mpexec = self.start(work, suite, manifest, gate)
                self.addCleanup(lambda: mpexec.poll() is None and mpexec.kill())
                held = _wait_for(lambda: [p for p in _processes_with(gate) if p != mpexec.pid], 30)
                time.sleep(0.5)  # the first unit is waiting for it by now
                mpexec.send_signal(sig)
                out = mpexec.communicate(timeout=60)[0]
                self.assertTrue(held, "no preloaded interpreter was starting")
                self.assertEqual(mpexec.returncode, 130, out)
                self.assertEqual(_processes_with(gate), [], "left behind:\n" + out)
