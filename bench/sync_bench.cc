// Sync service round-trips (DESIGN §9): a board GET and a lock acquire+release, over the Unix socket and
// over loopback TCP, each on one kept-alive connection. Medians of 5 repetitions.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "bench/bench_service.h"
#include "sync-service/client.h"

namespace mpexec::sync {
namespace {

enum Transport { kUnix = 0, kTcp = 1 };

Service& service() { return benchService(); }

SyncClient client(Transport t, const std::string& unit) {
  Endpoint e;
  e.token = service().registerUnit(unit);
  if (t == kUnix) {
    e.socket_path = service().socketPath();
  } else {
    e.tcp_host = "127.0.0.1";
    e.tcp_port = service().tcpPort();
  }
  return SyncClient(e);
}

void BM_BoardGet(benchmark::State& state) {
  auto t = static_cast<Transport>(state.range(0));
  SyncClient c = client(t, "bench-board");
  if (c.request("PUT", "/v1/board/bench/key", R"({"value": {"port": 8080, "host": "db"}})").response.status !=
      200) {
    state.SkipWithError("put failed");
    return;
  }
  for (auto _ : state) {
    ClientResult r = c.request("GET", "/v1/board/bench/key");
    if (!r.ok() || r.response.status != 200) {
      state.SkipWithError("get failed");
      break;
    }
    benchmark::DoNotOptimize(r.response.body.data());
  }
  state.SetLabel(t == kUnix ? "unix" : "tcp");
}

void BM_LockAcquireRelease(benchmark::State& state) {
  auto t = static_cast<Transport>(state.range(0));
  SyncClient c = client(t, "bench-lock");
  for (auto _ : state) {
    ClientResult a = c.request("POST", "/v1/lock/bench/lock/acquire");
    ClientResult r = c.request("POST", "/v1/lock/bench/lock/release");
    if (!a.ok() || !r.ok() || a.response.status != 200 || r.response.status != 200) {
      state.SkipWithError("acquire/release failed");
      break;
    }
  }
  state.SetLabel(t == kUnix ? "unix" : "tcp");
}

BENCHMARK(BM_BoardGet)->Arg(kUnix)->Arg(kTcp)->Repetitions(5)->ReportAggregatesOnly(true)->UseRealTime();
BENCHMARK(BM_LockAcquireRelease)
    ->Arg(kUnix)
    ->Arg(kTcp)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true)
    ->UseRealTime();

}  // namespace
}  // namespace mpexec::sync

BENCHMARK_MAIN();
