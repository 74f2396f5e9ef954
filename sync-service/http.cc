// The HTTP/1.1 front of the sync service (sync-service/http.h): an epoll set shared by a few threads.
//
// Each connection is registered EPOLLONESHOT, so one thread at a time reads it, parses what arrived and, once
// a request is complete, answers it on the spot: a board read costs one wake-up, as with a thread per
// connection, but a connection that sends nothing, or a byte at a time, holds no thread. Only a wait blocks
// a thread; when one starts and no thread is left in epoll_wait, one more is started (WaiterLimit tells),
// so there is always one to read the next request. Deadlines are checked on a timer; a connection past one
// is shut down, which wakes its owner to close it.
#include "sync-service/http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "sandbox/unique_fd.h"
#include "sync-service/http_answer.h"

namespace mpexec::sync {

namespace {

// epoll data for the front's own descriptors; connections carry their Conn pointer.
constexpr uint64_t kListener = 1, kTimer = 2, kWake = 3;
constexpr size_t kKeptBuffer = 4096;
constexpr size_t kCopiedBody = 16u << 10;  // a larger body is sent from its own string, not copied after the head
constexpr size_t kReadPerEvent = 256u << 10;  // then others get their turn
constexpr int kIdleThreadMs = 30000;
constexpr int kLingerMs = 2;

// Sends what is left of `out` after `*sent` without blocking. False when the connection failed; true when
// all went, or the rest must wait for the socket to drain.
bool sendSome(int fd, const std::string& out, size_t* sent) {
  while (*sent < out.size()) {
    ssize_t n = send(fd, out.data() + *sent, out.size() - *sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      *sent += size_t(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
  }
  return true;
}

enum class Phase {
  Idle,      ///< no byte of a request yet: closed after idle_timeout, or evicted
  Head,      ///< a request head is arriving: 408 after request_timeout
  Body,      ///< its body is arriving: 408 after request_timeout
  Parked,    ///< complete head, waiting for a place among its unit's requests
  Handling,  ///< the handler runs (a wait may block it)
  Writing,   ///< the answer waits for the client to take it: closed after write_timeout
  Draining,  ///< refused and answered: what the client still sends is dropped, for at most `linger`
};

struct UnitState;

struct Conn {
  int fd = -1;
  std::string peer;  ///< the TCP address; "" on a Unix socket
  Clock::time_point opened;

  // The thread that owns the connection (the one its event woke, or the one handling it) alone uses these.
  std::string in;
  size_t scanned = 0;
  std::optional<RequestHead> head;
  std::optional<BodyReader> body;
  OutgoingAnswer out;
  size_t charged = 0;                ///< of its unit's AnswerBudget, given back once `out` is sent
  AnswerBudget* charged_to = nullptr;
  bool close_after = false;   ///< close once `out` is sent
  bool linger_after = false;  ///< ... draining first
  size_t drained = 0;         ///< bytes dropped since the connection started draining

  // Under Front::mu_.
  Phase phase = Phase::Idle;
  Clock::time_point deadline;
  Clock::time_point last_used;
  UnitState* unit = nullptr;  ///< the unit it counts for; null: anonymous (no valid token yet)
  bool holds_place = false;   ///< one of its unit's max_unit_requests places
  size_t body_bytes = 0;      ///< what its request's body counts against max_unit_body_bytes
  bool body_held = false;     ///< ... and whether the unit counts it now
  bool evicting = false;      ///< shut down by a cap or a deadline: its owner closes it without a word
  std::atomic<bool> timed_out{false};  ///< its request is late: its owner answers 408
};

struct UnitState {
  UnitState(size_t waits, std::function<void(bool)> blocking, size_t answer_bytes, size_t small_answer)
      : waits(waits, std::move(blocking)), answers(answer_bytes, small_answer) {}
  size_t connections = 0;
  size_t requests = 0;
  size_t body_bytes = 0;  ///< of the requests with a place
  std::deque<Conn*> parked;
  WaiterLimit waits;
  AnswerBudget answers;
};

using Resume = std::vector<Conn*>;

class Front final : public HttpFront {
 public:
  ~Front() override { stop(); }

  bool start(const HttpConfig& config, std::string* error) {
    config_ = config;
    limits_ = config.limits;
    listen_.reset(config.listen_fd);
    if (limits_.max_connections == 0) {
      rlimit r{};
      getrlimit(RLIMIT_NOFILE, &r);
      limits_.max_connections = std::clamp<size_t>(size_t(r.rlim_cur) / 4, 64, 4096);
    }
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    tcp_ = addr.ss_family == AF_INET || addr.ss_family == AF_INET6;
    int flags = fcntl(listen_.get(), F_GETFL);
    fcntl(listen_.get(), F_SETFL, flags | O_NONBLOCK);
    epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
    wake_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    timer_.reset(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    spare_.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(limits_.tick).count();
    itimerspec tick{{time_t(ns / 1000000000), long(ns % 1000000000)}, {time_t(ns / 1000000000), long(ns % 1000000000)}};
    if (!epoll_ || !wake_ || !timer_ || timerfd_settime(timer_.get(), 0, &tick, nullptr) != 0 ||
        !add(listen_.get(), kListener, EPOLLIN | EPOLLONESHOT) || !add(timer_.get(), kTimer, EPOLLIN | EPOLLONESHOT) ||
        !add(wake_.get(), kWake, EPOLLIN)) {
      *error = std::string("the sync service's HTTP front did not start: ") + std::strerror(errno);
      listen_.release();  // still the caller's
      return false;
    }
    cpus_ = std::max(2u, std::thread::hardware_concurrency());
    std::lock_guard lock(mu_);
    spawn();
    started_ = true;
    return true;
  }

  void stop() override {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      if (!started_ || stopping_) return;
      stopping_ = true;
      for (auto& [id, t] : threads_) threads.push_back(std::move(t));
      threads_.clear();
      for (auto& t : retired_) threads.push_back(std::move(t));
      retired_.clear();
    }
    uint64_t one = 1;
    (void)!write(wake_.get(), &one, sizeof one);  // level-triggered: every thread in epoll_wait sees it
    for (auto& t : threads) t.join();
    for (auto& [c, owned] : conns_) close(c->fd);
    conns_.clear();
    units_.clear();
    listen_.reset();
  }

 private:
  bool add(int fd, uint64_t data, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
  }
  void rearm(int fd, uint64_t data, uint32_t events) {
    epoll_event ev{};
    ev.events = events | EPOLLONESHOT;
    ev.data.u64 = data;
    epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev);
  }
  // EPOLLIN also reports the client's end of stream; EPOLLOUT alone while an answer waits, so that a client
  // that has shut its sending side (and not yet read) does not wake us again and again.
  void arm(Conn* c, uint32_t events) {
    epoll_event ev{};
    ev.events = events | EPOLLONESHOT;
    ev.data.ptr = c;
    epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c->fd, &ev);
  }

  // Under mu_: one more thread, which starts by waiting in epoll.
  void spawn() {
    if (stopping_ || threads_.size() >= limits_.max_threads) return;
    for (auto& t : retired_) t.join();  // they hold no lock and have returned, or are about to
    retired_.clear();
    uint64_t id = next_thread_++;
    threads_.emplace(id, std::thread([this, id] { run(id); }));
  }

  // A request is about to block its thread in a wait (true), or is done waiting (false). Someone must be
  // left to read the next request.
  void blocking(bool blocked) {
    std::lock_guard lock(mu_);
    if (!blocked) {
      --waiting_;
      return;
    }
    ++waiting_;
    if (polling_ == 0) spawn();
  }

  // One thread of the front: takes one event at a time, and ends after a while without one if another
  // thread is still there to wait.
  void run(uint64_t id) {
    Resume resume;
    for (;;) {
      epoll_event ev{};
      {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        ++polling_;
      }
      int n = epoll_wait(epoll_.get(), &ev, 1, kIdleThreadMs);
      {
        std::lock_guard lock(mu_);
        --polling_;
        if (stopping_) return;
        if (n == 0 && polling_ > 0) {
          retired_.push_back(std::move(threads_.at(id)));
          threads_.erase(id);
          return;
        }
        // Reading and parsing never block, so one more thread only helps while fewer threads than CPUs
        // are busy; a wait starts one of its own (blocking()), and a lingering thread is not busy.
        if (n > 0 && polling_ == 0 && threads_.size() - waiting_ - lingering_ < cpus_) spawn();
      }
      if (n <= 0) continue;
      if (ev.data.u64 == kWake) return;
      if (ev.data.u64 == kListener) {
        acceptAll();
        rearm(listen_.get(), kListener, EPOLLIN);
      } else if (ev.data.u64 == kTimer) {
        uint64_t ticks;
        (void)!read(timer_.get(), &ticks, sizeof ticks);
        sweep();
        rearm(timer_.get(), kTimer, EPOLLIN);
      } else {
        serve(static_cast<Conn*>(ev.data.ptr), resume);
      }
      // Parked requests of a unit that this thread gave a place to.
      while (!resume.empty()) {
        Conn* c = resume.back();
        resume.pop_back();
        advance(c, resume);
      }
    }
  }

  void acceptAll() {
    for (int i = 0; i < 64; ++i) {
      sockaddr_storage addr{};
      socklen_t len = sizeof addr;
      int fd = accept4(listen_.get(), reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        admit(fd, addr);
        continue;
      }
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        // Out of descriptors: free one for later, and turn this client away rather than leave it in the
        // backlog (the listener would wake us again at once).
        {
          std::lock_guard lock(mu_);
          evictOne(nullptr);
        }
        spare_.reset();
        int late = accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (late >= 0) turnAway(late);
        spare_.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
        if (late >= 0) continue;
      }
      return;
    }
  }

