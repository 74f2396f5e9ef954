#include "sync-service/http_request.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace mpexec::sync {

namespace {

constexpr size_t kMaxChunkLine = 1024;  // a chunk size and its extensions
constexpr size_t kMaxTrailer = 16u << 10;

// RFC 9110's tchar. (strchr() alone would take a NUL: it finds the one that ends the string.)
bool isTchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

bool isToken(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), isTchar); }

char lower(char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> splitList(std::string_view s) {
  std::vector<std::string_view> out;
  for (size_t pos = 0;;) {
    size_t comma = s.find(',', pos);
    out.push_back(trim(s.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos)));
    if (comma == std::string_view::npos) return out;
    pos = comma + 1;
  }
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool percentDecode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hexValue(in[i + 1]), lo = hexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      *out += char(hi * 16 + lo);
      i += 2;
    } else {
      *out += plus_is_space && c == '+' ? ' ' : c;
    }
  }
  return true;
}

std::string sizeText(size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

// Bytes a client sent, for an error message (which reaches logs and terminals): printable ASCII as it is,
// any other byte as \xNN.
std::string visibleBytes(std::string_view bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out += c;
    } else {
      out += {'\\', 'x', kHex[u >> 4], kHex[u & 15]};
    }
  }
  return out;
}

// A header's name for an error message: it is a token already, only its length is bounded.
std::string fieldName(std::string_view name) { return std::string(name.substr(0, 64)); }

bool fail(HttpError* error, int status, std::string message) {
  error->status = status;
  error->message = std::move(message);
  return false;
}

// The request target: origin-form ("/path?query"), absolute-form ("http://host/path?query") or "*".
bool parseTarget(std::string_view target, RequestHead* out, HttpError* error) {
  for (char c : target) {
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e || c == '#')
      return fail(error, 400,
                  "the request target holds a byte that is not printable ASCII or is '#': percent-encode it");
  }
  if (target == "*") {
    out->path = "*";
    return true;
  }
  if (target.empty() || target[0] != '/') {
    size_t scheme_end = target.find("://");
    std::string_view scheme = target.substr(0, scheme_end);
    if (scheme_end == std::string_view::npos || !(iequals(scheme, "http") || iequals(scheme, "https")))
      return fail(error, 400, "the request target must be a path (/v1/...) or an http:// URL");
    target.remove_prefix(scheme_end + 3);
    size_t path_start = target.find_first_of("/?");
    target = path_start == std::string_view::npos ? std::string_view("/") : target.substr(path_start);
  }
  size_t question = target.find('?');
  std::string_view path = target.substr(0, question);
  if (path.empty()) path = "/";
  if (!percentDecode(path, false, &out->path)) return fail(error, 400, "bad percent-encoding in the request path");
  if (question == std::string_view::npos) return true;
  std::string_view query = target.substr(question + 1);
  for (size_t pos = 0; pos <= query.size();) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view pair = query.substr(pos, amp - pos);
    pos = amp + 1;
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string key, value;
    if (!percentDecode(pair.substr(0, eq), true, &key) ||
        (eq != std::string_view::npos && !percentDecode(pair.substr(eq + 1), true, &value)))
      return fail(error, 400, "bad percent-encoding in the query");
    out->query.emplace(std::move(key), std::move(value));
  }
  return true;
}

}  // namespace

size_t findHeadEnd(std::string_view buffer, size_t* scanned) {
  size_t start = 0;
  // Empty lines before the request line (a CRLF some clients send after a body) do not end the head.
  while (true) {
    if (buffer.substr(start, 2) == "\r\n") {
      start += 2;
    } else if (buffer.substr(start, 1) == "\n") {
      start += 1;
    } else {
      break;
    }
  }
  for (size_t i = std::max(start, *scanned); i < buffer.size(); ++i) {
    if (buffer[i] != '\n') continue;
    // A line ended at i: the head ends if the next line is empty.
    if (i + 1 >= buffer.size() || (buffer[i + 1] == '\r' && i + 2 >= buffer.size())) {
      *scanned = i;  // not yet known: look here again when more has arrived
      return std::string_view::npos;
    }
    if (buffer[i + 1] == '\n') return i + 2;
    if (buffer[i + 1] == '\r' && buffer[i + 2] == '\n') return i + 3;
  }
  *scanned = buffer.size();
  return std::string_view::npos;
}

