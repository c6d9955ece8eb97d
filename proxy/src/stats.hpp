// What a worker counts for the console and /metrics. Plain integers: only the worker's own
// thread writes them, and readers take a copy on that same thread (worker::run_on), so the query
// path pays an increment, never a lock or an atomic.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "pgrelay/router/route.hpp"

namespace pgrelay::proxy {

// Cumulative latency buckets in the Prometheus style (upper bounds in seconds, +Inf last).
struct latency_histogram {
  static constexpr std::array<double, 14> bounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                   0.025,  0.05,    0.1,    0.25,  0.5,    1.0,  5.0};
  std::array<std::uint64_t, bounds.size() + 1> counts{};  // per bucket, not cumulative
  std::uint64_t total_us = 0;
  std::uint64_t samples = 0;

  void observe(std::chrono::microseconds d) {
    const double s = static_cast<double>(d.count()) / 1e6;
    std::size_t i = 0;
    while (i < bounds.size() && s > bounds[i]) ++i;
    ++counts[i];
    total_us += static_cast<std::uint64_t>(d.count());
    ++samples;
  }
  void merge(const latency_histogram& o) {
    for (std::size_t i = 0; i < counts.size(); ++i) counts[i] += o.counts[i];
    total_us += o.total_us;
    samples += o.samples;
  }
};

// Per database (client-facing name), per worker.
struct database_stats {
  std::uint64_t transactions = 0;
  std::uint64_t queries = 0;       // request units answered (one per ReadyForQuery)
  std::uint64_t bytes_received = 0;  // from clients
  std::uint64_t bytes_sent = 0;      // to clients
  std::uint64_t xact_time_us = 0;
  latency_histogram query_time;
  latency_histogram wait_time;      // waiting for a server from the pool
  std::array<std::uint64_t, router::route_reason_count> routes{};
  std::map<std::string, std::uint64_t> routes_to;  // target ("primary" or replica name) → reads+writes
  std::map<std::string, std::uint64_t> errors_by_class;  // SQLSTATE class ("57", "42") → ErrorResponses
  std::uint64_t clients_connected = 0;  // logins that succeeded (cumulative)

  void merge(const database_stats& o) {
    transactions += o.transactions;
    queries += o.queries;
    bytes_received += o.bytes_received;
    bytes_sent += o.bytes_sent;
    xact_time_us += o.xact_time_us;
    query_time.merge(o.query_time);
    wait_time.merge(o.wait_time);
    for (std::size_t i = 0; i < routes.size(); ++i) routes[i] += o.routes[i];
    for (const auto& [k, v] : o.routes_to) routes_to[k] += v;
    for (const auto& [k, v] : o.errors_by_class) errors_by_class[k] += v;
    clients_connected += o.clients_connected;
  }
};

}  // namespace pgrelay::proxy