  // A new connection is turned away: 503, closed.
  static void turnAway(int fd) {
    Reply refusal{503, errorBody("the sync service has too many connections open; try again")};
    std::string answer = answerHead(refusal, Connection::Close) + refusal.body;
    size_t sent = 0;
    sendSome(fd, answer, &sent);
    close(fd);
  }

  void admit(int fd, const sockaddr_storage& addr) {
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    if (tcp_) {
      char ip[INET6_ADDRSTRLEN] = "";
      if (addr.ss_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(addr).sin_addr, ip, sizeof ip);
      else
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(addr).sin6_addr, ip, sizeof ip);
      c->peer = ip;
    }
    c->opened = c->last_used = Clock::now();
    c->deadline = c->opened + limits_.idle_timeout;
    Conn* raw = c.get();
    bool full;
    {
      std::lock_guard lock(mu_);
      auto same_peer = anonymous_.find(c->peer);
      if (tcp_ && same_peer != anonymous_.end() && same_peer->second >= limits_.max_anonymous_per_peer)
        evictOne(&c->peer);
      full = conns_.size() - evicting_ >= limits_.max_connections && !evictOne(nullptr);
      if (!full) {
        ++anonymous_[c->peer];
        conns_.emplace(raw, std::move(c));
      }
    }
    if (full) {
      turnAway(fd);  // every connection is in a request: none to make room with
      return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.ptr = raw;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
      Resume none;
      closeConn(raw, none);
    }
  }