bool headOverLimit(std::string_view buffer, const RequestLimits& limits, HttpError* error) {
  size_t start = buffer.find_first_not_of("\r\n");
  if (start == std::string_view::npos) start = buffer.size();
  size_t line_end = buffer.find('\n', start);
  size_t line = (line_end == std::string_view::npos ? buffer.size() : line_end) - start;
  if (line > limits.max_line) return !fail(error, 414, "request line over " + sizeText(limits.max_line));
  if (buffer.size() > limits.max_head)
    return !fail(error, 431, "request head over " + sizeText(limits.max_head));
  return false;
}

bool parseHead(std::string_view head, const RequestLimits& limits, RequestHead* out, HttpError* error) {
  *out = RequestHead{};
  if (head.size() > limits.max_head) return fail(error, 431, "request head over " + sizeText(limits.max_head));
  std::vector<std::string_view> lines;
  for (size_t pos = 0; pos < head.size();) {
    size_t nl = head.find('\n', pos);
    if (nl == std::string_view::npos) nl = head.size();
    std::string_view line = head.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find('\r') != std::string_view::npos)
      return fail(error, 400, "a CR that does not end a line in the request head");
    lines.push_back(line);
    pos = nl + 1;
  }
  size_t first = 0;
  while (first < lines.size() && lines[first].empty()) ++first;
  if (first == lines.size()) return fail(error, 400, "no request line");

  std::string_view request_line = lines[first];
  if (request_line.size() > limits.max_line)
    return fail(error, 414, "request line over " + sizeText(limits.max_line));
  size_t sp1 = request_line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : request_line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || request_line.find(' ', sp2 + 1) != std::string_view::npos)
    return fail(error, 400, "malformed request line: want METHOD TARGET HTTP/1.1, separated by single spaces");
  std::string_view method = request_line.substr(0, sp1);
  std::string_view target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = request_line.substr(sp2 + 1);
  if (!isToken(method)) return fail(error, 400, "malformed method in the request line");
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' || version[5] < '0' ||
      version[5] > '9' || version[7] < '0' || version[7] > '9')
    return fail(error, 400, "malformed HTTP version in the request line");
  if (version[5] != '1')
    return fail(error, 505, "HTTP/" + std::string(version.substr(5)) + " is not supported: this service speaks HTTP/1.1");
  out->method = method;
  out->minor_version = version[7] == '0' ? 0 : 1;
  if (!parseTarget(target, out, error)) return false;

  bool has_length = false, has_authorization = false, close = false, keep_alive = false;
  std::string transfer_encoding;
  bool has_transfer_encoding = false;
  size_t fields = 0;
  for (size_t i = first + 1; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (line.empty()) break;  // the blank line that ends the head
    if (line[0] == ' ' || line[0] == '\t') return fail(error, 400, "obsolete line folding in the request head");
    if (++fields > limits.max_fields)
      return fail(error, 431, "more than " + std::to_string(limits.max_fields) + " header fields");
    size_t colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    if (colon == std::string_view::npos || !isToken(name))
      return fail(error, 400, "malformed header field (want NAME: VALUE, no space before the colon) on line " +
                                  std::to_string(i - first + 1));
    std::string_view value = trim(line.substr(colon + 1));
    for (char c : value) {
      auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7f)
        return fail(error, 400, "a control character in the value of header " + fieldName(name));
    }
    if (iequals(name, "Content-Length")) {
      if (has_length) return fail(error, 400, "more than one Content-Length");
      has_length = true;
      if (value.empty() || !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return fail(error, 400, "Content-Length must be one decimal number of bytes, got '" +
                                    visibleBytes(value.substr(0, 32)) + "'");
      uint64_t n = 0;
      for (char c : value) {
        if (n > (UINT64_MAX - 9) / 10) {
          n = UINT64_MAX;  // over any limit
          break;
        }
        n = n * 10 + uint64_t(c - '0');
      }
      out->content_length = n;
    } else if (iequals(name, "Transfer-Encoding")) {
      if (has_transfer_encoding) transfer_encoding += ",";
      transfer_encoding += value;
      has_transfer_encoding = true;
    } else if (iequals(name, "Connection")) {
      for (std::string_view option : splitList(value)) {
        if (iequals(option, "close")) close = true;
        if (iequals(option, "keep-alive")) keep_alive = true;
      }
    } else if (iequals(name, "Expect")) {
      // HTTP/1.0 has no 100 Continue: the expectation is ignored (RFC 9110 §10.1.1).
      if (out->minor_version == 0) continue;
      if (!iequals(value, "100-continue")) return fail(error, 417, "only Expect: 100-continue is supported");
      out->expect_continue = true;
    } else if (iequals(name, "Authorization")) {
      if (has_authorization) return fail(error, 400, "more than one Authorization header");
      has_authorization = true;
      out->authorization = value;
    }
  }

  if (has_transfer_encoding) {
    if (has_length) return fail(error, 400, "both Content-Length and Transfer-Encoding (RFC 9112 §6.3)");
    if (out->minor_version == 0) return fail(error, 400, "Transfer-Encoding in an HTTP/1.0 request");
    std::vector<std::string_view> codings = splitList(transfer_encoding);
    for (std::string_view coding : codings) {
      if (coding.empty()) return fail(error, 400, "an empty element in Transfer-Encoding");
    }
    if (!iequals(codings.back(), "chunked")) return fail(error, 400, "the last transfer coding must be chunked");
    if (codings.size() > 1) {
      return fail(error, iequals(codings[0], "chunked") ? 400 : 501,
                  "transfer coding '" + visibleBytes(codings[0].substr(0, 32)) + "' is not supported: send the body "
                  "as it is, with Content-Length or Transfer-Encoding: chunked");
    }
    out->chunked = true;
  }
  out->keep_alive = out->minor_version == 1 ? !close : keep_alive && !close;
  return true;
}

