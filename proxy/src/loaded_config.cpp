// Loads the config file, its environment secrets, the users file and TLS: all or nothing.
#include "loaded_config.hpp"

#include <spdlog/spdlog.h>

#include <sys/stat.h>

#include <cstdlib>

#include "pgrelay/conf/load.hpp"
#include "pgrelay/conf/users.hpp"

namespace pgrelay::proxy {

namespace {

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

}  // namespace

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

}  // namespace pgrelay::proxy
