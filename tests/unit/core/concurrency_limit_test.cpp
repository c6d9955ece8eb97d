// The adaptive limit against a simulated Postgres: throughput = min(c, k)·rate and latency grows as
// c/k past the knee k (a 2-core server peaks around 2–4 concurrent transactions).
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "pgrelay/core/concurrency_limit.hpp"

using pgrelay::core::concurrency_limit;
using pgrelay::core::concurrency_limit_settings;
using namespace std::chrono_literals;

namespace {

// A fluid model of the server, stepped every millisecond. `clients` is the demand: that many
// clients always have a transaction to run, so max(0, clients − limit) of them wait for a server.
struct server_model {
  double knee = 2;                               // k: concurrent transactions the server runs at full speed
  std::chrono::nanoseconds base = 1ms;           // latency of a transaction alone
  std::uint32_t clients = 64;
  double noise = 0.05;                           // ± relative latency noise, deterministic
  std::uint64_t rng = 12345;

  double rate(double c) const { return std::min(c, knee) / (static_cast<double>(base.count()) / 1e9); }
  double best() const { return rate(static_cast<double>(clients)); }
  std::chrono::nanoseconds latency(double c) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    double u = static_cast<double>(rng >> 11) / static_cast<double>(1ULL << 53);  // [0, 1)
    double l = static_cast<double>(base.count()) * std::max(1.0, c / knee) * (1.0 + noise * (2 * u - 1));
    return std::chrono::nanoseconds(static_cast<std::int64_t>(l));
  }
};

struct run_result {
  std::vector<std::uint32_t> limits;  // the limit at every millisecond
  double completions = 0;             // in the measured tail
  double tail_seconds = 0;
};

// Runs the controller against the model for `duration`; the last `tail` is measured.
struct simulation {
  concurrency_limit ctl;
  server_model& model;
  concurrency_limit::time_point now{};
  double owed = 0;  // fractional completions carried to the next step
  std::chrono::nanoseconds outlier_every_200ms{0};  // a pinned session returned every 200 ms

  simulation(const concurrency_limit_settings& s, server_model& m) : ctl(s, concurrency_limit::time_point{}), model(m) {}

  run_result run(std::chrono::milliseconds duration, std::chrono::milliseconds tail) {
    run_result r;
    for (std::int64_t ms = 0; ms < duration.count(); ++ms) {
      now += 1ms;
      auto c = std::min(ctl.limit(), model.clients);
      bool waiting = model.clients > ctl.limit();
      owed += model.rate(c) / 1000.0;
      bool measured = ms >= duration.count() - tail.count();
      while (owed >= 1.0) {
        owed -= 1.0;
        if (measured) r.completions += 1;
        ctl.on_complete(now, model.latency(c), c, waiting);
      }
      if (outlier_every_200ms.count() > 0 && ms % 200 == 100) ctl.on_complete(now, outlier_every_200ms, c, waiting);
      ctl.on_tick(now, waiting);
      r.limits.push_back(ctl.limit());
    }
    r.tail_seconds = std::chrono::duration<double>(tail).count();
    return r;
  }
};

// The limits of the last `n` steps, probe intervals left out (they are half the limit by design).
std::vector<std::uint32_t> settled(const run_result& r, std::size_t n) {
  std::vector<std::uint32_t> tail(r.limits.end() - static_cast<std::ptrdiff_t>(n), r.limits.end());
  auto top = *std::max_element(tail.begin(), tail.end());
  std::vector<std::uint32_t> out;
  for (auto v : tail)
    if (v * 2 > top) out.push_back(v);
  return out;
}

concurrency_limit_settings settings(std::uint32_t initial, std::uint32_t max = 20) {
  concurrency_limit_settings s;
  s.min = 1;
  s.max = max;
  s.initial = initial;
  return s;
}

}  // namespace

TEST_CASE("converges near the knee from a low and from a high start") {
  for (double knee : {2.0, 4.0}) {
    for (std::uint32_t initial : {1u, 20u}) {
      CAPTURE(knee, initial);
      server_model m;
      m.knee = knee;
      simulation sim(settings(initial), m);
      auto r = sim.run(30s, 15s);
      auto tail = settled(r, 15000);
      auto lo = *std::min_element(tail.begin(), tail.end());
      auto hi = *std::max_element(tail.begin(), tail.end());
      CHECK(lo >= static_cast<std::uint32_t>(knee));
      CHECK(hi <= static_cast<std::uint32_t>(knee) + 4);
      CHECK(hi - lo <= 3);  // stable: a small band, no oscillation
      CHECK(r.completions / r.tail_seconds >= 0.9 * m.best());
    }
  }
}

TEST_CASE("converges within a few seconds of a high start") {
  server_model m;
  m.knee = 2;
  simulation sim(settings(20), m);
  auto r = sim.run(5s, 1s);
  CHECK(r.limits.back() <= 6);
}