bool bodyOverLimit(const RequestHead& head, const RequestLimits& limits, HttpError* error) {
  if (head.chunked || head.content_length <= limits.max_body) return false;
  return !fail(error, 413, "body over " + sizeText(limits.max_body));
}

BodyReader::BodyReader(const RequestHead& head, size_t max_body)
    : max_body_(max_body), step_(head.chunked ? Step::Size : Step::Length), left_(head.content_length) {
  if (!head.chunked && left_ > max_body_) fail(413, "body over " + sizeText(max_body_));
  if (!head.chunked && left_ == 0) state_ = Parse::Done;
}

bool BodyReader::fail(int status, std::string message) {
  state_ = Parse::Failed;
  error_ = {status, std::move(message)};
  return false;
}

size_t BodyReader::feed(std::string_view buffer) {
  size_t used = 0;
  while (state_ == Parse::Incomplete && used < buffer.size()) {
    if (step_ == Step::Length || step_ == Step::Data) {
      size_t take = size_t(std::min<uint64_t>(left_, buffer.size() - used));
      body_.append(buffer.data() + used, take);
      used += take;
      left_ -= take;
      if (left_ == 0 && step_ == Step::Length) state_ = Parse::Done;
      if (left_ == 0 && step_ == Step::Data) step_ = Step::DataEnd;
      continue;
    }
    char c = buffer[used++];
    if (step_ == Step::DataEnd) {
      if (c == '\r' && line_.empty()) {
        line_ = "\r";
      } else if (c == '\n') {
        line_.clear();
        step_ = Step::Size;
      } else {
        fail(400, "chunk data longer than its chunk size (no CRLF after it)");
      }
      continue;
    }
    if (step_ == Step::Trailer && ++trailer_bytes_ > kMaxTrailer) {
      fail(431, "chunked trailer over " + sizeText(kMaxTrailer));
      continue;
    }
    if (c != '\n') {
      line_ += c;
      if (step_ == Step::Size && line_.size() > kMaxChunkLine) fail(400, "chunk-size line over 1 KiB");
      continue;
    }
    std::string_view line = line_;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find('\r') != std::string_view::npos) {
      fail(400, "a CR that does not end a line in the chunked body");
      continue;
    }
    if (step_ == Step::Trailer) {
      if (line.empty()) state_ = Parse::Done;
      line_.clear();
      continue;
    }
    size_t digits = 0;
    uint64_t size = 0;
    while (digits < line.size() && hexValue(line[digits]) >= 0) {
      if (digits == 16) break;
      size = size * 16 + uint64_t(hexValue(line[digits]));
      ++digits;
    }
    std::string_view rest = trim(line.substr(digits));
    if (digits == 0 || (digits < line.size() && hexValue(line[digits]) >= 0) || (!rest.empty() && rest[0] != ';')) {
      fail(400, "bad chunk size '" + visibleBytes(line.substr(0, 32)) + "': want hexadecimal digits");
      continue;
    }
    line_.clear();
    if (size == 0) {
      step_ = Step::Trailer;
    } else if (size > max_body_ - body_.size()) {
      fail(413, "body over " + sizeText(max_body_));
    } else {
      step_ = Step::Data;
      left_ = size;
    }
  }
  return used;
}

}  // namespace mpexec::sync
