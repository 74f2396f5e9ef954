#include "executor/log_names.h"

#include <fmt/format.h>

#include <cctype>
#include <unordered_set>

namespace mpexec {

LogNames::LogNames(const Manifest& m) {
  first_.reserve(m.tests.size());
  std::unordered_set<std::string> used;
  for (size_t i = 0; i < m.tests.size(); ++i) {
    std::string n = m.tests[i].name.substr(0, 200);
    for (char& c : n)
      if (!isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') c = '_';
    if (n.empty() || n[0] == '.') n = "_" + n;  // (not insert(): GCC 12 sees a false -Wrestrict there)
    std::string candidate = n + ".log";
    for (int k = 2; !used.insert(candidate).second; ++k) candidate = fmt::format("{}~{}.log", n, k);
    first_.push_back(std::move(candidate));
  }
}

std::string LogNames::name(size_t t, int attempt) const {
  if (attempt <= 1) return first_[t];
  const std::string& base = first_[t];
  return fmt::format("{}~attempt{}.log", base.substr(0, base.size() - 4), attempt);
}

}  // namespace mpexec
