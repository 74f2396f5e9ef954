#include "sync-service/http_request.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mpexec::sync {
namespace {

using namespace std::string_literals;

struct Parsed {
  bool ok = false;
  RequestHead head;
  HttpError error;
};

Parsed parse(const std::string& text, RequestLimits limits = {}) {
  Parsed p;
  size_t scanned = 0;
  size_t end = findHeadEnd(text, &scanned);
  if (end == std::string::npos) {
    p.error = {0, "incomplete"};
    return p;
  }
  p.ok = parseHead(std::string_view(text).substr(0, end), limits, &p.head, &p.error);
  return p;
}

int statusOf(const std::string& text) {
  Parsed p = parse(text);
  return p.ok ? 200 : p.error.status;
}

/// What a request's bytes get: 200 (parsed) or a refusal's status; `why` when the case is not plain.
struct Expected {
  std::string bytes;
  int status;
  const char* why = "";
};

void expectStatuses(const std::vector<Expected>& table) {
  for (const Expected& e : table) EXPECT_EQ(statusOf(e.bytes), e.status) << e.why << "\n" << e.bytes;
}

TEST(HttpRequestTest, ParsesARequestHead) {
  Parsed p = parse("PUT /v1/board/a%2Fb?wait=1.5&after=3&wait=9&x=a+b HTTP/1.1\r\nHost: mpexec\r\n"
                   "authorization:   Bearer abc  \r\nContent-Length: 12\r\n\r\n");
  ASSERT_TRUE(p.ok) << p.error.message;
  EXPECT_EQ(p.head.method, "PUT");
  EXPECT_EQ(p.head.path, "/v1/board/a/b");
  EXPECT_EQ(p.head.query.at("wait"), "1.5") << "the first of repeated parameters wins";
  EXPECT_EQ(p.head.query.at("after"), "3");
  EXPECT_EQ(p.head.query.at("x"), "a b");
  EXPECT_EQ(p.head.authorization, "Bearer abc");
  EXPECT_EQ(p.head.content_length, 12u);
  EXPECT_FALSE(p.head.chunked);
  EXPECT_TRUE(p.head.keep_alive);
}

TEST(HttpRequestTest, FindsTheEndOfAHeadAsItTrickles) {
  std::string head = "\r\nGET /v1/health HTTP/1.1\nHost: x\r\n\n";
  std::string buffer;
  size_t scanned = 0;
  size_t end = std::string::npos;
  for (char c : head) {
    buffer += c;
    end = findHeadEnd(buffer, &scanned);
    if (end != std::string::npos) break;
  }
  EXPECT_EQ(end, head.size()) << "bare LF line ends, and an empty line before the request line";
  EXPECT_EQ(findHeadEnd(head + "GET /next", &(scanned = 0)), head.size()) << "the next request is not part of it";
  Parsed p = parse(head);
  ASSERT_TRUE(p.ok) << p.error.message;
  EXPECT_EQ(p.head.path, "/v1/health");
}

TEST(HttpRequestTest, VersionsAndConnections) {
  Parsed p = parse("GET / HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.head.minor_version, 0);
  EXPECT_FALSE(p.head.keep_alive) << "HTTP/1.0 closes unless asked";
  p = parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  EXPECT_TRUE(p.head.keep_alive);
  p = parse("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n");
  EXPECT_FALSE(p.head.keep_alive);
  expectStatuses({
      {"GET / HTTP/2.0\r\n\r\n", 505},
      {"GET / HTTP/0.9\r\n\r\n", 505},
      {"GET / HTTP/1.1x\r\n\r\n", 400},
      {"GET / http/1.1\r\n\r\n", 400},
      {"GET /\r\n\r\n", 400, "HTTP/0.9's request line"},
      {"GET  / HTTP/1.1\r\n\r\n", 400},
      {"G(T / HTTP/1.1\r\n\r\n", 400},
  });
}

TEST(HttpRequestTest, TargetForms) {
  Parsed p = parse("GET http://mpexec/v1/board?wait=1 HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(p.ok) << p.error.message;
  EXPECT_EQ(p.head.path, "/v1/board");
  EXPECT_EQ(p.head.query.at("wait"), "1");
  p = parse("GET HTTP://mpexec HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.head.path, "/");
  EXPECT_EQ(parse("OPTIONS * HTTP/1.1\r\n\r\n").head.path, "*");
  expectStatuses({
      {"CONNECT mpexec:80 HTTP/1.1\r\n\r\n", 400},
      {"GET /v1/board/%zz HTTP/1.1\r\n\r\n", 400},
      {"GET /v1/board/% HTTP/1.1\r\n\r\n", 400},
      {"GET /v1/board/x?wait=%1 HTTP/1.1\r\n\r\n", 400},
      {"GET /v1/board/\xff\xfe HTTP/1.1\r\n\r\n", 400, "raw bytes that are not ASCII"},
      {"GET /v1/board/a#b HTTP/1.1\r\n\r\n", 400},
      {"GET /v1/\x01 HTTP/1.1\r\n\r\n", 400},
  });
  // Percent-encoded, any byte reaches the endpoints, which judge the name.
  p = parse("GET /v1/board/%FF%00 HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.head.path, std::string("/v1/board/\xff\0", 12));
}

TEST(HttpRequestTest, FramingThatCouldBeReadTwoWaysIsRefused) {
  expectStatuses({
      {"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\n", 400, "space before the colon"},
      {"POST / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400, "obsolete line folding"},
      {"POST / HTTP/1.1\r\nX: a\rb\r\n\r\n", 400, "a bare CR"},
      {"POST / HTTP/1.1\r\nX: a\0b\r\n\r\n"s, 400, "a NUL in a value"},
      {"POST / HTTP/1.1\r\nno colon\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: ,chunked\r\n\r\n", 400},
      {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n", 400},
  });
  Parsed p = parse("POST / HTTP/1.1\r\ntransfer-encoding: Chunked\r\n\r\n");
  ASSERT_TRUE(p.ok);
  EXPECT_TRUE(p.head.chunked);
  EXPECT_TRUE(p.head.hasBody());
}

TEST(HttpRequestTest, LimitsOnTheHead) {
  RequestLimits limits;
  limits.max_line = 100;
  limits.max_head = 300;
  limits.max_fields = 3;
  HttpError error;
  EXPECT_FALSE(headOverLimit("GET /" + std::string(90, 'a'), limits, &error));
  EXPECT_TRUE(headOverLimit("GET /" + std::string(200, 'a'), limits, &error));
  EXPECT_EQ(error.status, 414);
  EXPECT_TRUE(headOverLimit("GET / HTTP/1.1\r\nX: " + std::string(400, 'a'), limits, &error));
  EXPECT_EQ(error.status, 431);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", limits).error.status, 431);
  EXPECT_TRUE(parse("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits).ok);
  for (const char* length : {"1048577", "99999999999999999999999999", "18446744073709551615"}) {
    Parsed p = parse("PUT / HTTP/1.1\r\nContent-Length: " + std::string(length) + "\r\n\r\n");
    ASSERT_TRUE(p.ok) << length;
    EXPECT_TRUE(bodyOverLimit(p.head, {}, &error)) << length;
    EXPECT_EQ(error.status, 413);
    EXPECT_EQ(BodyReader(p.head, 1 << 20).state(), Parse::Failed) << length;
  }
  EXPECT_FALSE(bodyOverLimit(parse("PUT / HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n").head, {}, &error));
  EXPECT_EQ(statusOf("PUT / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n"), 200);
  EXPECT_EQ(statusOf("PUT / HTTP/1.1\r\nExpect: something-else\r\n\r\n"), 417);
  EXPECT_EQ(statusOf("PUT / HTTP/1.0\r\nExpect: something-else\r\n\r\n"), 200) << "HTTP/1.0 has no expectations";
}

std::string readBody(const std::string& head_text, const std::string& bytes, size_t max_body, Parse* state,
                     HttpError* error, size_t* used, size_t step = 0) {
  Parsed p = parse(head_text);
  EXPECT_TRUE(p.ok) << p.error.message;
  BodyReader reader(p.head, max_body);
  *used = 0;
  // Fed in pieces of `step` bytes (all at once when 0): chunk sizes and CRLFs split anywhere.
  for (size_t at = 0; at < bytes.size() && reader.state() == Parse::Incomplete;) {
    size_t n = step ? std::min(step, bytes.size() - at) : bytes.size() - at;
    size_t took = reader.feed(std::string_view(bytes).substr(at, n));
    *used += took;
    at += took;
    if (took < n) break;
  }
  *state = reader.state();
  *error = reader.error();
  return reader.body();
}

TEST(HttpRequestTest, ChunkedBodies) {
  std::string head = "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (size_t step : {size_t(0), size_t(1), size_t(3)}) {
    Parse state;
    HttpError error;
    size_t used;
    std::string body = readBody(head, "4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: x\r\n\r\nNEXT",
                                1 << 20, &state, &error, &used, step);
    EXPECT_EQ(state, Parse::Done) << error.message;
    EXPECT_EQ(body, "Wikipedia in\r\n\r\nchunks.");
    EXPECT_EQ(used, 55u) << "the next request is left";
  }
  struct Refused {
    std::string bytes;
    int status;
    const char* why = "";
    size_t max_body = 1 << 20;
  };
  const std::vector<Refused> refused = {
      {"x\r\n", 400},
      {"-1\r\n", 400},
      {"4 x\r\n", 400},
      {"0x4\r\n", 400},
      {"\r\n", 400},
      {"11111111111111111\r\n", 400, "seventeen hex digits"},
      {"ffffffffffffffff\r\n", 413},
      {"4\r\nWikipedia\r\n", 400, "more data than the chunk size"},
      {"4\r\nWi\rki\r\n", 400},
      {std::string(2000, '0') + "1\r\n", 400, "a chunk-size line without end"},
      {"400\r\n" + std::string(1024, 'x') + "\r\n400\r\n", 413, "over the body's limit", 1500},
      {"0\r\n" + std::string(20000, 'x'), 431, "a trailer without end"},
  };
  for (const Refused& r : refused) {
    Parse state;
    HttpError error;
    size_t used;
    readBody(head, r.bytes, r.max_body, &state, &error, &used);
    EXPECT_EQ(state, Parse::Failed) << r.why << "\n" << r.bytes;
    EXPECT_EQ(error.status, r.status) << r.why << "\n" << r.bytes;
  }
  // Content-Length framing stops at the length.
  Parse state;
  HttpError error;
  size_t used;
  EXPECT_EQ(readBody("PUT / HTTP/1.1\r\nContent-Length: 3\r\n\r\n", "abcGET", 10, &state, &error, &used), "abc");
  EXPECT_EQ(state, Parse::Done);
  EXPECT_EQ(used, 3u);
}

// A token (a method, a header's name) is RFC 9110's tchar only: a NUL byte is none, though strchr() finds
// one at the end of every C string.
TEST(HttpRequestTest, ANulIsNoTokenCharacter) {
  using namespace std::string_literals;
  EXPECT_EQ(statusOf("GET\0 /v1/health HTTP/1.1\r\n\r\n"s), 400);
  Parsed p = parse("PUT /v1/board/c HTTP/1.1\r\nAuthori\0zation: Bearer x\0\r\n\r\n"s);
  EXPECT_FALSE(p.ok);
  EXPECT_EQ(p.error.status, 400);
  EXPECT_EQ(p.error.message, "malformed header field (want NAME: VALUE, no space before the colon) on line 2");
}

// A refusal's message quotes what the client sent: every byte of it printable ASCII, whatever was sent.
TEST(HttpRequestTest, ABadChunkSizeIsQuotedPrintable) {
  Parsed p = parse("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  ASSERT_TRUE(p.ok) << p.error.message;
  BodyReader reader(p.head, 1 << 20);
  reader.feed("5\xff\xfe\x1b[2J\x7f%\r\n");
  ASSERT_EQ(reader.state(), Parse::Failed);
  const std::string& m = reader.error().message;
  for (char c : m) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "byte " << int(static_cast<unsigned char>(c)) << " in " << m;
  EXPECT_NE(m.find("5\\xff\\xfe\\x1b[2J\\x7f%"), std::string::npos) << m;
}

// The same for what a header's value holds: bytes from 0x80 up are no control characters, and reach the
// message of a refused Content-Length or Transfer-Encoding.
TEST(HttpRequestTest, ARefusedHeaderValueIsQuotedPrintable) {
  for (const char* head : {"PUT / HTTP/1.1\r\nContent-Length: \xff\xfe" "1\r\n\r\n",
                           "PUT / HTTP/1.1\r\nTransfer-Encoding: \xff\xfezip, chunked\r\n\r\n"}) {
    Parsed p = parse(head);
    ASSERT_FALSE(p.ok) << head;
    for (char c : p.error.message)
      EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "byte " << int(static_cast<unsigned char>(c)) << " in " << p.error.message;
    EXPECT_NE(p.error.message.find("\\xff\\xfe"), std::string::npos) << p.error.message;
  }
}

}  // namespace
}  // namespace mpexec::sync
