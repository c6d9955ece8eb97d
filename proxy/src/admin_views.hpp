// The admin console's SHOW views, one table from view name to the function that builds it: the
// parser's list of names (core/admin_command.hpp), the help text and the dispatch all follow it.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "explain.hpp"
#include "pgrelay/conf/config.hpp"
#include "pgrelay/core/admin_command.hpp"
#include "worker.hpp"

namespace pgrelay::proxy {

// A result set of text columns, written as RowDescription, DataRows and CommandComplete SHOW.
struct table {
  std::vector<std::string_view> columns;
  std::vector<std::vector<std::string>> rows;

  void write(std::string& out) const;
};


// What a view may read: everything is gathered before any view runs, so views are plain
// functions of their input.
struct view_input {
  const core::admin_command& command;
  const conf::config& config;
  const std::vector<worker_snapshot>& workers;
  const shared_state& shared;
  const std::set<std::string>& paused;
  const explain_client& client;
};

// Whether SHOW <name> reads the workers' snapshots (gathered before it is built).
bool view_reads_workers(std::string_view name);
// Builds SHOW <name>; `name` is one of core::admin_show_views.
table build_view(std::string_view name, const view_input& in);

}  // namespace pgrelay::proxy