TEST_CASE("tracks a change of the knee, up and down") {
  server_model m;
  m.knee = 2;
  simulation sim(settings(4), m);
  sim.run(20s, 1s);
  m.knee = 8;
  auto up = sim.run(20s, 10s);
  auto tail = settled(up, 10000);
  CHECK(*std::min_element(tail.begin(), tail.end()) >= 8);
  CHECK(*std::max_element(tail.begin(), tail.end()) <= 12);
  CHECK(up.completions / up.tail_seconds >= 0.9 * m.best());

  m.knee = 3;
  auto down = sim.run(20s, 10s);
  tail = settled(down, 10000);
  CHECK(*std::min_element(tail.begin(), tail.end()) >= 3);
  CHECK(*std::max_element(tail.begin(), tail.end()) <= 7);
  CHECK(down.completions / down.tail_seconds >= 0.9 * m.best());
}

TEST_CASE("grows to max while clients wait and latency stays flat") {
  server_model m;
  m.knee = 100;  // far above max: every extra connection is pure gain
  simulation sim(settings(1, 20), m);
  auto r = sim.run(10s, 5s);
  auto tail = settled(r, 5000);
  CHECK(*std::min_element(tail.begin(), tail.end()) >= 18);
  CHECK(r.limits.back() <= 20);
  CHECK(r.completions / r.tail_seconds >= 0.9 * m.rate(20));
}

TEST_CASE("never leaves [min, max]") {
  server_model m;
  m.knee = 1;
  auto s = settings(10, 12);
  s.min = 3;
  simulation sim(s, m);
  auto r = sim.run(20s, 1s);
  CHECK(*std::min_element(r.limits.begin(), r.limits.end()) >= 3);
  CHECK(*std::max_element(r.limits.begin(), r.limits.end()) <= 12);

  concurrency_limit zero({.min = 0, .max = 0}, concurrency_limit::time_point{});
  CHECK(zero.limit() == 1);
}

TEST_CASE("without waiting clients the limit does not drift up") {
  server_model m;
  m.knee = 100;
  m.clients = 3;  // fewer clients than the limit: the pool is never the bottleneck
  simulation sim(settings(4), m);
  auto r = sim.run(10s, 1s);
  CHECK(*std::max_element(r.limits.begin(), r.limits.end()) == 4);
}

TEST_CASE("waiting clients and no completion at all: grow, one step per stall") {
  auto s = settings(2, 6);
  concurrency_limit ctl(s, concurrency_limit::time_point{});
  concurrency_limit::time_point t{};
  for (int i = 0; i < 10; ++i) {  // each stall is stall_intervals × interval = 1 s
    for (int j = 0; j < 10; ++j) {
      t += 100ms;
      ctl.on_tick(t, true);
    }
  }
  CHECK(ctl.limit() == 6);
  CHECK(ctl.last().what == concurrency_limit::decision::stall_grow);

  concurrency_limit quiet(s, concurrency_limit::time_point{});
  t = {};
  for (int i = 0; i < 30; ++i) {
    t += 100ms;
    quiet.on_tick(t, false);
  }
  CHECK(quiet.limit() == 2);
}

TEST_CASE("one slow transaction does not move the limit") {
  auto s = settings(4);
  concurrency_limit ctl(s, concurrency_limit::time_point{});
  concurrency_limit::time_point t{};
  // Steady: 4 in flight, 1 ms each, nobody waiting.
  for (int i = 0; i < 4000; ++i) {
    t += 250us;
    ctl.on_complete(t, i == 2000 ? 500ms : 1ms, 4, false);
  }
  CHECK(ctl.limit() == 4);
}

TEST_CASE("sessions held for minutes (pinned, idle in transaction) do not shrink the pool") {
  server_model m;
  m.knee = 4;
  m.base = 5ms;  // 800 transactions per second: one 10-minute sample would be 750 times their sum
  simulation sim(settings(4), m);
  sim.outlier_every_200ms = std::chrono::minutes(10);
  auto r = sim.run(30s, 15s);
  auto tail = settled(r, 15000);
  CHECK(*std::min_element(tail.begin(), tail.end()) >= 4);
  CHECK(*std::max_element(tail.begin(), tail.end()) <= 7);  // counted in full they pushed it to 8
  CHECK(r.completions / r.tail_seconds >= 0.9 * m.best());
}

TEST_CASE("noisy latencies and slow transactions: still near the knee, still stable") {
  server_model m;
  m.knee = 3;
  m.noise = 0.6;
  m.base = 20ms;  // 150 transactions per second at best: an interval waits for min_samples
  simulation sim(settings(20), m);
  auto r = sim.run(60s, 30s);
  auto tail = settled(r, 30000);
  CHECK(*std::min_element(tail.begin(), tail.end()) >= 3);
  CHECK(*std::max_element(tail.begin(), tail.end()) <= 7);
  CHECK(r.completions / r.tail_seconds >= 0.9 * m.best());
}

TEST_CASE("transactions get heavier (base latency x5, same knee): the stale baseline is dropped") {
  server_model m;
  m.knee = 8;
  simulation sim(settings(4), m);
  sim.run(10s, 1s);
  m.base = 5ms;
  auto r = sim.run(6s, 6s);  // kept the old baseline for 4 s, this was 57 % of the best
  CHECK(r.completions / r.tail_seconds >= 0.85 * m.best());
  CHECK(r.limits.back() >= 8);
}
