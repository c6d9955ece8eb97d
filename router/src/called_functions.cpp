// Walks the parse tree for function calls; built-ins are left out, since learning `count` as
// writing would send every aggregate to the primary.
#include "pgrelay/router/called_functions.hpp"

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include <algorithm>
#include <cctype>

#include "pgrelay/router/session_effects.hpp"
#include "tree_walk.hpp"

namespace pgrelay::router {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void on_call(const PgQuery__FuncCall* fc, std::vector<std::string>& out) {
  std::string_view schema, name;
  if (!detail::function_name(fc, schema, name)) return;
  if ((schema.empty() || schema == "pg_catalog") && is_pg_catalog_function(name)) return;
  auto entry = schema.empty() ? lower(name) : lower(schema) + "." + lower(name);
  if (std::find(out.begin(), out.end(), entry) == out.end()) out.push_back(std::move(entry));
}

void visit(const ProtobufCMessage* m, std::vector<std::string>& out) {
  if (!m) return;
  if (m->descriptor == &pg_query__func_call__descriptor) on_call(reinterpret_cast<const PgQuery__FuncCall*>(m), out);
  detail::for_each_child(m, [&](const ProtobufCMessage* child) { visit(child, out); });
}

}  // namespace

std::vector<std::string> user_functions_called(std::string_view sql) {
  std::vector<std::string> out;
  auto tree = detail::parse(sql);
  if (!tree) return out;
  for (std::size_t i = 0; i < tree->n_stmts; ++i) {
    if (tree->stmts[i]->stmt) visit(&tree->stmts[i]->stmt->base, out);
  }
  return out;
}

}  // namespace pgrelay::router
