#include "sync-service/sync_cli.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sync-service/endpoints.h"
#include "sync-service/strict_json.h"

extern char** environ;

namespace mpexec::sync {
namespace json = boost::json;

namespace {

constexpr int kOk = 0;
constexpr int kRefused = 1;
constexpr int kUsage = 2;
constexpr double kMaxWaitPerRequest = 300;  // the service's cap; longer waits are several requests

constexpr const char* kUsageText =
    "usage: mpexec sync board get KEY [--with-version]\n"
    "       mpexec sync board put KEY JSON [--if-version N | --if-absent]\n"
    "       mpexec sync board del KEY\n"
    "       mpexec sync board wait KEY [--after N] [--timeout S] [--with-version]\n"
    "       mpexec sync board list\n"
    "       mpexec sync lock acquire NAME [--timeout S]\n"
    "       mpexec sync lock release NAME\n"
    "       mpexec sync lock run NAME [--timeout S] -- CMD...\n"
    "       mpexec sync trail start NAME -- CMD...    (CMD sees MPEXEC_TRAIL_FIRST=1|0)\n"
    "       mpexec sync trail finish NAME -- CMD...   (CMD sees MPEXEC_TRAIL_LAST=1|0)\n";

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;
  std::set<std::string> flags;
  std::vector<std::string> command;  ///< after "--"
  bool has_command = false;
};

class Cli {
 public:
  Cli(const Endpoint& endpoint, std::ostream& out, std::ostream& err)
      : client_(endpoint), out_(out), err_(err) {}

  int run(int argc, char** argv);

 private:
  int usage(const std::string& message) {
    err_ << "mpexec sync: " << message << "\n" << kUsageText;
    return kUsage;
  }
  bool parse(int argc, char** argv, int from, const std::set<std::string>& valued,
             const std::set<std::string>& flags, Args* args);
  std::optional<double> seconds(const Args& args, const char* name, bool* bad);
  /// Maps an answer to an exit code, printing the service's error message when there is one.
  int outcome(const ClientResult& r, const std::string& what);
  /// Repeats a waiting request until it is answered with something else than 408 or `timeout` passes
  /// (forever without one). `target` gets "wait=S" appended.
  ClientResult waitLoop(const std::string& method, const std::string& target, const std::string& body,
                        std::optional<double> timeout);
  /// A read (GET), asked again after the Retry-After of a 429 or 503 that says it will pass (the service is
  /// sending large answers: docs/sync.md, "Memory"), for up to a minute.
  ClientResult readRetrying(const std::string& target);
  int runCommand(const std::vector<std::string>& command, const std::string& env_name, bool flag);

  int board(int argc, char** argv);
  int lock(int argc, char** argv);
  int trail(int argc, char** argv);

  SyncClient client_;
  std::ostream& out_;
  std::ostream& err_;
};

bool Cli::parse(int argc, char** argv, int from, const std::set<std::string>& valued,
                const std::set<std::string>& flags, Args* args) {
  for (int i = from; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      args->has_command = true;
      for (++i; i < argc; ++i) args->command.push_back(argv[i]);
      break;
    }
    if (a.size() > 2 && a.substr(0, 2) == "--") {
      std::string name = a.substr(2), value;
      size_t eq = name.find('=');
      bool inline_value = eq != std::string::npos;
      if (inline_value) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      if (flags.count(name) && !inline_value) {
        args->flags.insert(name);
      } else if (valued.count(name)) {
        if (!inline_value) {
          if (i + 1 >= argc) {
            usage("--" + name + " needs a value");
            return false;
          }
          value = argv[++i];
        }
        args->options[name] = value;
      } else {
        usage("unknown option " + a);
        return false;
      }
      continue;
    }
    args->positional.push_back(a);
  }
  return true;
}

std::optional<double> Cli::seconds(const Args& args, const char* name, bool* bad) {
  auto it = args.options.find(name);
  if (it == args.options.end()) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != '\0' || !(v >= 0)) {
    *bad = true;
    return std::nullopt;
  }
  return v;
}

std::string errorMessage(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    if (auto* e = v.as_object().if_contains("error"); e != nullptr && e->is_string())
      return std::string(e->as_string());
  }
  return body;
}

int Cli::outcome(const ClientResult& r, const std::string& what) {
  if (!r.ok()) {
    err_ << "mpexec sync: " << what << ": " << r.error << "\n";
    return kUsage;
  }
  int s = r.response.status;
  if (s == 200) return kOk;
  err_ << "mpexec sync: " << what << ": " << errorMessage(r.response.body) << " (HTTP " << s << ")\n";
  return (s == 404 || s == 408 || s == 409 || s == 429) ? kRefused : kUsage;
}

