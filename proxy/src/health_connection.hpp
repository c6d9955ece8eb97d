// libpq connections of the health checker and the position prober: the credentials and TLS
// settings a database's checks use, and a query with a client-side deadline. Both threads block
// in libpq; workers never call this.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <string>

#include "pgrelay/conf/config.hpp"
#include "pgrelay/router/topology.hpp"

namespace pgrelay::proxy {

struct conn_deleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using conn_ptr = std::unique_ptr<PGconn, conn_deleter>;

struct result_deleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using result_ptr = std::unique_ptr<PGresult, result_deleter>;

// How the checks of one database log in: routing.health_user/health_password, else server_user
// with server_password or the variable named by server_password_env (read here: the proxy may
// read the environment, conf may not).
struct check_login {
  std::string dbname;
  std::string user;
  std::string password;
  std::string sslmode;      // tls.server.mode, as libpq spells it
  std::string sslrootcert;  // tls.server.ca
  std::chrono::milliseconds budget{2000};  // statement_timeout and client-side deadline
};
check_login check_login_for(const conf::config& cfg, const conf::database_config& db, std::chrono::milliseconds budget);

// Connects (blocking, connect_timeout=2); check PQstatus on the result.
conn_ptr open_check_connection(const check_login& login, const conf::endpoint& address, const char* application_name);

// Runs one statement with a client-side deadline; the connection stays usable only on success.
result_ptr run_query(PGconn* c, const char* sql, router::clock::time_point deadline, std::string& error);

// libpq's multi-line messages as one log line.
std::string trimmed(const char* text);

}  // namespace pgrelay::proxy
