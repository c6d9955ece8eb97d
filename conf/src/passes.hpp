// The two passes of load_string over one pgrelay.yaml document: shape (types, unknown and
// required keys, into a config) then semantics (ranges, cross-field rules). Internal to conf/.
#pragma once

#include <cstddef>
#include <string>

#include "pgrelay/conf/config.hpp"
#include "yaml_reader.hpp"

namespace pgrelay::conf::detail {

// ---- shape pass (shape_root.cpp, shape_databases.cpp) ----------------------------------------

// Reads the whole document; `global_pool` keeps the top-level pool keys as written, so the
// semantic pass can tell set values from defaults. False when there is no mapping to check.
bool read_root(reader& r, const YAML::Node& root, config& cfg, pool_overrides& global_pool);

// One `pool` mapping, at the top, under a database or under a user.
void read_pool(reader& r, const YAML::Node& node, const std::string& path, position pos,
               pool_overrides& out);

// `databases.<name>`.
void read_database(reader& r, const std::string& name, const YAML::Node& node,
                   const std::string& path, position pos, database_config& db);

// ---- semantic pass (semantics.cpp) -------------------------------------------------------

// Checks what the shape pass read. The first `shape_errors` diagnostics are the shape pass's:
// a key among them is not judged again, so one mistake is reported once.
void check_semantics(reader& r, std::size_t shape_errors, const config& cfg,
                     const pool_overrides& global_pool);

}  // namespace pgrelay::conf::detail
