// `pgrelay explain`: where a statement would go now, and why — for a DBA changing a rule.
#pragma once

#include <string>

namespace pgrelay::proxy {

// Loads the config, takes one health round of `database` (empty: the first database), and
// prints the classification, each replica's eligibility and the decision. Returns the exit code.
int explain_command(const std::string& config_path, std::string database, const std::string& sql);

}  // namespace pgrelay::proxy
