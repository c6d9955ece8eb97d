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
  if (fc->n_funcname == 0) return;
  const auto* last = fc->funcname[fc->n_funcname - 1];
  if (last->node_case != PG_QUERY__NODE__NODE_STRING) return;
  std::string_view name = last->string->sval;
  std::string_view schema;
  if (fc->n_funcname >= 2) {
    const auto* s = fc->funcname[fc->n_funcname - 2];
    if (s->node_case == PG_QUERY__NODE__NODE_STRING) schema = s->string->sval;
  }
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
  std::string text(sql);
  auto parsed = pg_query_parse_protobuf(text.c_str());
  if (parsed.error) {
    pg_query_free_protobuf_parse_result(parsed);
    return out;
  }
  auto* tree = pg_query__parse_result__unpack(nullptr, parsed.parse_tree.len,
                                              reinterpret_cast<const uint8_t*>(parsed.parse_tree.data));
  pg_query_free_protobuf_parse_result(parsed);
  if (!tree) return out;
  for (std::size_t i = 0; i < tree->n_stmts; ++i) {
    if (tree->stmts[i]->stmt) visit(&tree->stmts[i]->stmt->base, out);
  }
  pg_query__parse_result__free_unpacked(tree, nullptr);
  return out;
}

}  // namespace pgrelay::router
