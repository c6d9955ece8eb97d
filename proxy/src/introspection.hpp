// Reading every worker's state from any worker's loop: each copy is taken on the owning worker's
// thread (co_spawn onto its io_context), so the query path never takes a lock for the console
// or /metrics.
#pragma once

#include <algorithm>
#include <map>
#include <tuple>
#include <vector>

#include "net.hpp"
#include "worker.hpp"

namespace pgrelay::proxy {

// Runs `f` on worker `w`'s thread and resumes the caller on its own executor with the result.
// `f` must capture only trivially destructible things (pointers, references): GCC 12 may destroy
// a temporary with a destructor in a co_await expression twice.
template <class F>
auto run_on(worker& w, F f) -> awaitable<decltype(f())> {
  using result = decltype(f());
  co_return co_await asio::co_spawn(
      w.io(), [f = std::move(f)]() mutable -> awaitable<result> { co_return f(); }, use_awaitable);
}

// Every worker's snapshot (introspection.cpp: a coroutine in a header would get a frame type
// per file, which link-time optimization finds differ).
awaitable<std::vector<worker_snapshot>> snapshot_all(shared_state& shared);

// Each (database, user, target) pool summed over the workers: clients and servers added, the
// longest wait kept; settings (mode, size) from the first worker that has the pool.
inline std::map<std::tuple<std::string, std::string, std::string>, pool_view> merged_pools(
    const std::vector<worker_snapshot>& all) {
  std::map<std::tuple<std::string, std::string, std::string>, pool_view> merged;
  for (const auto& snap : all) {
    for (const auto& p : snap.pools) {
      auto [it, fresh] = merged.try_emplace({p.database, p.user, p.target}, p);
      if (fresh) continue;
      auto& m = it->second;
      m.cl_active += p.cl_active;
      m.cl_waiting += p.cl_waiting;
      m.sv_active += p.sv_active;
      m.sv_idle += p.sv_idle;
      m.maxwait_us = std::max(m.maxwait_us, p.maxwait_us);
    }
  }
  return merged;
}

// Per-database counters summed over the workers.
inline std::map<std::string, database_stats> merged_stats(const std::vector<worker_snapshot>& all) {
  std::map<std::string, database_stats> out;
  for (const auto& snap : all) {
    for (const auto& [db, s] : snap.stats) out[db].merge(s);
  }
  return out;
}

// The latest topology of each database (any worker's copy is the same snapshot or newer).
inline std::map<std::string, router::topology_ptr> latest_topologies(const std::vector<worker_snapshot>& all) {
  std::map<std::string, router::topology_ptr> out;
  for (const auto& snap : all) {
    for (const auto& [db, t] : snap.topologies) {
      auto& cur = out[db];
      if (!cur || (t && t->primary.sampled_at > cur->primary.sampled_at)) cur = t;
    }
  }
  return out;
}

}  // namespace pgrelay::proxy
