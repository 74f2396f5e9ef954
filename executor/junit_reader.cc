#include "executor/junit_reader.h"

#include <expat.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

#include <fmt/format.h>

#include "sandbox/unique_fd.h"

namespace mpexec {

namespace {

/// Appends to `out` without passing `max` bytes; a note says how much was left out.
void appendBounded(std::string& out, std::string_view text, size_t& dropped) {
  size_t room = out.size() < kJunitMaxCaseOutput ? kJunitMaxCaseOutput - out.size() : 0;
  out.append(text.substr(0, room));
  dropped += text.size() - std::min(room, text.size());
}

std::string firstLine(std::string_view text) {
  size_t start = text.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return {};
  text.remove_prefix(start);
  return std::string(text.substr(0, text.find('\n')));
}

/// The expat callbacks' state: the case being read, and where character data goes.
class Reader {
 public:
  explicit Reader(JunitFile& out) : out_(out) {}

  void start(const char* tag, const char** attrs) {
    std::string_view t = tag;
    if (t == "testcase") {
      in_case_ = true;
      dropped_ = 0;
      current_ = JunitCase{};
      for (const char** a = attrs; a[0]; a += 2) {
        std::string_view k = a[0];
        if (k == "classname") current_.classname = a[1];
        if (k == "name") current_.name = a[1];
        if (k == "time") {
          char* end = nullptr;
          double s = strtod(a[1], &end);
          if (end != a[1] && *end == '\0' && s >= 0 && s < 1e9) current_.time_s = s;
        }
      }
      return;
    }
    if (!in_case_) return;
    JunitCase::Result r = JunitCase::Result::Pass;
    if (t == "failure") r = JunitCase::Result::Fail;
    else if (t == "error") r = JunitCase::Result::Error;
    else if (t == "skipped") r = JunitCase::Result::Skip;
    if (t == "failure" || t == "error" || t == "skipped") {
      // Several in one case: the worst one says what the case is.
      if (current_.result == JunitCase::Result::Pass || r > current_.result) {
        current_.result = r;
        current_.message.clear();
        for (const char** a = attrs; a[0]; a += 2)
          if (std::string_view(a[0]) == "message") current_.message = a[1];
      }
      text_ = &detail_;
      detail_.clear();
    } else if (t == "system-out" || t == "system-err") {
      text_ = t == "system-out" ? &stdout_ : &stderr_;
    }
  }

  void end(const char* tag) {
    std::string_view t = tag;
    if (t == "testcase" && in_case_) {
      std::string& o = current_.output;
      for (const std::string* part : {&details_, &stdout_, &stderr_}) {
        if (part->empty()) continue;
        if (!o.empty() && o.back() != '\n') appendBounded(o, "\n", dropped_);
        appendBounded(o, *part, dropped_);
      }
      if (dropped_ > 0) o += fmt::format("\n[mpexec: {} bytes of this test's output left out]\n", dropped_);
      out_.cases.push_back(std::move(current_));
      details_.clear();
      stdout_.clear();
      stderr_.clear();
      in_case_ = false;
      text_ = nullptr;
      return;
    }
    if ((t == "failure" || t == "error" || t == "skipped") && in_case_) {
      if (current_.message.empty() && (t != "skipped" || !detail_.empty())) current_.message = firstLine(detail_);
      appendBounded(details_, detail_, dropped_);
      detail_.clear();
    }
    text_ = nullptr;
  }

  void text(const char* s, int len) {
    if (text_ && in_case_) appendBounded(*text_, std::string_view(s, size_t(len)), dropped_);
  }

