// Process wiring: config → shared state → N workers, each on its own thread; signals, reload,
// graceful shutdown, the HTTP endpoint and systemd notifications.
#include "app.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <thread>

#include "health_checker.hpp"
#include "http_endpoint.hpp"
#include "pgrelay/conf/load.hpp"
#include "pgrelay/conf/users.hpp"
#include "service_notify.hpp"
#include "worker.hpp"

namespace pgrelay::proxy {

namespace {

// `%j`: the message as the inside of a JSON string, so every line of log.format json parses.
class json_message_flag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    static constexpr char hex[] = "0123456789abcdef";
    auto put = [&dest](std::string_view s) { dest.append(s.data(), s.data() + s.size()); };
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      switch (c) {
        case '"': put("\\\""); break;
        case '\\': put("\\\\"); break;
        case '\n': put("\\n"); break;
        case '\r': put("\\r"); break;
        case '\t': put("\\t"); break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            const char esc[] = {'\\', 'u', '0', '0', hex[(c >> 4) & 0xf], hex[c & 0xf]};
            dest.append(esc, esc + sizeof esc);
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<json_message_flag>(); }
};

void setup_logging(const conf::log_config& log) {
  auto logger = spdlog::stderr_color_mt("pgrelay");
  spdlog::set_default_logger(logger);
  if (log.format == conf::log_format::json) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<json_message_flag>('j').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","thread":%t,"msg":"%j"})");
    spdlog::set_formatter(std::move(formatter));
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
// Returns why pgrelay must not use it, or "". A missing file is load_users_file's to report.
std::string users_file_permission_problem(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  const auto mode = static_cast<unsigned>(st.st_mode & 07777);
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return fmt::format("{}: users file is writable by group or others (mode {:o}); refusing it (chmod go-w, "
                       "ideally 0600)\n",
                       path, mode);
  }
  if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    spdlog::warn("users file {} is readable by group or others (mode {:o}): the SCRAM verifiers in it "
                 "allow offline password guessing; chmod 0600 (or 0640 with a trusted group)",
                 path, mode);
  }
  return {};
}

struct loaded_config {
  std::shared_ptr<const conf::config> config;
  std::shared_ptr<const users_map> users;
  tls_ptr tls;
  std::string problems;  // diagnostics, one per line; empty when valid
};

// The config file, secrets from the environment and the users file: all or nothing.
loaded_config load_everything(const std::string& path) {
  loaded_config out;
  auto loaded = conf::load_file(path);
  if (!loaded.ok()) {
    for (const auto& d : loaded.errors) out.problems += d.to_string() + "\n";
    return out;
  }
  auto cfg = std::make_shared<conf::config>(std::move(*loaded.cfg));
  // Secrets may come from the environment so they stay out of the YAML file.
  for (auto& [name, db] : cfg->databases) {
    if (db.server_password_env.empty()) continue;
    const char* v = std::getenv(db.server_password_env.c_str());
    if (!v) {
      out.problems += path + ": databases." + name + ".server_password_env: environment variable " +
                      db.server_password_env + " is not set\n";
      continue;
    }
    db.server_password = v;
  }
  // auth.password_env (global and per database) the same way.
  auto resolve_auth_env = [&](conf::auth_query_config& q, const std::string& key) {
    if (q.password_env.empty()) return;
    if (const char* v = std::getenv(q.password_env.c_str())) {
      q.password = v;
    } else {
      out.problems += path + ": " + key + ".password_env: environment variable " + q.password_env + " is not set\n";
    }
  };
  resolve_auth_env(cfg->auth.query, "auth");
  for (auto& [name, db] : cfg->databases) {
    if (db.auth) resolve_auth_env(*db.auth, "databases." + name + ".auth");
  }
  auto users = std::make_shared<users_map>();
  // The users file is optional when auth.query supplies users; when both exist it is asked first.
  if (cfg->auth.method == conf::auth_method::scram_sha_256 && !cfg->auth.users_file.empty()) {
    out.problems += users_file_permission_problem(cfg->auth.users_file);
    auto u = conf::load_users_file(cfg->auth.users_file);
    if (!u.ok()) {
      for (const auto& d : u.errors) out.problems += d.to_string() + "\n";
    } else {
      *users = std::move(*u.users);
    }
  }
  auto tls = load_tls(cfg->tls, out.problems);
  if (!out.problems.empty()) return out;
  out.config = std::move(cfg);
  out.users = std::move(users);
  out.tls = std::move(tls);
  return out;
}