  // Under mu_. Makes room for one connection: the oldest draining one, else the oldest anonymous one not in
  // a request (of `peer` when it is given), else the least recently used idle one of the unit holding the
  // most connections. False when there is none of these.
  bool evictOne(const std::string* peer) {
    Conn* victim = nullptr;
    auto consider = [&](bool (*fits)(const Conn*)) {
      for (auto& [c, owned] : conns_) {
        if (c->evicting || (peer && c->peer != *peer) || !fits(c)) continue;
        if (!victim || c->opened < victim->opened) victim = c;
      }
    };
    consider([](const Conn* c) { return c->phase == Phase::Draining; });
    if (!victim) consider([](const Conn* c) { return !c->unit && (c->phase == Phase::Idle || c->phase == Phase::Head); });
    if (!victim && !peer) {
      UnitState* biggest = nullptr;
      for (auto& [id, u] : units_)
        if (!biggest || u->connections > biggest->connections) biggest = u.get();
      victim = biggest ? leastRecentlyUsedIdle(biggest, nullptr) : nullptr;
    }
    if (!victim) return false;
    evict(victim);
    return true;
  }

  Conn* leastRecentlyUsedIdle(UnitState* u, Conn* except) {
    Conn* found = nullptr;
    for (auto& [c, owned] : conns_) {
      if (c->unit != u || c == except || c->evicting || c->phase != Phase::Idle) continue;
      if (!found || c->last_used < found->last_used) found = c;
    }
    return found;
  }

