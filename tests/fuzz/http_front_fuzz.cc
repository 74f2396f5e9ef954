// The sync service's HTTP front (sync-service/http.cc and its parser, http_request.cc) on arbitrary bytes
// from a client. One service runs for the whole fuzzing session, with short timeouts; each input is sent
// on a connection of its own over the Unix socket (TOKEN stands for a unit's token), which is then
// half-closed. The service answers with nothing but whole HTTP/1.1 responses: a status it documents (never
// 500, an exception), a Content-Length, and a body that is one UTF-8 JSON object; and it closes the
// connection within seconds. The request parser reads a head, and a body, the same whole or byte by byte.

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#include <boost/json.hpp>

#include "executor/printable.h"
#include "executor/utf8.h"
#include "sync-service/http.h"
#include "sync-service/http_request.h"
#include "sync-service/server.h"
#include "sync-service/strict_json.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/oracle.h"
#include "tests/support/temp_dir.h"
#include "tests/sync-service/raw_http.h"

namespace mpexec::fuzz {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

struct Running {
  test::TempDir dir;  // destroyed after the service, which removes its run directory below it
  std::unique_ptr<sync::Service> service;
  std::string token;
};

Running& running() {
  static Running r;
  static const bool started = [] {
    sync::ServiceOptions o;
    o.run_dir_parent = r.dir.path();
    o.start_http = &sync::startHttp;
    o.http.request_timeout = 300ms;
    o.http.idle_timeout = 300ms;
    o.http.write_timeout = 1000ms;
    o.http.linger = 50ms;
    o.http.tick = 20ms;
    o.limits.max_wait_seconds = 0.01;
    std::string error;
    r.service = sync::Service::start(o, &error);
    if (!r.service) propertyFailed(__FILE__, __LINE__, "the sync service did not start: " + error);
    r.token = r.service->registerUnit("u0");
    return true;
  }();
  (void)started;
  return r;
}

// Everything the service sends until it closes the connection; none when it has not closed within 5 s.
std::optional<std::string> readToEnd(int fd) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[65536];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return out;
    if (n < 0) continue;
    out.append(buf, std::size_t(n));
  }
  return std::nullopt;
}

// Checks that `stream` is a sequence of whole responses.
void checkResponses(std::string_view stream) {
  static const int kStatuses[] = {100, 200, 400, 401, 404, 405, 408, 409, 413, 414, 417, 429, 431, 501, 503, 505};
  while (!stream.empty()) {
    std::size_t end = stream.find("\r\n\r\n");
    FUZZ_CHECK(end != std::string_view::npos, "a response head that does not end: {}", printable(stream.substr(0, 200)));
    std::string_view head = stream.substr(0, end + 2);
    FUZZ_CHECK(head.starts_with("HTTP/1.1 ") && head.size() > 12, "not a status line: {}", printable(head.substr(0, 100)));
    int status = std::atoi(std::string(head.substr(9, 3)).c_str());
    FUZZ_CHECK(std::find(std::begin(kStatuses), std::end(kStatuses), status) != std::end(kStatuses), "status {}: {}",
               status, printable(head.substr(0, 200)));
    bool ascii = std::all_of(head.begin(), head.end(), [](char c) { return (c >= 0x20 && c < 0x7F) || c == '\r' || c == '\n'; });
    FUZZ_CHECK(ascii, "a response head that is not printable ASCII: {}", printable(head));
    stream.remove_prefix(end + 4);
    if (status == 100) continue;
    std::size_t cl = head.find("\r\nContent-Length: ");
    FUZZ_CHECK(cl != std::string_view::npos, "{} without Content-Length", status);
    std::size_t length = std::strtoul(std::string(head.substr(cl + 18)).c_str(), nullptr, 10);
    // The answer to a HEAD has the length of a body it leaves out; every body here is a JSON object.
    if (length == 0 || !stream.starts_with("{")) continue;
    FUZZ_CHECK(stream.size() >= length, "a body of {} bytes cut at {}", length, stream.size());
    std::string_view body = stream.substr(0, length);
    json::value v;
    std::string error;
    FUZZ_CHECK(isValidUtf8(body) && sync::parseStrictJson(body, &v, &error) && v.is_object(), "{} with body {} ({})",
               status, printable(body), error);
    if (status != 200) FUZZ_CHECK(v.as_object().contains("error"), "{} without \"error\": {}", status, printable(body));
    stream.remove_prefix(length);
  }
}

// The parser reads the input's first request the same whole and byte by byte.
void checkParserInPieces(std::string_view input) {
  sync::RequestLimits limits;
  std::size_t scanned_whole = 0, scanned = 0, end_whole = sync::findHeadEnd(input, &scanned_whole), end = std::string_view::npos;
  for (std::size_t n = 0; n <= input.size() && end == std::string_view::npos; ++n) end = sync::findHeadEnd(input.substr(0, n), &scanned);
  FUZZ_CHECK(end == end_whole, "the head ends at {} read whole, at {} read byte by byte", end_whole, end);
  if (end_whole == std::string_view::npos) return;
  sync::RequestHead head;
  sync::HttpError error;
  if (!sync::parseHead(input.substr(0, end_whole), limits, &head, &error)) {
    FUZZ_CHECK(error.status >= 400 && isPrintable(error.message), "refused with {} {}", error.status, printable(error.message));
    return;
  }
  if (!head.hasBody() || sync::bodyOverLimit(head, limits, &error)) return;
  std::string_view rest = input.substr(end_whole);
  sync::BodyReader whole(head, limits.max_body), pieces(head, limits.max_body);
  std::size_t took_whole = whole.feed(rest), took = 0;
  while (took < rest.size() && pieces.state() == sync::Parse::Incomplete) took += pieces.feed(rest.substr(took, 1));
  FUZZ_CHECK(whole.state() == pieces.state() && took_whole == took, "body read whole: state {} after {} bytes; byte by byte: {} after {}",
             int(whole.state()), took_whole, int(pieces.state()), took);
  if (whole.state() == sync::Parse::Done) {
    FUZZ_CHECK(whole.body() == pieces.body(), "the body differs read whole and byte by byte");
    FUZZ_CHECK(whole.body().size() <= limits.max_body, "a body of {} bytes", whole.body().size());
  }
  if (whole.state() == sync::Parse::Failed) FUZZ_CHECK(isPrintable(whole.error().message), "refused: {}", printable(whole.error().message));
}

std::string withToken(std::string_view input, const std::string& token) {
  std::string s(input);
  for (std::size_t at = s.find("TOKEN"); at != std::string::npos; at = s.find("TOKEN", at + token.size())) s.replace(at, 5, token);
  return s;
}

}  // namespace
}  // namespace mpexec::fuzz

using namespace mpexec;
using namespace mpexec::fuzz;

MPEXEC_FUZZ_TARGET(http_front) {
  checkParserInPieces(input);
  Running& r = running();
  sync::RawConnection c(r.service->socketPath(), 0, 5);
  FUZZ_CHECK(c.connected(), "cannot connect to the sync service");
  c.send(withToken(input, r.token));  // the service may close before all of it is sent
  shutdown(c.fd(), SHUT_WR);
  auto stream = readToEnd(c.fd());
  FUZZ_CHECK(stream.has_value(), "the service did not close the connection within 5 s");
  checkResponses(*stream);
}
