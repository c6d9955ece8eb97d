// What the router needs from a database's YAML, built in one place for the data path, the
// console and `pgrelay explain`.
#pragma once

#include <vector>

#include "pgrelay/conf/config.hpp"
#include "pgrelay/router/function_catalog.hpp"
#include "pgrelay/router/route.hpp"
#include "pgrelay/router/topology.hpp"

namespace pgrelay::proxy {

// The YAML's kind and the router's are separate types (conf does not depend on router); a
// switch, not a cast, so that a kind added to one and not the other fails to compile (-Wswitch).
inline router::rule_kind router_kind(conf::rule_kind k) {
  switch (k) {
    case conf::rule_kind::any: return router::rule_kind::any;
    case conf::rule_kind::statement: return router::rule_kind::statement;
    case conf::rule_kind::transaction: return router::rule_kind::transaction;
  }
  return router::rule_kind::any;
}

inline std::vector<router::routing_rule> router_rules(const conf::routing_config& routing) {
  std::vector<router::routing_rule> out;
  out.reserve(routing.rules.size());
  for (const auto& r : routing.rules) {
    out.push_back(router::routing_rule{r.user, r.application_name, router_kind(r.kind), r.route});
  }
  return out;
}

// Built-in list + the functions `topo` learned (if any) + the database's YAML overrides.
inline router::function_catalog function_catalog_for(const conf::database_config& db, const router::topology* topo) {
  static const std::vector<std::string> none;
  return router::make_catalog(topo ? topo->volatile_functions : none, db.routing.functions.writes,
                              db.routing.functions.read_only);
}

}  // namespace pgrelay::proxy