  // Under mu_. Its owner (woken by the shutdown) closes it, and never runs a request from it.
  void evict(Conn* c) {
    c->evicting = true;
    ++evicting_;
    shutdown(c->fd, SHUT_RDWR);
  }

  // The timer: deadlines.
  void sweep() {
    std::lock_guard lock(mu_);
    auto now = Clock::now();
    for (auto& [c, owned] : conns_) {
      if (c->evicting || now < c->deadline) continue;
      switch (c->phase) {
        case Phase::Idle:
        case Phase::Writing:
        case Phase::Draining:
          evict(c);
          break;
        case Phase::Head:
        case Phase::Body:
          if (!c->timed_out.exchange(true)) shutdown(c->fd, SHUT_RD);  // the owner answers 408
          break;
        case Phase::Parked:
        case Phase::Handling:
          break;
      }
    }
  }

  void setPhase(Conn* c, Phase phase, Clock::time_point deadline = Clock::time_point::max()) {
    std::lock_guard lock(mu_);
    c->phase = phase;
    c->deadline = deadline;
  }

  void closeConn(Conn* c, Resume& resume) {
    std::unique_ptr<Conn> owned;
    giveBack(c);
    {
      std::lock_guard lock(mu_);
      if (c->body_held) releaseBody(c, resume);
      if (c->holds_place) releasePlace(c, resume);
      if (c->evicting) --evicting_;
      detach(c);
      auto it = conns_.find(c);
      owned = std::move(it->second);
      conns_.erase(it);
    }
    close(c->fd);  // also takes it out of the epoll set
  }

  // Under mu_: c stops counting for its unit, or as anonymous.
  void detach(Conn* c) {
    if (!c->unit) {
      auto it = anonymous_.find(c->peer);
      if (--it->second == 0) anonymous_.erase(it);
      return;
    }
    --c->unit->connections;
    forgetIfUnused(c->unit);
    c->unit = nullptr;
  }

  void forgetIfUnused(UnitState* u) {
    if (u->connections > 0 || u->requests > 0 || !u->parked.empty() || u->body_bytes > 0) return;
    for (auto it = units_.begin(); it != units_.end(); ++it) {
      if (it->second.get() == u) {
        units_.erase(it);
        return;
      }
    }
  }

  // Under mu_: whether a request whose body counts `body_bytes` can take a place of `u` now.
  bool fits(const UnitState* u, size_t body_bytes) const {
    return u->requests < limits_.max_unit_requests &&
           (body_bytes == 0 || u->body_bytes == 0 || u->body_bytes + body_bytes <= limits_.max_unit_body_bytes);
  }

  // Under mu_: c's request takes a place of its unit, and its body's bytes.
  void takePlace(Conn* c) {
    ++c->unit->requests;
    c->unit->body_bytes += c->body_bytes;
    c->holds_place = true;
    c->body_held = true;
  }

  // Under mu_: the unit's parked requests take the places and bytes that are free now, first come first.
  void admitParked(UnitState* u, Resume& resume) {
    while (!u->parked.empty() && fits(u, u->parked.front()->body_bytes)) {
      Conn* next = u->parked.front();
      u->parked.pop_front();
      takePlace(next);
      resume.push_back(next);
    }
  }

  // Under mu_: c gives back its place.
  void releasePlace(Conn* c, Resume& resume) {
    c->holds_place = false;
    --c->unit->requests;
    admitParked(c->unit, resume);
  }

  // Under mu_: c's request body has been handled (or will never be): its bytes go back to the unit.
  void releaseBody(Conn* c, Resume& resume) {
    c->body_held = false;
    c->unit->body_bytes -= c->body_bytes;
    c->body_bytes = 0;
    admitParked(c->unit, resume);
  }

  // The bytes of c's answer go back to its unit's AnswerBudget.
  static void giveBack(Conn* c) {
    if (c->charged > 0) c->charged_to->give(c->charged);
    c->charged = 0;
    c->charged_to = nullptr;
  }

  enum class Admission { Go, Parked, TooManyConnections };

