"""The preloaded interpreter (docs/sandbox.md, "Preloaded interpreters"): a spawner of units that has
already imported pytest and the plugin, so that a unit's `PY -m pytest ...` is a fork of it instead of a
new interpreter. Started by mpexec only, with mpexec's privileges, after mpexec's bootstrap (executor/
preload.cc) checked every directory it imports from; standard library only.

main() imports pytest, its built-in plugins and this package's plugin (nothing of the project: the cwd is
not on sys.path and no conftest or test module is read), then hands the process to the spawner's loop in
libmpexec-spawner.so. Every unit's command process then calls run() in its own sandbox, every restriction
already applied, where an execve would come.
"""

import ctypes
import errno
import gc
import importlib.machinery
import os
import sys
import threading

# Imported by a pytest session after its start, whatever the project (_preload).
_SESSION_IMPORTS = ("runpy", "faulthandler", "pdb", "email.parser", "_pytest._argcomplete", "_pytest.config.compat")
# Handled by run() in each command's process (the others are the preloaded interpreter's own environment,
# the same for every unit it serves: mpexec starts one interpreter per distinct set).
_RUNTIME_VARS = (
    "PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONPYCACHEPREFIX", "PYTHONBREAKPOINT",
    "PYTHONASYNCIODEBUG", "PYTHONSTARTUP", "PYTHONUSERBASE", "PYTHONNOUSERSITE", "PYTHONSAFEPATH",
)
_LOCALE_VARS = ("LANG", "LC_ALL", "LC_CTYPE")
_EXEC_INSTEAD = -1
_MADV_POPULATE_WRITE = 23  # Linux 5.14
_LIMIT_FOR_COPY = 4  # _own_memory

_start_env = {}    # the interpreter's own PYTHON* and locale variables
_base_path = []    # sys.path without the package directory mpexec added
_origins = {}      # top-level module -> where the preloaded one came from
_executable = ""
_callback = None   # kept alive for the C side
_private = []      # (start, length): the interpreter's writable private memory when it started serving
_madvise = None


def _startup_vars(env):
    return {k: v for k, v in env.items()
            if v and ((k.startswith("PYTHON") and k not in _RUNTIME_VARS) or k in _LOCALE_VARS)}


def _where(module):
    spec = getattr(module, "__spec__", None)
    if spec is None or not spec.has_location:  # built-in, frozen, made up
        return None
    if spec.submodule_search_locations is not None:
        return tuple(spec.submodule_search_locations)
    return spec.origin


def _strings(array):
    out = []
    i = 0
    while array[i] is not None:
        out.append(os.fsdecode(array[i]))
        i += 1
    return out


def _unit_path(env, cwd):
    """sys.path as `PY -m pytest` would start with it in this environment."""
    first = [] if env.get("PYTHONSAFEPATH") else [cwd]
    extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    return first + extra + _base_path


def _user_site(env):
    if env.get("PYTHONNOUSERSITE"):
        return None
    base = env.get("PYTHONUSERBASE") or os.path.join(env.get("HOME", "/"), ".local")
    return os.path.join(base, "lib", "python%d.%d" % sys.version_info[:2], "site-packages")


def _plan(argv, env):
    """The unit's sys.path when this interpreter can run the command as the command's own interpreter would,
    else None (the command is exec'd)."""
    if len(argv) < 3 or argv[1:3] != ["-m", "pytest"]:
        return None
    if os.path.realpath(argv[0]) != os.path.realpath(_executable):
        return None
    if _startup_vars(env) != _start_env:
        return None
    user_site = _user_site(env)
    if user_site and os.path.isdir(user_site):
        return None  # a fresh interpreter would import from it; this one was started without it
    path = _unit_path(env, os.getcwd())
    # What the unit's path would import must be what was preloaded (a PYTHONPATH with another pytest or
    # another copy of this package: exec, so that the unit gets its own).
    for name, where in _origins.items():
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None:
            return None
        found = spec.origin if spec.submodule_search_locations is None else tuple(spec.submodule_search_locations)
        if found != where:
            return None
    return path


def _exit_status(code):
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        print(code, file=sys.stderr)
    except Exception:
        pass
    return 1


def _enter(argv, env, path):
    """Runs `PY -m pytest ...` in this process, as a new interpreter would; returns its exit status."""
    import atexit
    import runpy
    import signal
    import types

    os.environ.clear()
    os.environ.update(env)
    sys.path[:] = path
    sys.path_importer_cache.clear()
    importlib.invalidate_caches()
    sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
    sys.pycache_prefix = env.get("PYTHONPYCACHEPREFIX") or None
    if env.get("PYTHONUNBUFFERED"):
        for stream in (sys.stdout, sys.stderr):
            stream.reconfigure(write_through=True)
    # What a new interpreter installs (the init reset caught signals to their default, as an exec does).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    sys.orig_argv = list(argv)
    sys.argv = ["-m"] + argv[3:]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        runpy._run_module_as_main("pytest")
        status = 0
    except SystemExit as e:
        status = _exit_status(e.code)
    except BaseException:
        sys.excepthook(*sys.exc_info())
        status = 1
    # What Py_Finalize does that a test may see: threads joined, atexit handlers run, streams flushed.
    try:
        threading._shutdown()
    except BaseException:
        pass
    try:
        atexit._run_exitfuncs()
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    return status


def _writable_private():
    """The writable private mappings of this process (/proc/self/maps) but its stack: the heap, the
    anonymous ones (the interpreter's objects), and the libraries' data."""
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            name = fields[5] if len(fields) > 5 else ""
            if fields[1][:2] != "rw" or fields[1][3] != "p" or name.startswith("[stack") or name.startswith("[v"):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            out.append((start, end - start))
    return out


