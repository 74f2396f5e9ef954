#include "sandbox/spawner_wire.h"

#include <linux/filter.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "sandbox/context.h"
#include "sandbox/fd_passing.h"
#include "sandbox/seccomp.h"
#include "sandbox/spawner.h"

namespace mpexec::sandbox {
namespace {

constexpr uint32_t kMagic = 0x6d707831;  // "mpx1"
constexpr size_t kMaxRequest = size_t(1) << 30;
constexpr uint64_t kContextVersion = 2;

// ---- the request's bytes: little more than length-prefixed strings ----

class Writer {
 public:
  void u64(uint64_t v) { out_.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void str(const std::string& s) {
    u64(s.size());
    out_ += s;
  }
  void strs(const std::vector<std::string>& v) {
    u64(v.size());
    for (const auto& s : v) str(s);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(const std::string& in) : in_(in) {}
  bool u64(uint64_t& v, const char* field) {
    if (in_.size() - pos_ < sizeof v) return fail(field);
    memcpy(&v, in_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return true;
  }
  bool i64(int64_t& v, const char* field) {
    uint64_t u;
    if (!u64(u, field)) return false;
    v = int64_t(u);
    return true;
  }
  bool flag(bool& b, const char* field) {
    uint64_t u;
    if (!u64(u, field)) return false;
    if (u > 1) return fail(field);
    b = u == 1;
    return true;
  }
  template <class E>
  bool enumeration(E& e, uint64_t count, const char* field) {
    uint64_t u;
    if (!u64(u, field)) return false;
    if (u >= count) return fail(field);
    e = static_cast<E>(u);
    return true;
  }
  bool str(std::string& s, const char* field) {
    uint64_t n;
    if (!u64(n, field) || n > in_.size() - pos_) return fail(field);
    s.assign(in_, pos_, n);
    pos_ += n;
    return true;
  }
  bool strs(std::vector<std::string>& v, const char* field) {
    uint64_t n;
    // Each string takes at least its 8-byte length: a count beyond that is corrupt, not a huge allocation.
    if (!u64(n, field) || n > (in_.size() - pos_) / 8) return fail(field);
    v.resize(n);
    for (auto& s : v)
      if (!str(s, field)) return false;
    return true;
  }
  bool done() const { return pos_ == in_.size(); }
  const std::string& failed() const { return failed_; }
  bool fail(const char* field) {
    if (failed_.empty()) failed_ = field;
    return false;
  }

 private:
  const std::string& in_;
  size_t pos_ = 0;
  std::string failed_;
};

// ---- framing on the stream socket: a header with the fds, then the bytes ----

struct Header {
  uint32_t magic;
  uint32_t fds;
  uint64_t size;
};

bool readAll(int fd, char* p, size_t n) {
  while (n > 0) {
    ssize_t r = recv(fd, p, n, MSG_WAITALL);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= size_t(r);
  }
  return true;
}

}  // namespace

bool sendRequest(int sock, const std::string& bytes, const std::vector<int>& fds) {
  if (fds.size() > kMaxPassedFds) return false;
  Header h{kMagic, uint32_t(fds.size()), bytes.size()};
  // The header with its fds and the request in one call, not two: one per unit fewer. receiveRequest()
  // reads them apart as before (the fds come with the header's bytes, the first of the message).
  std::string message(reinterpret_cast<const char*>(&h), sizeof h);
  message += bytes;
  return sendWithFds(sock, message.data(), message.size(), fds.data(), fds.size());
}

bool receiveRequest(int sock, std::string& bytes, std::vector<int>& fds) {
  Header h{};
  int got[kMaxPassedFds];
  size_t ngot = 0;
  ssize_t n = receiveWithFds(sock, &h, sizeof h, MSG_WAITALL, got, &ngot);
  fds.insert(fds.end(), got, got + ngot);
  if (n != ssize_t(sizeof h) || h.magic != kMagic || h.fds != fds.size() || h.size > kMaxRequest) return false;
  bytes.resize(h.size);
  return readAll(sock, bytes.data(), bytes.size());
}

std::string encodeStart(const Context& ctx, size_t netns_ahead) {
  Writer w;
  w.u64(netns_ahead);
  w.str(encodeContext(ctx));
  return w.take();
}

bool decodeStart(const std::string& bytes, size_t& netns_ahead, std::string& context) {
  Reader r(bytes);
  uint64_t ahead = 0;
  if (!r.u64(ahead, "netns_ahead") || ahead > 4096 || !r.str(context, "context") || !r.done()) return false;
  netns_ahead = size_t(ahead);
  return true;
}

namespace {

void writeCommand(Writer& w, const CommandSpec& c) {
  w.u64(uint64_t(c.role));
  w.strs(c.argv);
  w.strs(c.env);
  w.str(c.cwd);
  w.u64(uint64_t(c.timeout_ms));
  w.str(c.log_name);
  w.u64(c.preload);
}

bool readCommand(Reader& r, CommandSpec& c) {
  return r.enumeration(c.role, 4, "command.role") && r.strs(c.argv, "command.argv") && r.strs(c.env, "command.env") &&
         r.str(c.cwd, "command.cwd") && r.i64(c.timeout_ms, "command.timeout_ms") &&
         r.str(c.log_name, "command.log_name") && r.flag(c.preload, "command.preload");
}

}  // namespace

std::string encodeCommand(const CommandSpec& c) {
  Writer w;
  writeCommand(w, c);
  return w.take();
}

Result<CommandSpec> decodeCommand(const std::string& bytes) {
  Reader r(bytes);
  CommandSpec c;
  if (!readCommand(r, c)) return Error{"init", EPROTO, "malformed command: field " + r.failed()};
  if (!r.done()) return Error{"init", EPROTO, "trailing bytes after the command"};
  return c;
}

std::string encodeSpawnRequest(const UnitSpec& spec, const std::vector<std::string>& cgroup_dirs) {
  Writer w;
  w.str(spec.name);
  w.u64(uint64_t(spec.isolation));
  const Policy& p = spec.policy;
  w.u64(uint64_t(p.network));
  w.u64(p.memory_bytes);
  w.u64(p.pids);
  w.strs(p.writable);
  w.u64(uint64_t(p.user));
  w.u64(p.seccomp);
  w.u64(p.nested);
  w.u64(spec.commands.size());
  for (const CommandSpec& c : spec.commands) writeCommand(w, c);
  w.u64(spec.log_dir_fd >= 0);
  w.str(spec.output_dir);
  w.u64(spec.output_dir_fd >= 0);
  w.strs(spec.visible);
  w.strs(spec.hidden);
  w.str(spec.sync_dir);
  w.u64(uint64_t(spec.kill_grace_ms));
  w.u64(uint64_t(int64_t(spec.identity)));
  w.u64(spec.task_limit);
  w.u64(spec.hold);
  w.u64(spec.recycle);
  w.strs(cgroup_dirs);
  return w.take();
}

Result<SpawnRequest> decodeSpawnRequest(const std::string& bytes) {
  SpawnRequest req;
  UnitSpec& s = req.spec;
  Policy& p = s.policy;
  Reader r(bytes);
  uint64_t commands = 0;
  int64_t identity = -1;
  bool ok = r.str(s.name, "name") && r.enumeration(s.isolation, 2, "isolation") &&
            r.enumeration(p.network, 2, "policy.network") && r.u64(p.memory_bytes, "policy.memory_bytes") &&
            r.u64(p.pids, "policy.pids") && r.strs(p.writable, "policy.writable") &&
            r.enumeration(p.user, 2, "policy.user") && r.flag(p.seccomp, "policy.seccomp") &&
            r.flag(p.nested, "policy.nested") && r.u64(commands, "commands");
  // A command takes at least 7 fields of 8 bytes.
  if (ok && commands > bytes.size() / 56) ok = r.fail("commands");
  for (uint64_t i = 0; ok && i < commands; ++i) {
    CommandSpec c;
    ok = readCommand(r, c);
    s.commands.push_back(std::move(c));
  }
  ok = ok && r.flag(req.has_log_dir, "log_dir") && r.str(s.output_dir, "output_dir") &&
       r.flag(req.has_output_dir, "output_dir_fd") && r.strs(s.visible, "visible") && r.strs(s.hidden, "hidden") &&
       r.str(s.sync_dir, "sync_dir") &&
       r.i64(s.kill_grace_ms, "kill_grace_ms") && r.i64(identity, "identity") &&
       (identity >= -1 && identity < (int64_t(1) << 31) ? true : r.fail("identity")) &&
       r.u64(s.task_limit, "task_limit") && r.flag(s.hold, "hold") && r.flag(s.recycle, "recycle") && r.strs(req.cgroup_dirs, "cgroup_dirs");
  if (ok && !r.done()) return Error{"spawner", EPROTO, "trailing bytes after the request"};
  if (!ok) return Error{"spawner", EPROTO, "malformed request: field " + r.failed()};
  s.identity = int32_t(identity);
  return req;
}

std::string encodeContext(const Context& ctx) {
  Writer w;
  w.u64(kContextVersion);
  w.u64(uint64_t(ctx.isolation_));
  w.u64(ctx.privileged_);
  w.u64(ctx.idle_ahead_);
  w.u64(ctx.uid_);
  w.u64(ctx.gid_);
  w.u64(uint64_t(ctx.last_cap_));
  w.str(ctx.exe_);
  w.u64(ctx.limits_memory_);
  w.u64(ctx.limits_pids_);
  w.u64(ctx.idmapped_mounts_);
  w.u64(ctx.unit_ids_);
  w.u64(ctx.unit_id_base_);
  w.u64(uint64_t(ctx.landlock_abi_));
  for (const auto* program : {ctx.seccomp_default_.get(), ctx.seccomp_nested_.get(), ctx.seccomp_guard_.get()}) {
    w.u64(program != nullptr);
    if (program) w.str(std::string(reinterpret_cast<const char*>(program->insns.data()),
                                   program->insns.size() * sizeof(sock_filter)));
  }
  return w.take();
}

Result<std::unique_ptr<Context>> decodeContext(const std::string& bytes) {
  std::unique_ptr<Context> ctx(new Context(Isolation::None));
  Reader r(bytes);
  uint64_t version = 0, uid = 0, gid = 0, last_cap = 0, unit_ids = 0, unit_id_base = 0, landlock = 0;
  bool ok = r.u64(version, "version") && (version == kContextVersion || r.fail("version")) &&
            r.enumeration(ctx->isolation_, 2, "isolation") && r.flag(ctx->privileged_, "privileged") &&
            r.flag(ctx->idle_ahead_, "idle_ahead") &&
            r.u64(uid, "uid") && r.u64(gid, "gid") && r.u64(last_cap, "last_cap") &&
            (last_cap < 64 || r.fail("last_cap")) && r.str(ctx->exe_, "exe") && r.flag(ctx->limits_memory_, "limits_memory") &&
            r.flag(ctx->limits_pids_, "limits_pids") && r.flag(ctx->idmapped_mounts_, "idmapped_mounts") &&
            r.u64(unit_ids, "unit_ids") && (unit_ids <= 65536 || r.fail("unit_ids")) &&
            r.u64(unit_id_base, "unit_id_base") && (unit_id_base + unit_ids <= 0xffffffffULL || r.fail("unit_id_base")) &&
            r.u64(landlock, "landlock_abi") && (landlock < 1024 || r.fail("landlock_abi"));
  for (auto* slot : {&ctx->seccomp_default_, &ctx->seccomp_nested_, &ctx->seccomp_guard_}) {
    bool present = false;
    std::string insns;
    ok = ok && r.flag(present, "seccomp") && (!present || r.str(insns, "seccomp"));
    if (!ok || !present) continue;
    if (insns.empty() || insns.size() % sizeof(sock_filter) != 0) {
      ok = r.fail("seccomp");
      break;
    }
    *slot = std::make_unique<SeccompProgram>();
    (*slot)->insns.resize(insns.size() / sizeof(sock_filter));
    memcpy((*slot)->insns.data(), insns.data(), insns.size());
  }
  if (ok && !r.done()) return Error{"spawner", EPROTO, "trailing bytes after the context"};
  if (!ok) return Error{"spawner", EPROTO, "malformed context: field " + r.failed()};
  ctx->uid_ = uid_t(uid);
  ctx->gid_ = gid_t(gid);
  ctx->last_cap_ = int(last_cap);
  ctx->unit_ids_ = unsigned(unit_ids);
  ctx->unit_id_base_ = uid_t(unit_id_base);
  ctx->landlock_abi_ = int(landlock);
  return ctx;
}
}  // namespace mpexec::sandbox
