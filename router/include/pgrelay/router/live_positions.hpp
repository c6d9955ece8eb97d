// WAL positions fresher than the health checker's rounds, for read-your-writes: the position
// prober (proxy/) writes them within milliseconds of a write, workers read them with one
// atomic load each. Only atomics here: no thread, clock or I/O; times are handed in.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

#include "pgrelay/router/topology.hpp"

namespace pgrelay::router {

// Raises `a` to `v` if `v` is larger; concurrent callers keep the largest.
template <typename T>
void atomic_max(std::atomic<T>& a, T v) {
  T cur = a.load(std::memory_order_relaxed);
  while (cur < v && !a.compare_exchange_weak(cur, v, std::memory_order_release, std::memory_order_relaxed)) {
  }
}

// A steady-clock instant as one integer (0: never), so that it fits an atomic.
inline std::int64_t ticks(clock::time_point t) { return static_cast<std::int64_t>(t.time_since_epoch().count()); }
inline clock::time_point from_ticks(std::int64_t t) { return clock::time_point(clock::duration(t)); }

struct live_positions {
  // `servers`: the database's configured servers, [0] the primary, then the replicas in order.
  explicit live_positions(std::size_t servers) : replay(servers) {}

  // The last primary probe. The prober stores the position first, then the instant it asked
  // (release): a reader that sees an instant reads a position at least as recent as its own.
  std::atomic<std::int64_t> mark_asked_at{0};
  std::atomic<lsn> mark_lsn{0};
  // pg_last_wal_replay_lsn() per configured server index (replicas only), raised by the prober.
  std::vector<std::atomic<lsn>> replay;

  // Requests to the prober: the latest instant a write was seen to finish, the position a
  // waiting read needs, and the flag it sleeps on (set by whoever asks, cleared by the prober).
  std::atomic<std::int64_t> write_at{0};
  std::atomic<lsn> wanted{0};
  std::atomic<bool> wake{false};

  // A write finished at `at`: the prober asks the primary again (one probe in flight covers
  // every write that finished before it started).
  void note_write(clock::time_point at) {
    atomic_max(write_at, ticks(at));
    ask();
  }
  // A read waits for some replica to replay `pos` (0: for the position of the last write).
  void want(lsn pos) {
    atomic_max(wanted, pos);
    ask();
  }
  void ask() {
    if (!wake.exchange(true, std::memory_order_acq_rel)) wake.notify_one();
  }
  // The last probe's position if it was asked at or after `written_at`.
  std::optional<lsn> position_after(clock::time_point written_at) const {
    if (mark_asked_at.load(std::memory_order_acquire) < ticks(written_at)) return std::nullopt;
    return mark_lsn.load(std::memory_order_relaxed);
  }
  lsn replayed(std::size_t server_index) const {
    return server_index < replay.size() ? replay[server_index].load(std::memory_order_relaxed) : 0;
  }
};

// Read-your-writes: a primary position that covers every write finished at or before
// `written_at`, from the topology's marks or the prober's, the smaller when both qualify (a
// replica reaches it sooner); nullopt when neither asked since.
std::optional<lsn> covering_position(const topology& t, clock::time_point written_at);

}  // namespace pgrelay::router
