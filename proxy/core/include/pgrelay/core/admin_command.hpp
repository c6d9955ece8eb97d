// The admin console's language: PgBouncer's commands (SHOW …, RELOAD, PAUSE, RESUME, KILL,
// SHUTDOWN) plus pgrelay's own (SHOW REPLICAS, SHOW PINS, SHOW ROUTES, SHOW ROUTE '<sql>').
// Parsing only; the proxy runs them.
#pragma once

#include <string>
#include <string_view>

namespace pgrelay::core {

enum class admin_verb {
  show,      // `what` names the view: pools, stats, servers, clients, databases, replicas, config,
             // version, pins, routes, route (then `argument` is the SQL), help
  reload,
  pause,     // `argument`: a database, or empty for all
  resume,
  kill,      // `argument`: a database (required)
  shutdown,
  empty,     // only whitespace, comments or semicolons
  invalid,   // `error` says why (reported as 42601); the last verb (the console's table checks it)
};

struct admin_command {
  admin_verb verb = admin_verb::invalid;
  std::string what;      // SHOW's view, lowercased
  std::string argument;  // a database name or SHOW ROUTE's SQL (unquoted)
  std::string error;
};

// Parses one command; keywords are case-insensitive, a trailing ';' is allowed, database names
// may be double-quoted, SHOW ROUTE takes a single-quoted SQL literal ('' for a quote).
admin_command parse_admin_command(std::string_view sql);

// The names SHOW accepts, for help and error hints.
inline constexpr std::string_view admin_show_views[] = {"pools", "stats", "servers", "clients", "databases",
                                                        "replicas", "config", "version", "pins", "routes",
                                                        "route", "help"};

}  // namespace pgrelay::core
