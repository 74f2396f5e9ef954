// The cascade of one level (defaults, a group or a test): timeout, env, cwd, sandbox, and a test's
// output rules.
#include <boost/json.hpp>
#include <fmt/format.h>

#include <array>
#include <cmath>
#include <cstdint>

#include "executor/json_location.h"
#include "executor/manifest_loader.h"
#include "executor/output_rules.h"
#include "executor/printable.h"

namespace mpexec::manifest_loader {

namespace {

constexpr uint64_t kMaxPids = 4194304;  // PID_MAX_LIMIT on 64-bit Linux
constexpr std::array<std::string_view, 7> kSandboxKeys{"network", "memory",  "pids",  "writable",
                                                       "user",    "seccomp", "nested"};

// "512M", "1G", "64K", "2T" (powers of 1024, either case) or a plain byte count; 0 on a bad text.
uint64_t parseSize(std::string_view s) {
  if (s.empty()) return 0;
  uint64_t mult = 1;
  switch (s.back()) {
    case 'K': case 'k': mult = 1ull << 10; break;
    case 'M': case 'm': mult = 1ull << 20; break;
    case 'G': case 'g': mult = 1ull << 30; break;
    case 'T': case 't': mult = 1ull << 40; break;
    default: break;
  }
  if (mult != 1) s.remove_suffix(1);
  if (s.empty() || s.size() > 19) return 0;
  uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  if (n > UINT64_MAX / mult) return 0;
  return n * mult;
}

}  // namespace

void apply(Settings& s, const Layer& l) {
  if (l.timeout_s) s.timeout_s = *l.timeout_s;
  for (const auto& [k, v] : l.env) {
    if (v) {
      s.env[k] = *v;
    } else {
      s.env.erase(k);
    }
  }
  if (l.cwd) s.cwd = *l.cwd;
  const SandboxLayer& b = l.sandbox;
  sandbox::Policy& p = s.sandbox;
  if (b.network) p.network = *b.network;
  if (b.memory_bytes) p.memory_bytes = *b.memory_bytes;
  if (b.pids) p.pids = *b.pids;
  if (b.writable) p.writable = *b.writable;
  if (b.user) p.user = *b.user;
  if (b.seccomp) p.seccomp = *b.seccomp;
  if (b.nested) p.nested = *b.nested;
}

Result<void> Loader::readLayer(const json::object& o, const std::string& ptr, Layer& out) {
  if (const json::value* v = o.if_contains("timeout")) {
    std::optional<double> t;
    if (v->is_number()) t = v->to_number<double>();
    if (!t || !std::isfinite(*t) || *t <= 0 || *t > kMaxTimeoutS) {
      return expected(ptr + "/timeout", "a number of seconds > 0 (at most one year)", *v);
    }
    out.timeout_s = t;
  }
  if (const json::value* v = o.if_contains("env")) {
    const json::object* env = v->if_object();
    if (env == nullptr) return expected(ptr + "/env", "an object of strings", *v);
    out.env.reserve(env->size());
    for (const auto& kv : *env) {
      std::string_view key = kv.key();
      if (key.empty() || key.find('=') != std::string_view::npos || key.find('\0') != std::string_view::npos) {
        return at(ptr + "/env", fmt::format("invalid variable name {}: expected a non-empty name without '='",
                                            jsonQuoted(key)));
      }
      std::string vptr = ptr + "/env/" + jsonPointerToken(key);
      if (kv.value().is_null()) {
        out.env.emplace_back(std::string(key), std::nullopt);
        continue;
      }
      const json::string* s = kv.value().if_string();
      if (s == nullptr) return expected(vptr, "a string (or null to remove an inherited variable)", kv.value());
      MPEXEC_TRY(noNul(*s, vptr));
      out.env.emplace_back(std::string(key), std::string(s->data(), s->size()));
    }
  }
  if (const json::value* v = o.if_contains("cwd")) {
    std::string cwd;
    MPEXEC_TRY(readString(*v, ptr + "/cwd", cwd));
    cwd = facts_.resolve(cwd);
    if (const std::string& why = facts_.directoryProblem(cwd); !why.empty()) return at(ptr + "/cwd", why);
    out.cwd = std::move(cwd);
  }
  if (const json::value* v = o.if_contains("sandbox")) {
    out.has_sandbox = true;
    MPEXEC_TRY(readSandbox(*v, ptr + "/sandbox", out.sandbox));
  }
  return {};
}

Result<void> Loader::readSandbox(const json::value& v, const std::string& ptr, SandboxLayer& out) {
  const json::object* o = v.if_object();
  if (o == nullptr) return expected(ptr, "an object", v);
  MPEXEC_TRY(checkKeys(*o, ptr, kSandboxKeys));
  auto oneOf = [&](const char* key, std::string_view a, std::string_view b) -> Result<bool> {
    const json::value& x = o->at(key);
    const json::string* s = x.if_string();
    if (s != nullptr && *s == a) return true;
    if (s != nullptr && *s == b) return false;
    return expected(ptr + "/" + key, fmt::format("{} or {}", jsonQuoted(a), jsonQuoted(b)), x);
  };
  if (o->contains("network")) {
    auto r = oneOf("network", "none", "host");
    if (!r) return r.error();
    out.network = *r ? sandbox::Network::None : sandbox::Network::Host;
  }
  if (o->contains("user")) {
    auto r = oneOf("user", "self", "nobody");
    if (!r) return r.error();
    out.user = *r ? sandbox::Identity::Self : sandbox::Identity::Nobody;
  }
  if (o->contains("seccomp")) {
    auto r = oneOf("seccomp", "default", "off");
    if (!r) return r.error();
    out.seccomp = *r;
  }
  if (const json::value* x = o->if_contains("nested")) {
    if (!x->is_bool()) return expected(ptr + "/nested", "a boolean", *x);
    out.nested = x->get_bool();
  }
  if (const json::value* x = o->if_contains("memory")) {
    uint64_t bytes = 0;
    if (x->is_int64() && x->get_int64() > 0) bytes = static_cast<uint64_t>(x->get_int64());
    if (x->is_uint64()) bytes = x->get_uint64();
    if (const json::string* s = x->if_string()) bytes = parseSize(std::string_view(s->data(), s->size()));
    if (bytes == 0) {
      return expected(ptr + "/memory", "a size such as \"512M\", \"1G\", \"64K\" or a byte count > 0", *x);
    }
    out.memory_bytes = bytes;
  }
  if (const json::value* x = o->if_contains("pids")) {
    uint64_t n = 0;
    if (x->is_int64() && x->get_int64() > 0) n = static_cast<uint64_t>(x->get_int64());
    if (x->is_uint64()) n = x->get_uint64();
    // The kernel's pids controller refuses more than PID_MAX_LIMIT, which no system exceeds: a larger limit
    // would fail every unit when the run starts, so it fails here.
    if (n == 0 || n > kMaxPids) return expected(ptr + "/pids", "an integer from 1 to 4194304", *x);
    out.pids = n;
  }
  if (const json::value* x = o->if_contains("writable")) {
    std::vector<std::string> paths;
    MPEXEC_TRY(readStringArray(*x, ptr + "/writable", paths, false));
    for (std::size_t i = 0; i < paths.size(); ++i) {
      std::string wptr = fmt::format("{}/writable/{}", ptr, i);
      if (paths[i].empty()) return expected(wptr, "a non-empty path", x->as_array()[i]);
      paths[i] = facts_.resolve(paths[i]);
      if (!facts_.exists(paths[i])) return at(wptr, fmt::format("writable path {} does not exist", printable(paths[i])));
    }
    out.writable = std::move(paths);
  }
  return {};
}

Result<void> Loader::readOutputRules(const json::object& o, const std::string& ptr, OutputRules& out) {
  for (auto [key, into] : {std::pair{"pass_regex", &out.pass}, std::pair{"fail_regex", &out.fail},
                           std::pair{"skip_regex", &out.skip}}) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr) continue;
    std::string kptr = ptr + "/" + key;
    std::vector<std::string> texts;
    if (const json::string* s = v->if_string()) {
      MPEXEC_TRY(noNul(*s, kptr));
      texts.emplace_back(s->data(), s->size());
    } else if (v->is_array()) {
      MPEXEC_TRY(readStringArray(*v, kptr, texts, false));
    } else {
      return expected(kptr, "a regular expression or an array of them", *v);
    }
    for (std::size_t i = 0; i < texts.size(); ++i) {
      std::string eptr = v->is_array() ? fmt::format("{}/{}", kptr, i) : kptr;
      const json::value& given = v->is_array() ? v->as_array()[i] : *v;
      if (texts[i].empty()) return expected(eptr, "a non-empty regular expression", given);
      auto it = patterns_.find(texts[i]);
      if (it == patterns_.end()) {
        auto compiled = compileOutputPattern(texts[i]);
        if (!compiled.ok()) {
          return at(eptr, fmt::format("{} is not a valid regular expression (RE2 syntax): {}", jsonSnippet(given),
                                      printable(compiled.error().detail)));
        }
        it = patterns_.emplace(texts[i], std::move(compiled.value())).first;
      }
      into->push_back(it->second);
    }
  }
  return {};
}

}  // namespace mpexec::manifest_loader