def _memory_limit():
    """The memory limit of this process's cgroup (v1 or v2, as the unit's cgroup namespace shows it), or
    None."""
    limits = []
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        _, controllers, path = fields
        if controllers == "":
            where = "/sys/fs/cgroup" + path.rstrip("/") + "/memory.max"
        elif "memory" in controllers.split(","):
            where = "/sys/fs/cgroup/memory" + path.rstrip("/") + "/memory.limit_in_bytes"
        else:
            continue
        try:
            with open(where) as f:
                value = f.read().strip()
        except OSError:
            continue
        if value.isdigit():
            limits.append(int(value))
    return min(limits) if limits else None


def _own_memory():
    """Copies the interpreter's memory into this process at once (MADV_POPULATE_WRITE), where the session
    would copy most of it a page at a time: a unit writes to about half of the pages it inherits (a
    reference count on each), and each such first write is a copy-on-write fault, which costs more than
    the page copy here (docs/python.md, "What a unit costs"). Not under a memory limit of less than
    _LIMIT_FOR_COPY times what it copies: the copy is charged to the unit's cgroup at once, where the
    session would have written only about half of it. Best effort: a kernel before 5.14 refuses the
    advice (EINVAL), and the session faults as before."""
    limit = _memory_limit()
    if limit is not None and limit < _LIMIT_FOR_COPY * sum(length for _, length in _private):
        return
    for start, length in _private:
        if _madvise(start, length, _MADV_POPULATE_WRITE) != 0 and ctypes.get_errno() == errno.EINVAL:
            return


def run(argv_p, envp_p, commit_fd):
    """The command's process (sandbox/init.h, PreloadedRun): runs the command and returns its exit status,
    or _EXEC_INSTEAD before anything of it ran."""
    try:
        _own_memory()
        # A new process for the interpreter: its locks and threads, the at-fork hooks (random reseeds).
        ctypes.pythonapi.PyOS_AfterFork_Child()
        argv = _strings(argv_p)
        env = dict(kv.split("=", 1) for kv in _strings(envp_p) if "=" in kv)
        path = _plan(argv, env)
    except BaseException:
        return _EXEC_INSTEAD
    if path is None:
        return _EXEC_INSTEAD
    try:
        os.close(commit_fd)  # the command runs: what an exec would tell the init
        return _enter(argv, env, path)
    except BaseException:
        try:
            sys.excepthook(*sys.exc_info())
        except BaseException:
            pass
        return 1


def _preload():
    import importlib.metadata  # pytest reads the installed plugins' entry points at every start
    import pytest
    from _pytest.config import default_plugins
    for name in default_plugins:
        try:
            __import__("_pytest." + name)
        except Exception:
            pass
    # What a session imports after its start, whatever the project: `-m` (runpy), pytest_configure of the
    # faulthandler and debugging plugins (pdb, with cmd, code and codeop), the argument parser's
    # completion, the header's versions of the installed plugins (email.parser). A project module that
    # shadows one (a code.py in the rootdir, which pdb would import) makes the unit exec its command
    # (_plan), as for any module imported here.
    for name in _SESSION_IMPORTS:
        try:
            __import__(name)
        except Exception:
            pass
    import mpexec.pytest_plugin  # noqa: F401
    del importlib


def _gate(path, parent):
    """For mpexec's tests alone (MPEXEC_TEST_PRELOAD_GATE): a slow start, over once `path` exists."""
    import time
    while path and not os.path.exists(path):
        if os.getppid() != parent:
            sys.exit(0)
        time.sleep(0.01)


def main(argv):
    """argv: LIBRARY PACKAGE_DIR PARENT_PID MAKE_AHEAD (PACKAGE_DIR empty when the package is installed)."""
    global _callback, _executable
    library, package_dir, parent, make_ahead = argv
    os.chdir("/")
    _gate(os.environ.pop("MPEXEC_TEST_PRELOAD_GATE", ""), int(parent))
    _start_env.update(_startup_vars(os.environ))
    # What a new interpreter has imported before sys.path has the cwd; not this package, which the bootstrap
    # imported from PACKAGE_DIR and a unit's path may find elsewhere, or not at all (a tree under /tmp).
    at_start = {name for name in sys.modules if name != "mpexec" and not name.startswith("mpexec.")}
    _preload()
    _base_path[:] = [p for p in sys.path if p != package_dir]
    for name, module in list(sys.modules.items()):
        where = _where(module)
        if "." in name or name in at_start or where is None or module.__spec__.name != name:
            continue
        _origins[name] = where
    _executable = sys.executable
    if threading.active_count() != 1 or len(os.listdir("/proc/self/task")) != 1:
        sys.exit("mpexec: the preloaded interpreter started a thread; it serves no unit")
    sys.stdout.flush()
    sys.stderr.flush()
    lib = ctypes.CDLL(library)
    prototype = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p),
                                 ctypes.c_int)
    _callback = prototype(run)
    serve = lib.mpexec_spawner_serve
    serve.argtypes = [ctypes.c_int, ctypes.c_long, ctypes.c_int, prototype]
    serve.restype = ctypes.c_int
    libc = ctypes.CDLL(None, use_errno=True)
    global _madvise
    _madvise = libc.madvise
    _madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    _madvise.restype = ctypes.c_int
    gc.collect()
    gc.freeze()  # fewer copy-on-write faults in every unit
    _private[:] = _writable_private()
    sys.exit(serve(3, int(parent), int(make_ahead), _callback))