// What a reload cannot change in a running process: said in the log, never silently ignored.
void warn_about_restart_only_changes(const conf::config& before, const conf::config& after) {
  std::string listen_before, listen_after;
  for (const auto& e : before.listen) listen_before += e.to_string() + " ";
  for (const auto& e : after.listen) listen_after += e.to_string() + " ";
  if (listen_before != listen_after) spdlog::warn("reload: listen changed; it takes effect at the next restart");
  if (before.workers != after.workers) spdlog::warn("reload: workers changed; it takes effect at the next restart");
  if (before.log.format != after.log.format) spdlog::warn("reload: log.format changed; it takes effect at the next restart");
  auto http = [](const conf::config& c) { return c.admin.http_listen ? c.admin.http_listen->to_string() : ""; };
  if (http(before) != http(after)) spdlog::warn("reload: admin.http_listen changed; it takes effect at the next restart");
}

}  // namespace

int run_proxy(const std::string& config_path) {
  // Until the signal_set below takes SIGHUP over, a reload (systemd, a test) must not end the
  // process: the configuration about to be read is the one it asks for.
  std::signal(SIGHUP, SIG_IGN);
  auto initial = load_everything(config_path);
  if (!initial.problems.empty()) {
    std::cerr << initial.problems;
    return 2;
  }
  auto cfg = initial.config;
  setup_logging(cfg->log);

  shared_state shared;
  shared.config = cfg;
  shared.users = initial.users;
  shared.tls = initial.tls;
  shared.worker_count = cfg->workers == 0 ? std::max(1u, std::thread::hardware_concurrency()) : cfg->workers;

  std::vector<std::unique_ptr<worker>> workers;
  for (std::size_t i = 0; i < shared.worker_count; ++i) workers.push_back(std::make_unique<worker>(i, shared));
  for (auto& w : workers) shared.workers.push_back(w.get());
  // Signals are taken on the first worker's loop, and caught from before the first listen: a
  // reload sent as soon as the port answers (systemd, a test) is queued, not fatal.
  asio::signal_set signals(workers[0]->io(), SIGINT, SIGTERM, SIGHUP);
  std::shared_ptr<void> http;
  try {
    for (auto& w : workers) w->start_listening();
    if (cfg->admin.http_listen) http = start_http_endpoint(*workers[0], *cfg->admin.http_listen);
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen: {}", e.what());
    return 1;
  }

  // The checker publishes immutable topology snapshots; each worker takes them on its own loop.
  auto publish = [&workers](router::topology_ptr t) {
    for (auto& w : workers) asio::post(w->io(), [wp = w.get(), t] { wp->set_topology(t); });
  };
  auto publish_relations = [&workers](const std::string& db, std::shared_ptr<const router::risky_relations> r) {
    for (auto& w : workers) asio::post(w->io(), [wp = w.get(), db, r] { wp->set_risky_relations(db, r); });
  };
  auto checker = std::make_unique<health_checker>(cfg, publish, publish_relations);
  checker->start();
  shared.checker.store(checker.get());
  // Replaced checkers stay allocated until exit: a worker may still hold the old pointer.
  std::vector<std::unique_ptr<health_checker>> retired;

  // Reload and the shutdown drain run on their own thread so no event loop ever blocks on them.
  asio::thread_pool control(1);
  shared.control.executor = control.get_executor();
  std::mutex reload_mutex;
  shared.control.reload = [&]() -> std::string {
    std::lock_guard lock(reload_mutex);
    service::reloading();
    spdlog::info("reload: reading {}", config_path);
    auto next = load_everything(config_path);
    if (!next.problems.empty()) {
      shared.reload_failures.fetch_add(1);
      spdlog::error("reload: {} is invalid; nothing changed:\n{}", config_path, next.problems);
      service::ready();
      return next.problems;
    }
    warn_about_restart_only_changes(*shared.config, *next.config);
    spdlog::set_level(spdlog::level::from_str(next.config->log.level));
    shared.config = next.config;
    shared.users = next.users;
    for (auto& w : workers) {
      asio::post(w->io(), [wp = w.get(), c = next.config, u = next.users, t = next.tls] { wp->set_config(c, u, t); });
    }
    // A fresh checker for the new databases, replicas and limits; its first round re-reads pg_proc.
    checker->stop();
    auto fresh = std::make_unique<health_checker>(next.config, publish, publish_relations);
    fresh->start();
    shared.checker.store(fresh.get());
    retired.push_back(std::move(checker));
    checker = std::move(fresh);
    shared.reloads.fetch_add(1);
    spdlog::info("reload: applied ({} database(s))", next.config->databases.size());
    service::ready();
    return {};
  };

  auto stop_everything = [&] {
    for (auto& w : workers) {
      asio::post(w->io(), [wp = w.get()] { wp->terminate_all(); });
      w->stop();
    }
  };
  shared.control.shutdown = [&] {
    if (shared.shutting_down.exchange(true)) return;
    service::stopping();
    conf::duration limit;
    {
      std::lock_guard lock(reload_mutex);  // shared.config is replaced under it
      limit = shared.config->shutdown_timeout;
    }
    spdlog::info("shutting down: no new clients; waiting up to {} ms for {} client(s) to finish", limit.count(),
                 shared.live_sessions.load());
    for (auto& w : workers) asio::post(w->io(), [wp = w.get()] { wp->begin_shutdown(); });
    asio::post(control, [&, limit] {
      const auto deadline = clock::now() + limit;
      while (shared.live_sessions.load() > 0 && clock::now() < deadline) std::this_thread::sleep_for(millis(50));
      if (auto left = shared.live_sessions.load(); left > 0) {
        spdlog::warn("shutdown_timeout reached: closing {} client(s) still in a transaction", left);
      }
      stop_everything();
    });
  };

  std::function<void(const error_code&, int)> on_signal = [&](const error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      spdlog::info("received SIGHUP: reloading");
      asio::post(control, [&] { (void)shared.control.reload(); });
    } else if (sig == SIGTERM) {
      spdlog::info("received SIGTERM: graceful shutdown");
      shared.control.shutdown();
    } else {
      spdlog::info("received SIGINT: closing every connection now");
      if (!shared.shutting_down.exchange(true)) service::stopping();
      stop_everything();
    }
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);
  std::signal(SIGPIPE, SIG_IGN);

  // Keep-alives come from an event loop, so a wedged loop stops them and systemd notices.
  asio::steady_timer watchdog(workers[0]->io());
  std::function<void(const error_code&)> keep_alive;
  if (auto every = service::watchdog_interval()) {
    keep_alive = [&, every = *every](const error_code& ec) {
      if (ec) return;
      service::watchdog_alive();
      watchdog.expires_after(every);
      watchdog.async_wait(keep_alive);
    };
    keep_alive({});
  }

  spdlog::info("pgrelay started: {} worker(s), {} database(s)", shared.worker_count, cfg->databases.size());
  service::ready();
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < workers.size(); ++i) threads.emplace_back([&w = *workers[i]] { w.run(); });
  workers[0]->run();
  for (auto& t : threads) t.join();
  control.join();
  shared.checker.store(nullptr);
  checker->stop();
  spdlog::info("pgrelay stopped");
  return 0;
}

}  // namespace pgrelay::proxy
