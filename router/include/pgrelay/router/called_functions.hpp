// The user-defined functions a statement calls by name: what a replica's 25006 ("cannot execute
// … in a read-only transaction") teaches about a statement the classifier took for a read.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pgrelay::router {

// Every function call in `sql` (simple-protocol text, any number of statements) that is not a
// pg_catalog built-in, lowercased as the function catalog spells entries: "schema.name" when
// qualified, "name" otherwise. Each name once, in order of appearance; empty for text that does
// not parse. Thread-safe; no I/O.
std::vector<std::string> user_functions_called(std::string_view sql);

}  // namespace pgrelay::router
