#pragma once
// The checks a manifest makes of the files it names (DESIGN §2): a program that can run, a directory that
// exists, a bare program name found in the PATH its test will run with. `mpexec import` makes the same
// checks, so that what it writes is a manifest mpexec accepts.

#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace mpexec {

/// Empty when `abs` is an executable regular file, else why not ("X does not exist", "X is not a regular
/// file", "X is not executable"), with X made printable() for a terminal.
std::string executableProblem(const std::string& abs);

/// Empty when `abs` is a directory, else why not ("directory X does not exist", "X is not a directory").
std::string directoryProblem(const std::string& abs);

/// The PATH a bare program name is searched in for a test with environment `env`: its own PATH, else
/// mpexec's, else "/usr/local/bin:/usr/bin:/bin".
std::string searchPathFor(const std::map<std::string, std::string>& env);

/// "DIR/name" for the first DIR of the colon-separated `path_var` (empty entries skipped) where
/// `is_executable` holds; empty when there is none. By default executableProblem() decides.
std::string findInPath(std::string_view name, std::string_view path_var,
                       const std::function<bool(const std::string&)>& is_executable = {});

}  // namespace mpexec
