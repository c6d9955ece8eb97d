// The running proxy: workers, health checker, HTTP endpoint, signals, reload, graceful shutdown
// and systemd notifications. Nothing here runs on the data path.
#include "proxy_runtime.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <thread>

#include "http_endpoint.hpp"
#include "service_notify.hpp"

namespace pgrelay::proxy {

proxy_runtime::proxy_runtime(std::string config_path, loaded_config initial) : config_path_(std::move(config_path)) {
  const auto& cfg = *initial.config;
  shared_.config = initial.config;
  shared_.users = std::move(initial.users);
  shared_.tls = std::move(initial.tls);
  shared_.worker_count = cfg.workers == 0 ? std::max(1u, std::thread::hardware_concurrency()) : cfg.workers;
  for (std::size_t i = 0; i < shared_.worker_count; ++i) workers_.push_back(std::make_unique<worker>(i, shared_));
  for (auto& w : workers_) shared_.workers.push_back(w.get());
  // Signals are taken on the first worker's loop, and caught from before the first listen: a
  // reload sent as soon as the port answers (systemd, a test) is queued, not fatal.
  signals_.emplace(workers_[0]->io(), SIGINT, SIGTERM, SIGHUP);
  watchdog_.emplace(workers_[0]->io());
}

proxy_runtime::~proxy_runtime() = default;

bool proxy_runtime::start() {
  const auto& cfg = *shared_.config;
  try {
    for (auto& w : workers_) {
      w->start_listening();
      w->start_park_sweep();
    }
    if (cfg.admin.http_listen) http_ = start_http_endpoint(*workers_[0], *cfg.admin.http_listen);
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen: {}", e.what());
    return false;
  }
  checker_ = make_checker(shared_.config);
  checker_->start();
  shared_.checker.store(checker_.get());
  shared_.control.executor = control_.get_executor();
  shared_.control.reload = [this] { return reload(); };
  shared_.control.shutdown = [this] { shutdown(); };
  wait_for_signal();
  std::signal(SIGPIPE, SIG_IGN);
  // Keep-alives come from an event loop, so a wedged loop stops them and systemd notices.
  if (auto every = service::watchdog_interval()) keep_watchdog_alive({}, *every);
  return true;
}

int proxy_runtime::run() {
  spdlog::info("pgrelay started: {} worker(s), {} database(s)", shared_.worker_count,
               shared_.config->databases.size());
  service::ready();
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < workers_.size(); ++i) threads.emplace_back([&w = *workers_[i]] { w.run(); });
  workers_[0]->run();
  for (auto& t : threads) t.join();
  control_.join();
  shared_.checker.store(nullptr);
  checker_->stop();
  spdlog::info("pgrelay stopped");
  return 0;
}

// The checker publishes immutable topology snapshots; each worker takes them on its own loop.
std::unique_ptr<health_checker> proxy_runtime::make_checker(std::shared_ptr<const conf::config> cfg) {
  auto publish = [this](router::topology_ptr t) {
    for (auto& w : workers_) asio::post(w->io(), [wp = w.get(), t] { wp->set_topology(t); });
  };
  auto publish_relations = [this](const std::string& db, std::shared_ptr<const router::risky_relations> r) {
    for (auto& w : workers_) asio::post(w->io(), [wp = w.get(), db, r] { wp->set_risky_relations(db, r); });
  };
  return std::make_unique<health_checker>(std::move(cfg), publish, publish_relations);
}

std::string proxy_runtime::reload() {
  std::lock_guard lock(reload_mutex_);
  service::reloading();
  spdlog::info("reload: reading {}", config_path_);
  auto next = load_everything(config_path_);
  if (!next.problems.empty()) {
    shared_.reload_failures.fetch_add(1);
    spdlog::error("reload: {} is invalid; nothing changed:\n{}", config_path_, next.problems);
    service::ready();
    return next.problems;
  }
  apply(next);
  shared_.reloads.fetch_add(1);
  spdlog::info("reload: applied ({} database(s))", next.config->databases.size());
  service::ready();
  return {};
}

// Under reload_mutex_.
void proxy_runtime::apply(const loaded_config& next) {
  warn_about_restart_only_changes(*shared_.config, *next.config);
  spdlog::set_level(spdlog::level::from_str(next.config->log.level));
  shared_.config = next.config;
  shared_.users = next.users;
  for (auto& w : workers_) {
    asio::post(w->io(), [wp = w.get(), c = next.config, u = next.users, t = next.tls] { wp->set_config(c, u, t); });
  }
  replace_checker(next.config);
}

// A fresh checker for the new databases, replicas and limits; its first round re-reads pg_proc.
void proxy_runtime::replace_checker(std::shared_ptr<const conf::config> cfg) {
  checker_->stop();
  auto fresh = make_checker(std::move(cfg));
  fresh->start();
  shared_.checker.store(fresh.get());
  retired_.push_back(std::move(checker_));
  checker_ = std::move(fresh);
}

void proxy_runtime::shutdown() {
  if (shared_.shutting_down.exchange(true)) return;
  service::stopping();
  conf::duration limit;
  {
    std::lock_guard lock(reload_mutex_);  // shared_.config is replaced under it
    limit = shared_.config->shutdown_timeout;
  }
  spdlog::info("shutting down: no new clients; waiting up to {} ms for {} client(s) to finish", limit.count(),
               shared_.live_sessions.load());
  for (auto& w : workers_) asio::post(w->io(), [wp = w.get()] { wp->begin_shutdown(); });
  asio::post(control_, [this, limit] { drain(limit); });
}

// On the control thread: waits for the live sessions to end, at most `limit`, then stops.
void proxy_runtime::drain(conf::duration limit) {
  const auto deadline = clock::now() + limit;
  while (shared_.live_sessions.load() > 0 && clock::now() < deadline) std::this_thread::sleep_for(millis(50));
  if (auto left = shared_.live_sessions.load(); left > 0) {
    spdlog::warn("shutdown_timeout reached: closing {} client(s) still in a transaction", left);
  }
  stop_workers();
}

void proxy_runtime::stop_now() {
  if (!shared_.shutting_down.exchange(true)) service::stopping();
  stop_workers();
}

void proxy_runtime::stop_workers() {
  for (auto& w : workers_) {
    asio::post(w->io(), [wp = w.get()] { wp->terminate_all(); });
    w->stop();
  }
}

void proxy_runtime::wait_for_signal() {
  signals_->async_wait([this](const error_code& ec, int sig) { on_signal(ec, sig); });
}

void proxy_runtime::on_signal(const error_code& ec, int sig) {
  if (ec) return;
  if (sig == SIGHUP) {
    spdlog::info("received SIGHUP: reloading");
    asio::post(control_, [this] { (void)reload(); });
  } else if (sig == SIGTERM) {
    spdlog::info("received SIGTERM: graceful shutdown");
    shutdown();
  } else {
    spdlog::info("received SIGINT: closing every connection now");
    stop_now();
  }
  wait_for_signal();
}

void proxy_runtime::keep_watchdog_alive(const error_code& ec, millis every) {
  if (ec) return;
  service::watchdog_alive();
  watchdog_->expires_after(every);
  watchdog_->async_wait([this, every](const error_code& e) { keep_watchdog_alive(e, every); });
}

}  // namespace pgrelay::proxy