 private:
  JunitFile& out_;
  bool in_case_ = false;
  JunitCase current_;
  std::string* text_ = nullptr;  ///< where character data goes now; null: nowhere
  std::string detail_, details_, stdout_, stderr_;
  size_t dropped_ = 0;
};

/// An expat parser fed in pieces; destroyed with the object.
class Parser {
 public:
  explicit Parser(JunitFile& out) : reader_(out), out_(out), p_(XML_ParserCreate(nullptr)) {
    XML_SetUserData(p_, &reader_);
    XML_SetElementHandler(
        p_, [](void* r, const char* tag, const char** attrs) { static_cast<Reader*>(r)->start(tag, attrs); },
        [](void* r, const char* tag) { static_cast<Reader*>(r)->end(tag); });
    XML_SetCharacterDataHandler(p_, [](void* r, const char* s, int len) { static_cast<Reader*>(r)->text(s, len); });
  }
  ~Parser() { XML_ParserFree(p_); }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  /// False once the document is known to be broken (the problem is then recorded).
  bool feed(std::string_view bytes, bool last) {
    if (XML_Parse(p_, bytes.data(), int(bytes.size()), last) != XML_STATUS_OK) {
      out_.problem = fmt::format("not well-formed JUnit XML (line {}: {})", XML_GetCurrentLineNumber(p_),
                                 XML_ErrorString(XML_GetErrorCode(p_)));
      return false;
    }
    return true;
  }

 private:
  Reader reader_;
  JunitFile& out_;
  XML_Parser p_;
};

}  // namespace

JunitFile parseJunit(std::string_view xml) {
  JunitFile out;
  Parser p(out);
  constexpr size_t kPiece = 1 << 20;
  bool ok = true;
  while (ok && xml.size() > kPiece) {
    ok = p.feed(xml.substr(0, kPiece), false);
    xml.remove_prefix(kPiece);
  }
  if (ok) p.feed(xml, true);
  return out;
}

Result<std::optional<JunitFile>> readJunitFile(int dir_fd, const std::string& name) {
  UniqueFd fd(openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::optional<JunitFile>();
    return Error{"open " + name, errno, ""};
  }
  struct stat st;
  if (fstat(fd.get(), &st) < 0) return Error{"fstat " + name, errno, ""};
  if (!S_ISREG(st.st_mode)) return Error{{}, 0, name + " is not a regular file"};
  if (size_t(st.st_size) > kJunitMaxFileBytes)
    return Error{{}, 0, fmt::format("{} has {} bytes, more than the {} read", name, st.st_size, kJunitMaxFileBytes)};
  JunitFile out;
  Parser p(out);
  char buf[1 << 16];
  size_t total = 0;
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error{"read " + name, errno, ""};
    total += size_t(n);
    if (total > kJunitMaxFileBytes) {
      out.problem = fmt::format("{} grew past the {} bytes read", name, kJunitMaxFileBytes);
      break;
    }
    if (!p.feed(std::string_view(buf, size_t(n)), n == 0) || n == 0) break;
  }
  return std::optional<JunitFile>(std::move(out));
}

std::unordered_map<std::string, const JunitCase*> matchJunit(const JunitFile& file, const std::vector<std::string>& ids) {
  std::unordered_set<std::string_view> wanted(ids.begin(), ids.end());
  // Worst first: error, failure, pass, skipped.
  auto rank = [](JunitCase::Result r) {
    switch (r) {
      case JunitCase::Result::Error: return 3;
      case JunitCase::Result::Fail: return 2;
      case JunitCase::Result::Pass: return 1;
      case JunitCase::Result::Skip: return 0;
    }
    return 0;
  };
  std::unordered_map<std::string, const JunitCase*> out;
  for (const JunitCase& c : file.cases) {
    std::string id;
    if (!c.classname.empty() && wanted.count(c.classname + "." + c.name)) {
      id = c.classname + "." + c.name;
    } else if (!c.classname.empty() && wanted.count(c.classname + "::" + c.name)) {
      id = c.classname + "::" + c.name;
    } else if (wanted.count(c.name)) {
      id = c.name;
    } else {
      continue;
    }
    auto [it, fresh] = out.try_emplace(id, &c);
    if (!fresh && rank(c.result) > rank(it->second->result)) it->second = &c;
  }
  return out;
}

}  // namespace mpexec
