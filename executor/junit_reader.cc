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

/// The longest prefix of `text` of at most `max` bytes that does not split a UTF-8 sequence (expat hands
/// over UTF-8).
std::string_view utf8Prefix(std::string_view text, size_t max) {
  if (text.size() <= max) return text;
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut);
}

/// Appends to `out` without passing kJunitMaxCaseOutput bytes; `dropped` counts what was left out.
void appendBounded(std::string& out, std::string_view text, size_t& dropped) {
  size_t room = out.size() < kJunitMaxCaseOutput ? kJunitMaxCaseOutput - out.size() : 0;
  std::string_view kept = utf8Prefix(text, room);
  out.append(kept);
  dropped += text.size() - kept.size();
}

std::string firstLine(std::string_view text) {
  size_t start = text.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return {};
  text.remove_prefix(start);
  return std::string(text.substr(0, text.find('\n')));
}

/// Worst first: error, failure, pass, skipped.
int rank(JunitCase::Result r) {
  switch (r) {
    case JunitCase::Result::Error: return 3;
    case JunitCase::Result::Fail: return 2;
    case JunitCase::Result::Pass: return 1;
    case JunitCase::Result::Skip: return 0;
  }
  return 0;
}

/// The expat callbacks' state: the case being read, and where character data goes. Only a case that
/// reports one of the ids is read past its start tag.
class Reader {
 public:
  Reader(JunitFile& out, const std::vector<std::string>& ids) : out_(out), wanted_(ids.begin(), ids.end()) {}

  void start(const char* tag, const char** attrs) {
    std::string_view t = tag;
    if (t == "testcase") {
      startCase(attrs);
      return;
    }
    if (!in_case_ || id_.empty()) return;
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
          if (std::string_view(a[0]) == "message") current_.message = utf8Prefix(a[1], kJunitMaxMessage);
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
      endCase();
      return;
    }
    if ((t == "failure" || t == "error" || t == "skipped") && in_case_ && !id_.empty()) {
      if (current_.message.empty() && (t != "skipped" || !detail_.empty()))
        current_.message = utf8Prefix(firstLine(detail_), kJunitMaxMessage);
      appendBounded(details_, detail_, dropped_);
      detail_.clear();
    }
    text_ = nullptr;
  }

  void text(const char* s, int len) {
    if (text_ && in_case_) appendBounded(*text_, std::string_view(s, size_t(len)), dropped_);
  }

 private:
  /// The id a testcase reports: "C.N", else "C::N", else "N"; empty when it reports none.
  std::string idOf(std::string_view classname, std::string_view name) const {
    if (!classname.empty()) {
      for (std::string_view sep : {".", "::"}) {
        std::string id = fmt::format("{}{}{}", classname, sep, name);
        if (wanted_.count(id)) return id;
      }
    }
    return wanted_.count(name) ? std::string(name) : std::string();
  }

  void startCase(const char** attrs) {
    in_case_ = true;
    dropped_ = 0;
    text_ = nullptr;
    current_ = JunitCase{};
    std::string_view classname, name;
    const char* time = nullptr;
    for (const char** a = attrs; a[0]; a += 2) {
      std::string_view k = a[0];
      if (k == "classname") classname = a[1];
      if (k == "name") name = a[1];
      if (k == "time") time = a[1];
    }
    id_ = idOf(classname, name);
    if (time && !id_.empty()) {
      char* end = nullptr;
      double s = strtod(time, &end);
      if (end != time && *end == '\0' && s >= 0 && s < 1e9) current_.time_s = s;
    }
  }

  void endCase() {
    ++out_.testcases;
    if (id_.empty()) {
      ++out_.ignored;
    } else {
      std::string& o = current_.output;
      for (const std::string* part : {&details_, &stdout_, &stderr_}) {
        if (part->empty()) continue;
        if (!o.empty() && o.back() != '\n') appendBounded(o, "\n", dropped_);
        appendBounded(o, *part, dropped_);
      }
      if (dropped_ > 0) o += fmt::format("\n[mpexec: {} bytes of this test's output left out]\n", dropped_);
      auto [it, fresh] = out_.by_id.try_emplace(std::move(id_), std::move(current_));
      if (!fresh && rank(current_.result) > rank(it->second.result)) it->second = std::move(current_);
    }
    id_.clear();
    detail_.clear();
    details_.clear();
    stdout_.clear();
    stderr_.clear();
    in_case_ = false;
    text_ = nullptr;
  }

  JunitFile& out_;
  std::unordered_set<std::string_view> wanted_;  ///< views of the caller's ids, which outlive the parse
  bool in_case_ = false;
  std::string id_;  ///< the id the case being read reports; empty: none, and it is skipped
  JunitCase current_;
  std::string* text_ = nullptr;  ///< where character data goes now; null: nowhere
  std::string detail_, details_, stdout_, stderr_;
  size_t dropped_ = 0;
};

/// An expat parser fed in pieces; destroyed with the object.
class Parser {
 public:
  Parser(JunitFile& out, const std::vector<std::string>& ids, std::string_view file)
      : reader_(out, ids), out_(out), file_(file), p_(XML_ParserCreate(nullptr)) {
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
      out_.problem = fmt::format("{}: not well-formed JUnit XML (line {}: {})", file_, XML_GetCurrentLineNumber(p_),
                                 XML_ErrorString(XML_GetErrorCode(p_)));
      return false;
    }
    return true;
  }

 private:
  Reader reader_;
  JunitFile& out_;
  std::string file_;
  XML_Parser p_;
};

}  // namespace

JunitFile parseJunit(std::string_view xml, const std::vector<std::string>& ids, std::string_view file) {
  JunitFile out;
  Parser p(out, ids, file);
  constexpr size_t kPiece = 1 << 20;
  bool ok = true;
  while (ok && xml.size() > kPiece) {
    ok = p.feed(xml.substr(0, kPiece), false);
    xml.remove_prefix(kPiece);
  }
  if (ok) p.feed(xml, true);
  return out;
}

Result<std::optional<JunitFile>> readJunitFile(int dir_fd, const std::string& name, const std::vector<std::string>& ids) {
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
  Parser p(out, ids, name);
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

}  // namespace mpexec