  // Under mu_: the request on c carries `unit`'s token. c counts for that unit from now on, and takes one of
  // its places or parks.
  Admission admitRequest(Conn* c, const std::string& unit) {
    auto& slot = units_[unit];
    if (!slot)
      slot = std::make_unique<UnitState>(limits_.max_unit_waits, [this](bool blocked) { blocking(blocked); },
                                         limits_.max_unit_answer_bytes, limits_.small_answer);
    UnitState* u = slot.get();
    if (c->unit != u) {
      detach(c);
      c->unit = u;
      ++u->connections;
      if (u->connections > limits_.max_unit_connections) {
        Conn* victim = leastRecentlyUsedIdle(u, c);
        if (!victim) return Admission::TooManyConnections;
        evict(victim);
      }
    }
    c->last_used = Clock::now();
    c->body_bytes = c->head->chunked ? limits_.request.max_body : size_t(c->head->content_length);
    if (u->parked.empty() && fits(u, c->body_bytes)) {
      takePlace(c);
      return Admission::Go;
    }
    c->phase = Phase::Parked;
    c->deadline = Clock::time_point::max();
    u->parked.push_back(c);
    return Admission::Parked;
  }

  // An event on c.
  void serve(Conn* c, Resume& resume) {
    if (evicted(c)) return closeConn(c, resume);
    Phase phase;
    {
      std::lock_guard lock(mu_);
      phase = c->phase;
    }
    if (phase == Phase::Draining) return drain(c, resume);
    if (phase == Phase::Writing) {
      size_t before = c->out.sent();
      if (!c->out.send(c->fd)) return closeConn(c, resume);
      if (!c->out.done()) {
        if (c->out.sent() > before) setPhase(c, Phase::Writing, Clock::now() + limits_.write_timeout);
        return arm(c, EPOLLOUT);
      }
      if (!answered(c, resume)) return;
      return advance(c, resume);
    }
    if (!readSome(c)) {
      if (c->timed_out) return refuse(c, {408, timeoutMessage()}, resume);
      return closeConn(c, resume);
    }
    if (c->timed_out) return refuse(c, {408, timeoutMessage()}, resume);
    advance(c, resume);
  }

  bool evicted(Conn* c) {
    std::lock_guard lock(mu_);
    return c->evicting;
  }

  std::string timeoutMessage() const {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%g", double(limits_.request_timeout.count()) / 1000);
    return std::string("the request (head, or body after its head) did not arrive within ") + seconds + " s";
  }

  // Reads what has arrived, up to what a head may hold or kReadPerEvent. False when the client has gone (or
  // shut its side) and nothing more came.
  bool readSome(Conn* c) {
    char scratch[16384];  // read aside and appended: a buffer holds what arrived, not room for what might
    size_t total = 0;
    for (;;) {
      size_t want = sizeof scratch;
      if (!c->head) {
        if (c->in.size() > limits_.request.max_head) break;
        want = std::min(want, limits_.request.max_head + 1 - c->in.size());
      }
      ssize_t n = recv(c->fd, scratch, want, 0);
      if (n > 0) {
        c->in.append(scratch, size_t(n));
        total += size_t(n);
        if (size_t(n) < want || total >= kReadPerEvent) break;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      } else {
        return total > 0;  // the end of the stream comes back at the next event
      }
    }
    return true;
  }

