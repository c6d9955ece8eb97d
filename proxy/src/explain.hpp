// `pgrelay explain` and the console's SHOW ROUTE: where a statement would go now, and why — for
// a DBA changing a rule.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pgrelay/conf/config.hpp"
#include "pgrelay/router/function_catalog.hpp"
#include "pgrelay/router/topology.hpp"

namespace pgrelay::proxy {

// Who is asking: the rules match on these.
struct explain_client {
  std::string user;
  std::string application_name;
};

// The explanation as lines: classification, each replica's eligibility, the rule that matched
// and the decision with its reason. `topo` may be null (no health report yet).
std::vector<std::string> explain_route(const conf::database_config& db, const router::function_catalog& catalog,
                                       const router::topology* topo, const explain_client& client,
                                       std::string_view sql);

// Loads the config, takes one health round of `database` (empty: the first database), and
// prints the explanation. Returns the exit code.
int explain_command(const std::string& config_path, std::string database, const explain_client& client,
                    const std::string& sql);

}  // namespace pgrelay::proxy
