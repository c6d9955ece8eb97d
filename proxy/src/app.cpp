// Process wiring: config → shared state → N workers, each on its own thread.
#include "app.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "pgrelay/conf/load.hpp"
#include "pgrelay/conf/users.hpp"
#include "health_checker.hpp"
#include "worker.hpp"

namespace pgrelay::proxy {

namespace {

void setup_logging(const conf::log_config& log) {
  auto logger = spdlog::stderr_color_mt("pgrelay");
  spdlog::set_default_logger(logger);
  if (log.format == conf::log_format::json) {
    spdlog::set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","thread":%t,"msg":"%v"})");
  } else {
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%t] %v");
  }
  spdlog::set_level(spdlog::level::from_str(log.level));
  spdlog::flush_on(spdlog::level::info);
}

// The users file holds SCRAM verifiers: whoever reads one can run an offline dictionary attack
// on the password and pose as pgrelay to clients (ServerKey); whoever writes it can add a user.
// Like Postgres with its key files and libpq with .pgpass: refuse a file others may write,
// warn about one others may read (0640 with a trusted group is a common packaging choice).
// Returns false if pgrelay must not start. A missing file is load_users_file's to report.
bool users_file_permissions_ok(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return true;
  const auto mode = static_cast<unsigned>(st.st_mode & 07777);
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    std::cerr << path << ": users file is writable by group or others (mode " << std::oct << mode
              << std::dec << "); refusing to start (chmod go-w, ideally 0600)\n";
    return false;
  }
  if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    spdlog::warn("users file {} is readable by group or others (mode {:o}): the SCRAM verifiers in it "
                 "allow offline password guessing; chmod 0600 (or 0640 with a trusted group)",
                 path, mode);
  }
  return true;
}

}  // namespace

int run_proxy(const std::string& config_path) {
  auto loaded = conf::load_file(config_path);
  if (!loaded.ok()) {
    for (const auto& d : loaded.errors) std::cerr << d.to_string() << "\n";
    return 2;
  }
  auto cfg = std::make_shared<conf::config>(std::move(*loaded.cfg));
  // Secrets may come from the environment so they stay out of the YAML file.
  for (auto& [name, db] : cfg->databases) {
    if (!db.server_password_env.empty()) {
      const char* v = std::getenv(db.server_password_env.c_str());
      if (!v) {
        std::cerr << config_path << ": databases." << name << ".server_password_env: environment variable "
                  << db.server_password_env << " is not set\n";
        return 2;
      }
      db.server_password = v;
    }
  }
  setup_logging(cfg->log);

  auto users = std::make_shared<users_map>();
  if (cfg->auth.method == conf::auth_method::scram_sha_256) {
    if (!users_file_permissions_ok(cfg->auth.users_file)) return 2;
    auto u = conf::load_users_file(cfg->auth.users_file);
    if (!u.ok()) {
      for (const auto& d : u.errors) std::cerr << d.to_string() << "\n";
      return 2;
    }
    *users = std::move(*u.users);
  }

  shared_state shared;
  shared.config = cfg;
  shared.users = users;
  shared.worker_count = cfg->workers == 0 ? std::max(1u, std::thread::hardware_concurrency()) : cfg->workers;

  std::vector<std::unique_ptr<worker>> workers;
  for (std::size_t i = 0; i < shared.worker_count; ++i) workers.push_back(std::make_unique<worker>(i, shared));
  try {
    for (auto& w : workers) w->start_listening();
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen: {}", e.what());
    return 1;
  }

  // The checker publishes immutable topology snapshots; each worker takes them on its own loop.
  health_checker checker(cfg, [&workers](router::topology_ptr t) {
    for (auto& w : workers) {
      asio::post(w->io_, [wp = w.get(), t] { wp->set_topology(t); });
    }
  });
  checker.start();

  // Signals are taken on the first worker's loop; stopping fans out to all.
  asio::signal_set signals(workers[0]->io_, SIGINT, SIGTERM);
  signals.async_wait([&](const error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("received signal {}; shutting down", sig);
    shared.shutting_down = true;
    for (auto& w : workers) w->stop();
  });
  std::signal(SIGPIPE, SIG_IGN);

  spdlog::info("pgrelay started: {} worker(s), {} database(s)", shared.worker_count, cfg->databases.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < workers.size(); ++i) threads.emplace_back([&w = *workers[i]] { w.run(); });
  workers[0]->run();
  for (auto& t : threads) t.join();
  checker.stop();
  spdlog::info("pgrelay stopped");
  return 0;
}

}  // namespace pgrelay::proxy