  // Serves the requests in c->in, in order, until one needs more bytes (c is armed), parks, waits for the
  // client to take an answer, or the connection closes.
  void advance(Conn* c, Resume& resume) {
    bool answered_one = false;
    for (;;) {
      if (!c->head) {
        if (c->in.empty()) {
          // An idle connection keeps no buffer: hundreds of them cost little more than their descriptors.
          if (c->in.capacity() > kKeptBuffer) std::string().swap(c->in);
          setPhase(c, Phase::Idle, Clock::now() + limits_.idle_timeout);
          if (answered_one && lingerForNext(c)) {
            if (evicted(c) || !readSome(c)) return closeConn(c, resume);
            continue;
          }
          return arm(c, EPOLLIN);
        }
        {
          std::lock_guard lock(mu_);
          if (c->phase != Phase::Head) {  // the first byte of a request
            c->phase = Phase::Head;
            c->deadline = Clock::now() + limits_.request_timeout;
          }
        }
        size_t end = findHeadEnd(c->in, &c->scanned);
        HttpError error;
        if (end == std::string::npos) {
          if (headOverLimit(c->in, limits_.request, &error)) return refuse(c, error, resume);
          return arm(c, EPOLLIN);
        }
        RequestHead head;
        if (!parseHead(std::string_view(c->in).substr(0, end), limits_.request, &head, &error))
          return refuse(c, error, resume);
        c->in.erase(0, end);
        c->scanned = 0;
        std::optional<std::string> unit = config_.authorize(head.authorization);
        bool has_body = head.hasBody();
        c->head = std::move(head);
        if (!unit && has_body)
          return refuse(c, {401, "missing or invalid bearer token (the body was not read)"}, resume);
        if (bodyOverLimit(*c->head, limits_.request, &error)) return refuse(c, error, resume);
        if (unit) {
          Admission a;
          {
            std::lock_guard lock(mu_);
            a = admitRequest(c, *unit);
          }
          if (a == Admission::TooManyConnections)
            return refuse(c, {429, "the unit has " + std::to_string(limits_.max_unit_connections) +
                                       " connections to the sync service open already, none of them idle"},
                          resume);
          if (a == Admission::Parked) return;  // a request of the same unit that ends resumes it
        }
      }
      if (!c->body) {
        c->body.emplace(*c->head, limits_.request.max_body);
        setPhase(c, Phase::Body, Clock::now() + limits_.request_timeout);
        if (c->head->expect_continue && c->body->state() == Parse::Incomplete && c->in.empty()) {
          static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          size_t sent = 0;
          if (!sendSome(c->fd, kContinue, &sent) || sent < kContinue.size()) return closeConn(c, resume);
        }
      }
      if (c->body->state() == Parse::Incomplete) c->in.erase(0, c->body->feed(c->in));
      if (c->body->state() == Parse::Failed) return refuse(c, c->body->error(), resume);
      if (c->body->state() == Parse::Incomplete) return arm(c, EPOLLIN);

      // A connection shut down (evicted) while its request arrived does not run it: a client that sends the
      // request again on a new connection must not have it run twice.
      if (evicted(c)) return closeConn(c, resume);
      setPhase(c, Phase::Handling);
      respond(c, handle(c), CloseAfter::IfAsked);
      {
        std::lock_guard lock(mu_);
        if (c->body_held) releaseBody(c, resume);
      }
      if (!flushAnswer(c, resume)) return;
      answered_one = true;
    }
  }

  // A client that has just had its answer often sends its next request at once: the thread that answered
  // waits a moment for it on this connection alone, as a thread per connection would, rather than hand the
  // connection back to epoll and the request to another thread to wake. Only while another thread waits in
  // epoll for everyone else, and at most one such thread per CPU. True when something arrived.
  bool lingerForNext(Conn* c) {
    {
      std::lock_guard lock(mu_);
      if (stopping_ || polling_ == 0 || lingering_ >= cpus_) return false;
      ++lingering_;
    }
    pollfd p{c->fd, POLLIN, 0};
    int n = poll(&p, 1, kLingerMs);
    std::lock_guard lock(mu_);
    --lingering_;
    return n > 0;
  }

  Reply handle(Conn* c) {
    Request r;
    r.method = c->head->method;
    r.path = c->head->path;
    r.query = c->head->query;
    r.body = std::move(c->body->body());
    r.authorization = c->head->authorization;
    WaiterLimit* waits = nullptr;
    {
      std::lock_guard lock(mu_);
      if (c->unit) {
        waits = &c->unit->waits;
        c->charged_to = &c->unit->answers;
      }
    }
    try {
      Reply reply = config_.handler(r, waits, c->charged_to);
      c->charged = reply.charged;
      return reply;
    } catch (const std::exception& e) {
      return {500, errorBody(std::string("internal error: ") + e.what()), ""};
    } catch (...) {
      return {500, errorBody("internal error"), ""};
    }
  }

  enum class CloseAfter { IfAsked, Yes };

  // Starts c's answer: head, then body. The connection closes after it when the client asked, on HTTP/1.0
  // without keep-alive, after a 401, when the service stops, and when `close` says so.
  void respond(Conn* c, Reply reply, CloseAfter close) {
    bool keep = close == CloseAfter::IfAsked && c->head && c->head->keep_alive && reply.status != 401 && !stopping();
    c->close_after = !keep;
    const Connection connection = !keep                         ? Connection::Close
                                  : c->head->minor_version == 0 ? Connection::KeepAliveHttp10
                                                                : Connection::KeepAlive;
    std::string head = answerHead(reply, connection);
    if (c->head && c->head->method == "HEAD") {
      c->out.start(std::move(head), {}, nullptr);
    } else if (!reply.shared && reply.body.size() <= kCopiedBody) {
      c->out.start(std::move(head += reply.body), {}, nullptr);
    } else {
      c->out.start(std::move(head), std::move(reply.body), std::move(reply.shared));
    }
  }

