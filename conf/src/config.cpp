// Plain-value helpers of the config model: printing endpoints and diagnostics, and the
// global -> database -> user precedence of pool settings. No YAML, no I/O.
#include "pgrelay/conf/config.hpp"

#include "pgrelay/conf/diagnostic.hpp"

namespace pgrelay::conf {

std::string endpoint::to_string() const {
  if (is_unix()) return "unix:" + unix_path;
  // An IPv6 literal needs brackets or its colons would be read as the port separator.
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

pool_settings apply(pool_settings base, const pool_overrides& over) {
  auto take = [](auto& field, const auto& maybe) {
    if (maybe) field = *maybe;
  };
  take(base.mode, over.mode);
  take(base.size, over.size);
  take(base.size_auto, over.size_auto);
  take(base.max_size, over.max_size);
  take(base.min_idle, over.min_idle);
  take(base.max_clients, over.max_clients);
  take(base.connect_timeout, over.connect_timeout);
  take(base.wait_timeout, over.wait_timeout);
  take(base.server_idle_timeout, over.server_idle_timeout);
  take(base.server_lifetime, over.server_lifetime);
  take(base.server_max_uses, over.server_max_uses);
  take(base.query_timeout, over.query_timeout);
  take(base.idle_in_transaction_timeout, over.idle_in_transaction_timeout);
  return base;
}

pool_settings config::pool_for(const std::string& database, const std::string& user) const {
  // An unknown database or user gets the level above it: the caller decides whether an
  // unknown database is an error, this function only answers "which knobs apply".
  const auto db = databases.find(database);
  if (db == databases.end()) return pool;
  pool_settings settings = apply(pool, db->second.pool);
  const auto u = db->second.users.find(user);
  if (u == db->second.users.end()) return settings;
  return apply(settings, u->second.pool);
}

std::string diagnostic::to_string() const {
  std::string out = file;
  if (line > 0) {
    out += ":" + std::to_string(line);
    if (column > 0) out += ":" + std::to_string(column);
  }
  out += ": ";
  if (!key.empty()) out += key + ": ";
  out += message;
  if (!hint.empty()) out += " (hint: " + hint + ")";
  return out;
}

const char* to_string(client_tls_mode mode) {
  switch (mode) {
    case client_tls_mode::disable: return "disable";
    case client_tls_mode::allow: return "allow";
    case client_tls_mode::require: return "require";
  }
  return "?";
}

const char* to_string(server_tls_mode mode) {
  switch (mode) {
    case server_tls_mode::disable: return "disable";
    case server_tls_mode::prefer: return "prefer";
    case server_tls_mode::require: return "require";
    case server_tls_mode::verify_ca: return "verify-ca";
    case server_tls_mode::verify_full: return "verify-full";
  }
  return "?";
}

}  // namespace pgrelay::conf