ClientResult Cli::waitLoop(const std::string& method, const std::string& target, const std::string& body,
                           std::optional<double> timeout) {
  using Clock = std::chrono::steady_clock;
  auto deadline = timeout ? Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                               std::chrono::duration<double>(*timeout))
                          : Clock::time_point::max();
  char sep = target.find('?') == std::string::npos ? '?' : '&';
  while (true) {
    double wait = kMaxWaitPerRequest;
    if (timeout)
      wait = std::max(0.0, std::min(wait, std::chrono::duration<double>(deadline - Clock::now()).count()));
    ClientResult r = client_.request(method, target + sep + "wait=" + std::to_string(wait), body);
    if (!r.ok() || r.response.status != 408 || Clock::now() >= deadline) return r;
  }
}

ClientResult Cli::readRetrying(const std::string& target) {
  constexpr int kMaxRetrySeconds = 60;
  int waited = 0;
  while (true) {
    ClientResult r = client_.request("GET", target);
    int pause = r.ok() ? std::min(r.response.retry_after, 5) : 0;
    if (pause <= 0 || waited >= kMaxRetrySeconds || (r.response.status != 429 && r.response.status != 503)) return r;
    std::this_thread::sleep_for(std::chrono::seconds(pause));
    waited += pause;
  }
}

int Cli::runCommand(const std::vector<std::string>& command, const std::string& env_name, bool flag) {
  // Everything the child needs is built before fork: only async-signal-safe calls may follow it.
  std::vector<std::string> env_strings;
  std::string prefix = env_name + "=";
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (!env_name.empty() && std::strncmp(*e, prefix.c_str(), prefix.size()) == 0) continue;
    env_strings.emplace_back(*e);
  }
  if (!env_name.empty()) env_strings.push_back(prefix + (flag ? "1" : "0"));
  std::vector<char*> envp, argv;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = command;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  std::string exec_failed = "mpexec sync: cannot run " + command[0] + "\n";
  out_.flush();
  std::cout.flush();
  pid_t pid = fork();
  if (pid < 0) {
    err_ << "mpexec sync: fork: " << std::strerror(errno) << "\n";
    return kUsage;
  }
  if (pid == 0) {
    execvpe(argv[0], argv.data(), envp.data());
    ssize_t ignored = write(STDERR_FILENO, exec_failed.data(), exec_failed.size());
    (void)ignored;
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return kUsage;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return kUsage;
}

int Cli::board(int argc, char** argv) {
  Args args;
  if (!parse(argc, argv, 2, {"if-version", "after", "timeout"}, {"if-absent", "with-version"}, &args))
    return kUsage;
  if (args.positional.empty()) return usage("board needs a command");
  const std::string& cmd = args.positional[0];
  if (args.has_command) return usage("board " + cmd + " takes no command after --");
  bool bad = false;
  if (cmd == "list") {
    if (args.positional.size() != 1) return usage("board list takes no arguments");
    ClientResult r = readRetrying("/v1/board");
    int code = outcome(r, "board list");
    if (code == kOk) out_ << r.response.body << "\n";
    return code;
  }
  if (args.positional.size() < 2) return usage("board " + cmd + " needs a KEY");
  const std::string& key = args.positional[1];
  if (!validName(key)) return usage("invalid key (want [A-Za-z0-9._/-]{1,256}): " + key);
  std::string target = "/v1/board/" + key;
  bool with_version = args.flags.count("with-version") > 0;
  auto printEntry = [&](const std::string& body) {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object() || !v.as_object().contains("value")) {
      err_ << "mpexec sync: unexpected answer: " << body << "\n";
      return kUsage;
    }
    out_ << (with_version ? body : json::serialize(v.as_object().at("value"))) << "\n";
    return kOk;
  };
  if (cmd == "get") {
    if (args.positional.size() != 2) return usage("board get takes one KEY");
    ClientResult r = readRetrying(target);
    int code = outcome(r, "board get " + key);
    return code == kOk ? printEntry(r.response.body) : code;
  }
  if (cmd == "put") {
    if (args.positional.size() != 3) return usage("board put takes KEY JSON");
    // Checked as strictly as the service will (docs/sync.md): a value nests two levels less than a body.
    json::value value;
    std::string why;
    if (!parseStrictJson(args.positional[2], &value, &why, kMaxJsonDepth - 2))
      return usage("not JSON that the service takes: " + why + " (a string needs its quotes: '\"text\"')");
    json::object body{{"value", value}};
    if (args.options.count("if-version")) {
      if (args.flags.count("if-absent")) return usage("--if-version and --if-absent exclude each other");
      char* end = nullptr;
      const std::string& v = args.options["if-version"];
      unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || v[0] == '-') return usage("--if-version needs a version number");
      body["if_version"] = static_cast<uint64_t>(n);
    }
    if (args.flags.count("if-absent")) body["if_absent"] = true;
    ClientResult r = client_.request("PUT", target, json::serialize(body));
    int code = outcome(r, "board put " + key);
    if (code == kOk) {
      boost::system::error_code pec;
      json::value v = json::parse(r.response.body, pec);
      if (!pec && v.is_object() && v.as_object().contains("version"))
        out_ << json::serialize(v.as_object().at("version")) << "\n";
    }
    return code;
  }
  if (cmd == "del") {
    if (args.positional.size() != 2) return usage("board del takes one KEY");
    return outcome(client_.request("DELETE", target), "board del " + key);
  }
  if (cmd == "wait") {
    if (args.positional.size() != 2) return usage("board wait takes one KEY");
    std::optional<double> timeout = seconds(args, "timeout", &bad);
    if (bad) return usage("--timeout needs seconds");
    std::string after = args.options.count("after") ? args.options["after"] : "0";
    if (after.empty() || after.find_first_not_of("0123456789") != std::string::npos)
      return usage("--after needs a version number");
    ClientResult r = waitLoop("GET", target + "?after=" + after, "", timeout);
    int code = outcome(r, "board wait " + key);
    return code == kOk ? printEntry(r.response.body) : code;
  }
  return usage("unknown board command " + cmd);
}

