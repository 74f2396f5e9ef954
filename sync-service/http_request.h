#pragma once
// One HTTP/1.1 request as it arrives on a connection (RFC 9112): the head, parsed strictly and within
// limits, then the body, framed by Content-Length or chunked transfer coding and never more than a limit.
// No sockets here: the front (sync-service/http.cc) feeds bytes in and decides what to do between the head
// and the body (authenticate, wait for a place, send 100 Continue).

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace mpexec::sync {

struct RequestLimits {
  size_t max_line = 8u << 10;   ///< the request line; longer: 414
  size_t max_head = 16u << 10;  ///< request line and header fields together; more: 431
  size_t max_fields = 100;      ///< header fields; more: 431
  size_t max_body = 1u << 20;   ///< the body, however it is framed; more: 413
};

/// Why a request is refused: an HTTP status and a message for {"error": ...}. After any of these the
/// connection's framing is unknown, so it must close.
struct HttpError {
  int status = 0;
  std::string message;
};

struct RequestHead {
  std::string method;
  std::string path;  ///< percent-decoded, without the query
  std::map<std::string, std::string> query;  ///< percent-decoded; the first of repeated parameters wins
  int minor_version = 1;                     ///< HTTP/1.0 or HTTP/1.1
  std::string authorization;                 ///< "" when absent
  bool chunked = false;                      ///< Transfer-Encoding: chunked
  uint64_t content_length = 0;               ///< when not chunked; 0 without the field, UINT64_MAX past it
  bool keep_alive = true;                    ///< false: Connection: close, or HTTP/1.0 without keep-alive
  bool expect_continue = false;              ///< Expect: 100-continue

  bool hasBody() const { return chunked || content_length > 0; }
};

enum class Parse { Incomplete, Done, Failed };

/// The end of a request head in `buffer` (one past the blank line that ends it), or npos when it has not
/// all arrived. Empty lines before the request line are part of the head (RFC 9112 §2.2 lets a server
/// ignore them). `*scanned` remembers how far earlier calls looked, so a head that trickles in is not
/// scanned again from its start; pass 0 for a new request.
size_t findHeadEnd(std::string_view buffer, size_t* scanned);

/// Whether a head that has not ended within `buffer` is already over a limit: 414 when its request line
/// is, 431 when the head is.
bool headOverLimit(std::string_view buffer, const RequestLimits& limits, HttpError* error);

/// Parses a complete head (as delimited by findHeadEnd). Lines end with CRLF or a bare LF; a CR anywhere
/// else, obsolete line folding, whitespace before a field's colon, a request with both Content-Length and
/// Transfer-Encoding, a Content-Length that is not one plain decimal number, a transfer coding other than
/// chunked, and a target that is not ASCII are refused.
bool parseHead(std::string_view head, const RequestLimits& limits, RequestHead* out, HttpError* error);

/// Whether a Content-Length is over max_body (413), known before any of the body is read. A chunked body's
/// size is known only as it arrives: BodyReader refuses it there.
bool bodyOverLimit(const RequestHead& head, const RequestLimits& limits, HttpError* error);

/// The body of one request, fed as its bytes arrive.
class BodyReader {
 public:
  BodyReader(const RequestHead& head, size_t max_body);

  /// Takes what belongs to the body from the start of `buffer` and returns how many bytes it took (the
  /// rest is the next request). Afterwards state() says whether the body is complete.
  size_t feed(std::string_view buffer);
  Parse state() const { return state_; }
  const HttpError& error() const { return error_; }
  std::string& body() { return body_; }

 private:
  enum class Step { Length, Size, Data, DataEnd, Trailer };
  bool fail(int status, std::string message);

  size_t max_body_;
  Step step_;
  uint64_t left_ = 0;  ///< bytes left of the body (Length) or of the current chunk (Data)
  std::string line_;   ///< a chunk-size or trailer line so far
  size_t trailer_bytes_ = 0;
  std::string body_;
  Parse state_ = Parse::Incomplete;
  HttpError error_;
};

}  // namespace mpexec::sync
