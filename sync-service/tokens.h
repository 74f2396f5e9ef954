#pragma once
// Per-unit bearer tokens (DESIGN §5): the token, not any header, says which unit is calling.

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace mpexec::sync {

/// 128 bits from getrandom(2) as 32 lowercase hex digits.
std::string randomToken();

/// Thread-safe map between live units and their tokens.
class Tokens {
 public:
  /// A fresh token for `unit`; an earlier token of the same unit stops working.
  std::string issue(const std::string& unit);
  /// The unit a token belongs to, if the token is live.
  std::optional<std::string> unitOf(std::string_view token) const;
  /// Invalidates the unit's token (no-op when it has none).
  void revoke(const std::string& unit);

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string, std::less<>> unit_by_token_;
  std::map<std::string, std::string> token_by_unit_;
};

}  // namespace mpexec::sync
