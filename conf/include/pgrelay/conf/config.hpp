// The validated, immutable configuration a DBA writes in YAML. Plain values only:
// no YAML types here, so the proxy and tests never depend on the parser.
#pragma once

#include <array>
#include <string_view>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pgrelay::conf {

using duration = std::chrono::milliseconds;

enum class pool_mode { session, transaction };
enum class auth_method { scram_sha_256, trust };
enum class log_format { text, json };

// host:port or unix:/path. Exactly one of (host, port) or unix_path is set.
struct endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string unix_path;
  bool is_unix() const { return !unix_path.empty(); }
  std::string to_string() const;
};

// Every pool knob; zero durations mean "no limit" where the README says so.
struct pool_settings {
  pool_mode mode = pool_mode::transaction;
  std::uint32_t size = 20;
  bool size_auto = false;       // `size: auto`: the pool adapts its size within [1, max_size]
  std::uint32_t max_size = 20;  // the ceiling of `size: auto`; unused with a fixed size
  std::uint32_t min_idle = 0;
  std::uint32_t max_clients = 10000;
  duration connect_timeout{5000};
  duration wait_timeout{10000};
  duration server_idle_timeout{30000};
  duration server_lifetime{3600000};
  std::uint64_t server_max_uses = 0;  // 0: unlimited
  duration query_timeout{0};
  duration idle_in_transaction_timeout{0};

  // The most server connections the pool may hold: `size`, or `max_size` with `size: auto`.
  std::uint32_t cap() const { return size_auto ? max_size : size; }
};

// Overrides that may appear at database or user level: unset fields inherit.
struct pool_overrides {
  std::optional<pool_mode> mode;
  std::optional<std::uint32_t> size;
  std::optional<bool> size_auto;  // set with `size`: true for `auto`, false for a number
  std::optional<std::uint32_t> max_size;
  std::optional<std::uint32_t> min_idle;
  std::optional<std::uint32_t> max_clients;
  std::optional<duration> connect_timeout;
  std::optional<duration> wait_timeout;
  std::optional<duration> server_idle_timeout;
  std::optional<duration> server_lifetime;
  std::optional<std::uint64_t> server_max_uses;
  std::optional<duration> query_timeout;
  std::optional<duration> idle_in_transaction_timeout;
};

pool_settings apply(pool_settings base, const pool_overrides& over);

struct lag_limit {
  std::uint64_t bytes = 16u << 20;  // 16MB
  duration time{500};
};

struct replica_config {
  std::string name;
  endpoint address;
  std::vector<std::string> roles{"read"};
  lag_limit max_lag;
};

enum class no_replica_fallback { primary, error };

// How reads are spread over a database's eligible replicas. session: each client keeps to one
// replica while it stays eligible (meanwhile its reads cannot go back in time, as they can when
// alternating between replicas that replayed different amounts, and that replica's caches stay
// warm for it); clients are dealt out round robin. statement: every read goes to the next
// eligible replica.
enum class replica_balance { session, statement };

// Whose committed writes a read must see (routing.read_your_writes). An app's connection pool
// hands each request another connection, so `user` (every client of the same database and user)
// is the default; `session` covers one client connection only.
enum class read_your_writes_scope { off, session, user, database };

// Which reads a routing rule applies to (rules never place writes).
enum class rule_kind { any, statement, transaction };

// Reads of clients matching every set field go to `route`: "primary" or a replica role.
// `user` and `application_name` are exact names or globs with `*`.
struct routing_rule {
  std::string user;
  std::string application_name;
  rule_kind kind = rule_kind::any;
  std::string route;
};

// Function names ("name" or "schema.name") the DBA declares writing or read-only, on top of the
// built-in list and the volatile functions learned from pg_proc.
struct function_overrides {
  std::vector<std::string> writes;
  std::vector<std::string> read_only;
};

// How a database's reads are spread over its replicas.
struct routing_config {
  bool enabled = true;                 // false: everything goes to the primary
  duration check_interval{1000};       // health and lag polling period (at most 1s by default)
  no_replica_fallback fallback = no_replica_fallback::primary;
  read_your_writes_scope read_your_writes = read_your_writes_scope::user;
  // How long a read in the scope of a fresh write may wait for a replica to replay it before it
  // goes to the primary (0: at once). 20 ms: on a loaded 2-core machine replay took over 10 ms
  // often enough to send a fifth of such reads to the primary (bench/read_your_writes.py).
  duration read_your_writes_wait{20};
  replica_balance balance = replica_balance::session;
  std::string health_user;             // credentials of the checker; default: server_user
  std::string health_password;
  std::vector<routing_rule> rules;     // first match wins
  function_overrides functions;
};

// How a database's pools log in to Postgres. passthrough: as each client's own user, with the
// ClientKey its SCRAM proof revealed (the verifier must be Postgres's own: auth.query, or a users
// file entry copied from pg_authid). fixed: every client as server_user with server_password.
// Unset in the file: fixed when server_user is set (configurations written before pass-through
// existed), passthrough otherwise.
enum class server_login { fixed, passthrough };

// Where to fetch a user's verifier from Postgres when the users file does not have it.
struct auth_query_config {
  std::string user;          // empty: auth.query is off
  std::string password;
  std::string password_env;  // resolved by the proxy, like server_password_env
  std::string database;      // where the query runs; empty: the database's server_database
  // $1 is the user name (bound, never spliced). Columns: name, verifier[, can_login[, expired]].
  std::string query = "SELECT username, verifier, can_login, expired FROM pgrelay.user_lookup($1)";
  bool enabled() const { return !user.empty(); }
};

struct user_config {
  pool_overrides pool;
};