int Cli::lock(int argc, char** argv) {
  Args args;
  if (!parse(argc, argv, 2, {"timeout"}, {}, &args)) return kUsage;
  if (args.positional.size() != 2) return usage("lock needs a command and a NAME");
  const std::string& cmd = args.positional[0];
  const std::string& name = args.positional[1];
  if (!validName(name)) return usage("invalid lock name (want [A-Za-z0-9._/-]{1,256}): " + name);
  bool bad = false;
  std::optional<double> timeout = seconds(args, "timeout", &bad);
  if (bad) return usage("--timeout needs seconds");
  std::string base = "/v1/lock/" + name;
  if (cmd == "acquire" || cmd == "run") {
    if (cmd == "acquire" && args.has_command) return usage("lock acquire takes no command; use lock run");
    if (cmd == "run" && args.command.empty()) return usage("lock run needs -- CMD...");
    int code = outcome(waitLoop("POST", base + "/acquire", "", timeout), "lock acquire " + name);
    if (code != kOk || cmd == "acquire") return code;
    int status = runCommand(args.command, "", false);
    int released = outcome(client_.request("POST", base + "/release"), "lock release " + name);
    return status != 0 ? status : released;
  }
  if (cmd == "release") {
    if (args.has_command || timeout) return usage("lock release takes only a NAME");
    return outcome(client_.request("POST", base + "/release"), "lock release " + name);
  }
  return usage("unknown lock command " + cmd);
}

int Cli::trail(int argc, char** argv) {
  Args args;
  if (!parse(argc, argv, 2, {}, {}, &args)) return kUsage;
  if (args.positional.size() != 2) return usage("trail needs start|finish and a NAME");
  const std::string& cmd = args.positional[0];
  const std::string& name = args.positional[1];
  if (cmd != "start" && cmd != "finish") return usage("unknown trail command " + cmd);
  if (!validName(name)) return usage("invalid trail name (want [A-Za-z0-9._/-]{1,256}): " + name);
  if (args.command.empty()) return usage("trail " + cmd + " needs -- CMD...");
  std::string base = "/v1/trail/" + name;
  ClientResult r = waitLoop("POST", base + "/" + cmd, "", std::nullopt);
  int code = outcome(r, "trail " + cmd + " " + name);
  if (code != kOk) return code;
  const char* field = cmd == "start" ? "first" : "last";
  boost::system::error_code ec;
  json::value v = json::parse(r.response.body, ec);
  const json::value* flag = !ec && v.is_object() ? v.as_object().if_contains(field) : nullptr;
  if (flag == nullptr || !flag->is_bool()) {
    err_ << "mpexec sync: unexpected answer: " << r.response.body << "\n";
    client_.request("POST", base + "/done");
    return kUsage;
  }
  int status =
      runCommand(args.command, cmd == "start" ? "MPEXEC_TRAIL_FIRST" : "MPEXEC_TRAIL_LAST", flag->as_bool());
  // A failed start command leaves the trail (see Trails::done), so a failed setup is not taken as done.
  std::string done_body = status == 0 ? "" : "{\"ok\":false}";
  int done = outcome(client_.request("POST", base + "/done", done_body), "trail done " + name);
  return status != 0 ? status : done;
}

int Cli::run(int argc, char** argv) {
  if (argc < 2) return usage("missing a command");
  std::string what = argv[1];
  if (what == "-h" || what == "--help" || what == "help") {
    out_ << kUsageText;
    return kOk;
  }
  if (what == "board") return board(argc, argv);
  if (what == "lock") return lock(argc, argv);
  if (what == "trail") return trail(argc, argv);
  return usage("unknown command " + what);
}

}  // namespace

int syncMain(int argc, char** argv, const Endpoint& endpoint, std::ostream& out, std::ostream& err) {
  Cli cli(endpoint, out, err);
  return cli.run(argc, argv);
}

int syncMain(int argc, char** argv) {
  return syncMain(argc, argv, Endpoint::fromEnvironment(), std::cout, std::cerr);
}

}  // namespace mpexec::sync
