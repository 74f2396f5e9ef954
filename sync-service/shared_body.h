#pragma once
// An answer's body that is not copied for the answer: pieces of immutable text that the service already
// holds (a board entry, a listing of the board), which the HTTP front writes to the socket as they are.
// Every connection that sends it holds a reference; the text lives until the last one has been sent.

#include <cstddef>
#include <string_view>

namespace mpexec::sync {

class SharedBody {
 public:
  virtual ~SharedBody() = default;
  virtual size_t pieces() const = 0;
  /// Piece `i` < pieces(); the view stays valid for as long as the body lives.
  virtual std::string_view piece(size_t i) const = 0;
  /// The sum of the pieces' sizes.
  virtual size_t size() const = 0;
};

}  // namespace mpexec::sync