struct database_config {
  std::string name;            // the name clients connect to
  std::string server_database; // the name on Postgres (defaults to name)
  endpoint primary;
  std::vector<replica_config> replicas;
  std::string server_user;
  std::string server_password;  // empty: trust/peer on the server side
  // Name of an environment variable holding the password. The library stays pure and never
  // reads the environment: the proxy resolves it. Mutually exclusive with server_password.
  std::string server_password_env;
  server_login login = server_login::fixed;  // the loader sets it (see server_login)
  // What this database changes of the global auth.query settings (empty fields inherit).
  std::optional<auth_query_config> auth;
  std::uint32_t max_db_connections = 0;  // server connections to this database, all users; 0: global
  pool_overrides pool;
  std::map<std::string, user_config> users;
  routing_config routing;
};

struct auth_config {
  auth_method method = auth_method::scram_sha_256;
  std::string users_file;  // resolved relative to the config file's directory
  std::vector<std::string> admin_users;
  auth_query_config query;
  // How long a verifier fetched by auth.query is reused. A failed proof drops it, so a changed
  // password works from the next attempt; the old one keeps working for at most this long.
  duration cache_ttl{5000};
};

// What transaction mode does with session state it cannot carry to another server.
enum class pin_policy {
  pin,     // the client keeps its server (until it disconnects, or holds no advisory lock)
  warn,    // pin, and tell the client with a NOTICE
  reject,  // refuse the statement with 0A000
};

struct session_state_policies {
  pin_policy listen = pin_policy::pin;
  pin_policy advisory_locks = pin_policy::pin;
  pin_policy temp_tables = pin_policy::pin;
  pin_policy with_hold_cursors = pin_policy::pin;
  pin_policy set_role = pin_policy::pin;
  pin_policy sql_prepare = pin_policy::pin;
  pin_policy set_in_transaction = pin_policy::pin;

  // The policy under its YAML key (session_state.<key>); nullptr for an unknown key.
  const pin_policy* find(std::string_view key) const;
};

// The YAML keys of session_state and the members they set: the one list the loader and the
// proxy's pin reasons both read.
struct session_state_key {
  std::string_view key;
  pin_policy session_state_policies::*member;
};
inline constexpr std::array<session_state_key, 7> session_state_keys{{
    {"listen", &session_state_policies::listen},
    {"advisory_locks", &session_state_policies::advisory_locks},
    {"temp_tables", &session_state_policies::temp_tables},
    {"with_hold_cursors", &session_state_policies::with_hold_cursors},
    {"set_role", &session_state_policies::set_role},
    {"sql_prepare", &session_state_policies::sql_prepare},
    {"set_in_transaction", &session_state_policies::set_in_transaction},
}};

inline const pin_policy* session_state_policies::find(std::string_view key) const {
  for (const auto& k : session_state_keys) {
    if (k.key == key) return &(this->*k.member);
  }
  return nullptr;
}

struct log_config {
  log_format format = log_format::text;
  std::string level = "info";
  duration slow_query{1000};  // requests slower than this are logged; 0: never
};

// TLS between clients and pgrelay. allow: TLS for clients that ask, plaintext for the rest;
// require: plaintext startups are refused (28000).
enum class client_tls_mode { disable, allow, require };
// TLS between pgrelay and Postgres, with libpq's sslmode meanings.
enum class server_tls_mode { disable, prefer, require, verify_ca, verify_full };

// The YAML (and libpq sslmode) spelling of a mode.
const char* to_string(client_tls_mode mode);
const char* to_string(server_tls_mode mode);

struct tls_config {
  client_tls_mode client_mode = client_tls_mode::disable;
  std::string client_cert;  // PEM chain pgrelay presents to clients (paths resolved like users_file)
  std::string client_key;
  server_tls_mode server_mode = server_tls_mode::prefer;
  std::string server_ca;    // PEM CA bundle that verify-ca / verify-full check Postgres against
  bool server_allow_password_without_tls = false;  // answer cleartext/MD5 requests in plaintext
};

// The operator's side door: an HTTP endpoint for /metrics, /healthz and /readyz.
struct admin_config {
  std::optional<endpoint> http_listen;  // unset: no HTTP endpoint
};

struct config {
  std::string source_path;
  admin_config admin;
  std::vector<endpoint> listen;
  std::uint32_t workers = 0;  // 0 means auto: one per core
  auth_config auth;
  tls_config tls;
  pool_settings pool;
  std::map<std::string, database_config> databases;
  log_config log;
  session_state_policies session_state;
  std::uint32_t max_prepared_per_server = 500;  // shared statements kept per server (LRU)
  duration auth_timeout{10000};
  // Connections not yet authenticated, per process: each holds a descriptor before anyone knows
  // who it is, so half-open logins must not be able to take them all.
  std::uint32_t max_pending_logins = 2048;
  // Parked (idle) clients per process beyond which a parked client's socket leaves the event
  // loop: less memory per idle client, more system calls per park and wake. 0: all of them.
  std::uint32_t compact_parking_after = 1000;
  duration shutdown_timeout{30000};
  // Server connections per database (all its users and servers) and per user (all databases),
  // across pools and workers; 0: unlimited. databases.*.max_db_connections overrides the first.
  std::uint32_t max_db_connections = 0;
  std::uint32_t max_user_connections = 0;

  // Effective settings for a (database, user) pair: global, then database, then user.
  pool_settings pool_for(const std::string& database, const std::string& user) const;
  // The auth.query settings that apply to a database: its own keys over the global ones (a user
  // set here brings its own password).
  auth_query_config auth_query_for(const database_config& db) const;
};

}  // namespace pgrelay::conf