  bool stopping() {
    std::lock_guard lock(mu_);
    return stopping_;
  }

  // Sends c->out; true when it went and c can read its next request.
  bool flushAnswer(Conn* c, Resume& resume) {
    if (!c->out.send(c->fd)) {
      closeConn(c, resume);
      return false;
    }
    if (!c->out.done()) {
      setPhase(c, Phase::Writing, Clock::now() + limits_.write_timeout);
      arm(c, EPOLLOUT);
      return false;
    }
    return answered(c, resume);
  }

  // The answer is out: the place goes to the next request of the unit, and c reads its next request, or
  // closes. True when c goes on.
  bool answered(Conn* c, Resume& resume) {
    giveBack(c);
    {
      std::lock_guard lock(mu_);
      if (c->body_held) releaseBody(c, resume);
      if (c->holds_place) releasePlace(c, resume);
      c->last_used = Clock::now();
    }
    c->head.reset();
    c->body.reset();
    c->out.clear();
    if (!c->close_after) return true;
    if (c->linger_after || !c->in.empty()) {  // closing with unread bytes would reset the answer away
      startDrain(c);
    } else {
      closeConn(c, resume);
    }
    return false;
  }

  // Refuses the request being read on c: the error answer, then the connection closes (lingering when the
  // client may still be sending).
  void refuse(Conn* c, const HttpError& error, Resume& resume) {
    Reply reply{error.status, errorBody(error.message), ""};
    bool head_known = c->head.has_value();
    respond(c, reply, CloseAfter::Yes);
    c->linger_after = error.status != 408 && (!head_known || c->head->hasBody() || !c->in.empty());
    c->in.clear();
    flushAnswer(c, resume);
  }

  void startDrain(Conn* c) {
    shutdown(c->fd, SHUT_WR);  // the client sees the end of the answer
    setPhase(c, Phase::Draining, Clock::now() + limits_.linger);
    arm(c, EPOLLIN);
  }

  // Drops what a refused client still sends, up to limits_.linger_bytes: enough for any body the service
  // would have taken, not a flood's worth of copying.
  void drain(Conn* c, Resume& resume) {
    char scratch[16384];
    for (int i = 0; i < 64; ++i) {
      ssize_t n = recv(c->fd, scratch, sizeof scratch, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return arm(c, EPOLLIN);
      if (n <= 0 || (c->drained += size_t(n)) > limits_.linger_bytes) return closeConn(c, resume);
    }
    arm(c, EPOLLIN);
  }

  HttpConfig config_;
  HttpLimits limits_;
  bool tcp_ = false;
  UniqueFd listen_, epoll_, wake_, timer_, spare_;

  size_t cpus_ = 2;

  std::mutex mu_;
  bool started_ = false;
  bool stopping_ = false;
  std::map<uint64_t, std::thread> threads_;
  std::vector<std::thread> retired_;  ///< ended for lack of work, to be joined
  uint64_t next_thread_ = 0;
  size_t polling_ = 0;  ///< threads in epoll_wait
  size_t waiting_ = 0;  ///< threads blocked in a request's wait
  size_t lingering_ = 0;  ///< threads waiting for the next request of the connection they answered
  std::unordered_map<Conn*, std::unique_ptr<Conn>> conns_;
  size_t evicting_ = 0;
  std::map<std::string, size_t> anonymous_;  ///< connections without a unit, by peer
  std::map<std::string, std::unique_ptr<UnitState>> units_;
};

}  // namespace

HttpFront* startHttp(const HttpConfig& config, std::string* error) {
  auto front = std::make_unique<Front>();
  if (!front->start(config, error)) return nullptr;
  return front.release();
}

}  // namespace mpexec::sync

extern "C" mpexec::sync::HttpFront* mpexec_start_http(const mpexec::sync::HttpConfig& config, std::string* error) {
  return mpexec::sync::startHttp(config, error);
}
