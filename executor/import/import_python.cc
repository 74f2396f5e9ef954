#include "executor/import/import_python.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string_view>

#include <fmt/format.h>

namespace mpexec {

namespace fs = std::filesystem;

namespace {

// Finds an executable in PATH, as execvp would.
std::optional<std::string> inPath(const std::string& name) {
  const char* path = getenv("PATH");
  std::string_view dirs = path ? path : "/usr/bin:/bin";
  while (true) {
    std::size_t colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0 && !fs::is_directory(candidate)) return candidate;
    if (colon == std::string_view::npos) return std::nullopt;
    dirs.remove_prefix(colon + 1);
  }
}

// The interpreter of a `#!` script: `#!/usr/bin/python3` or `#!/usr/bin/env python3`; nothing when the
// first line names no Python.
std::optional<std::string> shebangPython(const std::string& script) {
  std::ifstream in(script);
  std::string line;
  if (!in || !std::getline(in, line) || !line.starts_with("#!")) return std::nullopt;
  std::string_view rest = std::string_view(line).substr(2);
  auto word = [&]() {
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
    std::size_t end = rest.find_first_of(" \t");
    std::string w(rest.substr(0, end));
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
    return w;
  };
  std::string interpreter = word();
  if (fs::path(interpreter).filename() == "env") interpreter = word();
  if (fs::path(interpreter).filename().string().find("python") == std::string::npos) return std::nullopt;
  if (interpreter.find('/') == std::string::npos) return inPath(interpreter);
  return interpreter;
}

constexpr std::string_view kBootstrap =
    "import sys\n"
    "try:\n"
    "    import mpexec\n"
    "except ImportError as e:\n"
    "    sys.exit('mpexec import {0}: %s cannot import the mpexec Python package (%s); install it (make "
    "install, or the Debian package) or add its directory to PYTHONPATH' % (sys.executable, e))\n"
    "from mpexec import {1} as m\n"
    "sys.argv[0] = 'mpexec import {0}'\n"
    "sys.exit(m.main())\n";

int run(int argc, char** argv, bool pytest) {
  const char* tool = pytest ? "pytest" : "unittest";
  std::optional<std::string> python;
  int i = 1;
  for (; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--python" || a == "--python=") {
      if (a == "--python" && i + 1 < argc) {
        python = argv[++i];
        continue;
      }
      fmt::print(stderr, "mpexec import {}: --python needs an interpreter\n", tool);
      return 2;
    }
    if (a.starts_with("--python=")) {
      python = std::string(a.substr(9));
      continue;
    }
    break;
  }
  std::string interpreter = choosePython(python, pytest);
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (auto dir = sourceTreePackageDir(ec ? std::string() : exe.string())) {
    const char* old = getenv("PYTHONPATH");
    std::string current = old ? old : "";
    if ((":" + current + ":").find(":" + *dir + ":") == std::string::npos) {
      std::string value = *dir + (current.empty() ? "" : ":" + current);
      setenv("PYTHONPATH", value.c_str(), 1);
    }
  }
  std::string script = fmt::format(fmt::runtime(kBootstrap), tool, pytest ? "import_pytest" : "import_unittest");
  std::vector<char*> args{interpreter.data(), const_cast<char*>("-c"), script.data()};
  for (; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  fflush(stdout);
  execvp(args[0], args.data());
  fmt::print(stderr, "mpexec import {}: cannot run {}: {}{}\n", tool, interpreter, strerror(errno),
             python ? "" : " (choose an interpreter with --python PY)");
  return 2;
}

}  // namespace

std::string choosePython(const std::optional<std::string>& given, bool for_pytest) {
  if (given) return *given;
  if (for_pytest) {
    if (auto script = inPath("pytest"))
      if (auto interpreter = shebangPython(*script)) return *interpreter;
  }
  return inPath("python3").value_or("python3");
}

std::optional<std::string> sourceTreePackageDir(const std::string& exe) {
  if (exe.empty()) return std::nullopt;
  // /proc/self/exe is canonical, so `..` can be taken lexically.
  fs::path dir = fs::path(exe).parent_path();
  for (fs::path candidate : {dir.parent_path() / "python", dir.parent_path().parent_path() / "python"}) {
    std::error_code ec;
    if (fs::is_regular_file(candidate / "mpexec" / "__init__.py", ec)) return candidate.lexically_normal().string();
  }
  return std::nullopt;
}

int importPytestMain(int argc, char** argv) { return run(argc, argv, true); }
int importUnittestMain(int argc, char** argv) { return run(argc, argv, false); }

}  // namespace mpexec
