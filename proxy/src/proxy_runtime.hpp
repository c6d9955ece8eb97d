// The running proxy as one object: N workers on their own threads, the health checker, the
// HTTP endpoint, signals, reload, graceful shutdown and systemd notifications. It does not read
// the configuration at start (run_proxy hands it a loaded one) nor set up logging.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "health_checker.hpp"
#include "loaded_config.hpp"
#include "net.hpp"
#include "worker.hpp"

namespace pgrelay::proxy {

class proxy_runtime {
 public:
  // Makes the workers and takes SIGINT, SIGTERM and SIGHUP over (queued until run()); listens on
  // nothing yet. `config_path` is what reload() reads again.
  proxy_runtime(std::string config_path, loaded_config initial);
  ~proxy_runtime();
  proxy_runtime(const proxy_runtime&) = delete;
  proxy_runtime& operator=(const proxy_runtime&) = delete;

  // Listens (workers, HTTP endpoint), starts the health checker, the signal handlers and the
  // systemd watchdog. False, after logging why, when a listen failed: the exit code is then 1.
  [[nodiscard]] bool start();
  // Runs the workers until they all stop (SIGTERM, SIGINT, the console's SHUTDOWN); the exit code.
  int run();

  // Reads the config file again: a valid one is applied to every worker and a fresh health
  // checker, an invalid one changes nothing. Returns "" or the diagnostics. Blocks on file and
  // health I/O: call it off the event loops (the control thread). Any thread.
  std::string reload();
  // Graceful: no new clients, the live ones get up to shutdown_timeout to finish; then the
  // workers stop. Idempotent. Any thread.
  void shutdown();

 private:
  std::unique_ptr<health_checker> make_checker(std::shared_ptr<const conf::config> cfg);
  void apply(const loaded_config& next);
  void replace_checker(std::shared_ptr<const conf::config> cfg);
  void drain(conf::duration limit);
  void stop_now();
  void stop_workers();
  void wait_for_signal();
  void on_signal(const error_code& ec, int sig);
  void keep_watchdog_alive(const error_code& ec, millis every);

  const std::string config_path_;
  shared_state shared_;
  std::vector<std::unique_ptr<worker>> workers_;
  // Both run on the first worker's loop, so they go before the workers do.
  std::optional<asio::signal_set> signals_;
  std::optional<asio::steady_timer> watchdog_;
  std::shared_ptr<void> http_;
  std::unique_ptr<health_checker> checker_;
  // Replaced checkers stay allocated until exit: a worker may still hold the old pointer.
  std::vector<std::unique_ptr<health_checker>> retired_;
  // Reload and the shutdown drain run here so that no event loop ever blocks on them.
  asio::thread_pool control_{1};
  std::mutex reload_mutex_;  // one reload at a time; shared_.config is replaced under it
};

}  // namespace pgrelay::proxy
