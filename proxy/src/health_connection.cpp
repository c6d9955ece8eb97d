// See health_connection.hpp.
#include "health_connection.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <utility>
#include <vector>

namespace pgrelay::proxy {

using router::clock;
using std::chrono::milliseconds;

std::string trimmed(const char* text) {
  std::string s;
  for (const char* c = text ? text : ""; *c != '\0'; ++c) {
    if (*c == '\n' || *c == '\t') {
      if (!s.empty() && s.back() != ' ') s += ' ';
    } else {
      s += *c;
    }
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

namespace {

// libpq's host/port for an endpoint: a unix socket path /dir/.s.PGSQL.N is host=/dir port=N.
std::pair<std::string, std::string> host_port(const conf::endpoint& ep) {
  if (!ep.is_unix()) return {ep.host, std::to_string(ep.port)};
  const std::filesystem::path p{ep.unix_path};
  const std::string file = p.filename().string();
  constexpr std::string_view prefix = ".s.PGSQL.";
  std::string port = "5432";
  if (file.size() > prefix.size() && file.compare(0, prefix.size(), prefix) == 0) {
    port = file.substr(prefix.size());
  } else {
    spdlog::warn("health: unix socket {} is not named .s.PGSQL.<port>; trying port 5432 in {}",
                 ep.unix_path, p.parent_path().string());
  }
  return {p.parent_path().string(), port};
}

}  // namespace

result_ptr run_query(PGconn* c, const char* sql, clock::time_point deadline, std::string& error) {
  if (PQsendQuery(c, sql) == 0) {
    error = trimmed(PQerrorMessage(c));
    return {};
  }
  result_ptr tuples;
  for (;;) {
    while (PQisBusy(c) != 0) {
      const auto now = clock::now();
      if (now >= deadline) {
        error = "no answer within the check deadline";
        return {};
      }
      const auto left = std::chrono::ceil<milliseconds>(deadline - now).count();
      pollfd pfd{PQsocket(c), POLLIN, 0};
      const int rc = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left, 60'000)));
      if (rc < 0 && errno != EINTR) {
        error = std::strerror(errno);
        return {};
      }
      if (rc > 0 && PQconsumeInput(c) == 0) {
        error = trimmed(PQerrorMessage(c));
        return {};
      }
    }
    result_ptr r{PQgetResult(c)};
    if (!r) break;
    if (PQresultStatus(r.get()) == PGRES_TUPLES_OK) {
      if (!tuples) tuples = std::move(r);
    } else if (error.empty()) {
      error = trimmed(PQresultErrorMessage(r.get()));
    }
  }
  if (!error.empty()) return {};
  if (!tuples) error = "the query returned no rows";
  return tuples;
}


check_login check_login_for(const conf::config& cfg, const conf::database_config& db, milliseconds budget) {
  check_login l;
  l.dbname = db.server_database;
  if (!db.routing.health_user.empty()) {
    l.user = db.routing.health_user;
    l.password = db.routing.health_password;
  } else if (db.server_user.empty()) {
    // Pass-through has no server_user: the auth.query role checks health (load resolved its password).
    const auto q = cfg.auth_query_for(db);
    l.user = q.user;
    l.password = q.password;
  } else {
    l.user = db.server_user;
    l.password = db.server_password;
    if (l.password.empty() && !db.server_password_env.empty()) {
      if (const char* env = std::getenv(db.server_password_env.c_str())) l.password = env;
    }
  }
  l.sslmode = conf::to_string(cfg.tls.server_mode);
  l.sslrootcert = cfg.tls.server_ca;
  l.budget = budget;
  return l;
}

conn_ptr open_check_connection(const check_login& login, const conf::endpoint& address, const char* application_name) {
  const auto [host, port] = host_port(address);
  const std::string options = "-c statement_timeout=" + std::to_string(login.budget.count());
  std::vector<const char*> keys{"host", "port", "dbname", "user", "connect_timeout", "application_name", "options"};
  std::vector<const char*> values{host.c_str(),       port.c_str(), login.dbname.c_str(), login.user.c_str(), "2",
                                  application_name, options.c_str()};
  if (!login.password.empty()) {
    keys.push_back("password");
    values.push_back(login.password.c_str());
  }
  keys.push_back("sslmode");
  values.push_back(login.sslmode.c_str());
  if (!login.sslrootcert.empty()) {
    keys.push_back("sslrootcert");
    values.push_back(login.sslrootcert.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  return conn_ptr(PQconnectdbParams(keys.data(), values.data(), 0));
}

}  // namespace pgrelay::proxy
