#include "executor/import/ctest_regex.h"

#include <bitset>
#include <cctype>

#include <fmt/format.h>

namespace mpexec {

namespace {

// A recursive-descent reading of the expression that follows cmsys::RegularExpression's compiler
// (reg, regbranch, regpiece, regatom) step by step, so that it refuses exactly what that compiler
// refuses, and writes the RE2 text of each part as it goes.
class Translator {
 public:
  Translator(std::string_view re, int max_groups) : re_(re.substr(0, re.find('\0'))), max_groups_(max_groups) {}

  Result<std::string> run() {
    int flags = 0;
    MPEXEC_TRY(reg(false, flags));
    // `.` matches a newline in CTest's syntax; in RE2 only with the s flag.
    return any_byte_ ? "(?s)" + out_ : out_;
  }

 private:
  // What a part can match, as the compiler tracks it: HASWIDTH never matches the empty text; SIMPLE and
  // SPSTART only steer its code generation.
  static constexpr int kHasWidth = 1;

  char peek() const { return at_ < re_.size() ? re_[at_] : '\0'; }
  static bool isMult(char c) { return c == '*' || c == '+' || c == '?'; }
  static Error error(const char* what) { return Error{{}, 0, what}; }

  // The main expression, or a parenthesized one (its '(' already read): branches joined by '|'.
  Result<void> reg(bool paren, int& flags) {
    flags = kHasWidth;
    if (paren) {
      if (groups_ + 1 > max_groups_) return error("Too many parentheses.");
      ++groups_;
      out_ += "(?:";
    }
    for (bool first = true;; first = false) {
      if (!first) {
        ++at_;  // the '|'
        out_ += '|';
      }
      int branch_flags = 0;
      MPEXEC_TRY(branch(branch_flags));
      if (!(branch_flags & kHasWidth)) flags &= ~kHasWidth;
      if (peek() != '|') break;
    }
    if (paren) {
      if (peek() != ')') return error("Unmatched parentheses.");
      ++at_;
      out_ += ')';
    } else if (at_ < re_.size()) {
      return error(peek() == ')' ? "Unmatched parentheses." : "Internal error.");
    }
    return {};
  }

  // Pieces one after another, up to '|', ')' or the end.
  Result<void> branch(int& flags) {
    flags = 0;
    while (at_ < re_.size() && peek() != '|' && peek() != ')') {
      int piece_flags = 0;
      MPEXEC_TRY(piece(piece_flags));
      flags |= piece_flags & kHasWidth;
    }
    return {};
  }

  // An atom and the one '*', '+' or '?' that may follow it.
  Result<void> piece(int& flags) {
    int atom_flags = 0;
    MPEXEC_TRY(atom(atom_flags));
    char op = peek();
    if (!isMult(op)) {
      flags = atom_flags;
      return {};
    }
    if (!(atom_flags & kHasWidth) && op != '?') return error("*+ operand could be empty.");
    flags = op == '+' ? kHasWidth : 0;
    ++at_;
    out_ += op;
    if (isMult(peek())) return error("Nested *?+.");
    return {};
  }

  Result<void> atom(int& flags) {
    flags = 0;
    char c = re_[at_++];
    switch (c) {
      case '^':
        out_ += '^';
        return {};
      case '$':
        out_ += '$';
        return {};
      case '.':
        out_ += '.';
        any_byte_ = true;
        flags = kHasWidth;
        return {};
      case '[':
        MPEXEC_TRY(bracket());
        flags = kHasWidth;
        return {};
      case '(': {
        int inner = 0;
        MPEXEC_TRY(reg(true, inner));
        flags = inner & kHasWidth;
        return {};
      }
      case '|':
      case ')':
        return error("Internal error.");
      case '?':
      case '+':
      case '*':
        return error("?+* follows nothing.");
      case '\\':
        if (at_ >= re_.size()) return error("Trailing backslash.");
        literal(re_[at_++]);
        flags = kHasWidth;
        return {};
      default: {
        // A run of plain characters; the last one stays apart when a '*', '+' or '?' follows it.
        std::size_t end = at_ - 1;
        while (end < re_.size() && std::string_view("^$.[()|?+*\\").find(re_[end]) == std::string_view::npos) ++end;
        std::size_t len = end - (at_ - 1);
        if (len > 1 && end < re_.size() && isMult(re_[end])) --len;
        for (std::size_t k = 0; k < len; ++k) literal(re_[at_ - 1 + k]);
        at_ += len - 1;
        flags = kHasWidth;
        return {};
      }
    }
  }

  // "[...]" or "[^...]" (the '[' already read): a ']' or '-' first is itself, "a-z" a range from the byte
  // before the '-', a '-' last is itself; there is no escape inside.
  Result<void> bracket() {
    std::bitset<256> set;
    bool negated = peek() == '^';
    if (negated) ++at_;
    if (peek() == ']' || peek() == '-') set.set(static_cast<unsigned char>(re_[at_++]));
    while (at_ < re_.size() && peek() != ']') {
      if (peek() != '-') {
        set.set(static_cast<unsigned char>(re_[at_++]));
        continue;
      }
      ++at_;
      if (at_ >= re_.size() || peek() == ']') {
        set.set('-');
        continue;
      }
      int from = static_cast<unsigned char>(re_[at_ - 2]) + 1;
      int to = static_cast<unsigned char>(re_[at_]);
      if (from > to + 1) return error("Invalid range in [].");
      for (int b = from; b <= to; ++b) set.set(std::size_t(b));
      ++at_;
    }
    if (peek() != ']') return error("Unmatched [].");
    ++at_;
    set.reset(0);  // CTest's set is a C string: a NUL never matches (nor is there one in the output)
    out_ += negated ? "[^" : "[";
    for (int b = 0; b < 256;) {
      if (!set.test(std::size_t(b))) {
        ++b;
        continue;
      }
      int e = b;
      while (e + 1 < 256 && set.test(std::size_t(e + 1))) ++e;
      out_ += classByte(b);
      if (e > b) out_ += (e > b + 1 ? "-" : "") + classByte(e);
      b = e + 1;
    }
    // An empty set cannot be written "[]" in RE2; it matches nothing (negated: any byte).
    if (set.none()) out_ += negated ? "\\x00-\\x{ff}" : "^\\x00-\\x{ff}";
    out_ += ']';
    return {};
  }

  static std::string classByte(int b) {
    if (std::isalnum(b)) return std::string(1, char(b));
    return fmt::format("\\x{{{:02x}}}", b);
  }

  // One byte that means itself.
  void literal(char c) {
    auto b = static_cast<unsigned char>(c);
    if (std::isalnum(b) || b == ' ' || b == '_' || b >= 0x80) {
      out_ += c;
    } else if (b < 0x20 || b == 0x7f) {
      out_ += fmt::format("\\x{{{:02x}}}", b);
    } else {
      out_ += '\\';
      out_ += c;
    }
  }

  std::string_view re_;
  int max_groups_;
  std::size_t at_ = 0;
  int groups_ = 0;
  bool any_byte_ = false;
  std::string out_;
};

}  // namespace

Result<std::string> ctestRegexToRe2(std::string_view ctest_re, int max_groups) {
  return Translator(ctest_re, max_groups).run();
}

}  // namespace mpexec
