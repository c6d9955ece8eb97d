// Read-your-writes within milliseconds instead of a check interval: one thread per routed
// database that, when a worker reports a finished write or a waiting read (router::live_positions),
// asks the primary for its WAL insert position and then polls the replicas' replay positions
// until they pass it (or a short budget runs out). One probe in flight covers every write that
// finished before it started, so a busy database costs a few small queries per cycle, not per write.
// It owns its own libpq connections (application_name pgrelay-probe); workers only touch atomics.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <optional>
#include <thread>
#include <vector>

#include "health_connection.hpp"
#include "pgrelay/router/live_positions.hpp"

namespace pgrelay::proxy {

class position_prober {
 public:
  // `servers`: the configured primary, then the replicas, in the order of live->replay.
  position_prober(std::string database, check_login login, std::vector<conf::endpoint> servers,
                  std::shared_ptr<router::live_positions> live);
  ~position_prober();  // stops
  position_prober(const position_prober&) = delete;
  position_prober& operator=(const position_prober&) = delete;

  void start();
  void stop();

 private:
  struct link {
    conf::endpoint address;
    conn_ptr conn;
    router::clock::time_point retry_at{};  // after a failure, not before this
  };
  void run();
  void cycle();
  bool probe_primary();
  // Polls every replica still below `target` once; true while one reachable replica is below.
  bool poll_replicas(router::lsn target);
  PGconn* connection(link& l);
  std::optional<router::lsn> ask(link& l, const char* sql);

  std::string database_;
  check_login login_;
  std::vector<link> links_;
  std::shared_ptr<router::live_positions> live_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace pgrelay::proxy
