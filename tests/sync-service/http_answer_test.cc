// What the HTTP front's answers say: heads, error bodies, and an answer sent in the pieces a socket takes.

#include "sync-service/http_answer.h"

#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

namespace mpexec::sync {
namespace {

TEST(HttpAnswerTest, HeadsSayLengthAllowRetryAndConnection) {
  Reply r{405, R"({"error":"x"})", "GET, PUT"};
  r.retry_after = 2;
  EXPECT_EQ(answerHead(r, Connection::KeepAlive),
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\nContent-Length: 13\r\n"
            "Allow: GET, PUT\r\nRetry-After: 2\r\n\r\n");
  Reply ok{200, "{}"};
  EXPECT_EQ(answerHead(ok, Connection::Close),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(answerHead(ok, Connection::KeepAliveHttp10),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_STREQ(reasonPhrase(599), "Status");
}

TEST(HttpAnswerTest, ErrorBodiesAreJsonWhateverTheMessageQuotes) {
  EXPECT_EQ(errorBody("bad \"x\" \\ y"), R"({"error":"bad \"x\" \\ y"})");
  EXPECT_EQ(errorBody(std::string("a\0b\xff\n", 5)), R"({"error":"a%00b%FF%0A"})");
}

TEST(HttpAnswerTest, AnAnswerIsSentWholeThroughASocketThatTakesLittle) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
  int small = 4096;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  std::string body(100000, 'b');
  OutgoingAnswer a;
  a.start("HEAD\r\n", body, nullptr);
  std::string got;
  char buf[8192];
  while (!a.done()) {
    ASSERT_TRUE(a.send(sv[0]));
    for (ssize_t n; (n = recv(sv[1], buf, sizeof buf, MSG_DONTWAIT)) > 0;) got.append(buf, size_t(n));
  }
  for (ssize_t n; (n = recv(sv[1], buf, sizeof buf, MSG_DONTWAIT)) > 0;) got.append(buf, size_t(n));
  EXPECT_EQ(got, "HEAD\r\n" + body);
  EXPECT_EQ(a.sent(), got.size());
  close(sv[0]);
  close(sv[1]);
}

}  // namespace
}  // namespace mpexec::sync
