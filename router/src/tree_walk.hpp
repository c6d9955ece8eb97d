// Generic traversal of libpg_query's protobuf parse tree through protobuf-c descriptors, so
// a node of interest is found however deeply it is nested. Internal to the router.
#pragma once

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <protobuf-c/protobuf-c.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace pgrelay::router::detail {

// Calls `f(child)` for every message-typed field of `m` that is set (repeated, optional, or the
// active member of a oneof).
template <class F>
void for_each_child(const ProtobufCMessage* m, F&& f) {
  const auto* d = m->descriptor;
  const auto* base = reinterpret_cast<const char*>(m);
  for (unsigned i = 0; i < d->n_fields; ++i) {
    const auto& field = d->fields[i];
    if (field.type != PROTOBUF_C_TYPE_MESSAGE) continue;
    if (field.label == PROTOBUF_C_LABEL_REPEATED) {
      auto n = *reinterpret_cast<const size_t*>(base + field.quantifier_offset);
      auto* items = *reinterpret_cast<ProtobufCMessage* const* const*>(base + field.offset);
      for (size_t k = 0; k < n; ++k) {
        if (items[k]) f(items[k]);
      }
      continue;
    }
    if ((field.flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        *reinterpret_cast<const uint32_t*>(base + field.quantifier_offset) != field.id) {
      continue;
    }
    if (auto* child = *reinterpret_cast<ProtobufCMessage* const*>(base + field.offset)) f(child);
  }
}

struct tree_deleter {
  void operator()(PgQuery__ParseResult* tree) const { pg_query__parse_result__free_unpacked(tree, nullptr); }
};
using parse_tree = std::unique_ptr<PgQuery__ParseResult, tree_deleter>;

// `sql` parsed by Postgres' own parser into a tree; null when it does not parse.
inline parse_tree parse(std::string_view sql) {
  const std::string text(sql);  // libpg_query wants a NUL-terminated string
  auto parsed = pg_query_parse_protobuf(text.c_str());
  if (parsed.error) {
    pg_query_free_protobuf_parse_result(parsed);
    return nullptr;
  }
  auto* tree = pg_query__parse_result__unpack(nullptr, parsed.parse_tree.len,
                                              reinterpret_cast<const uint8_t*>(parsed.parse_tree.data));
  pg_query_free_protobuf_parse_result(parsed);
  return parse_tree(tree);
}

// A function call's name as written: schema (empty when unqualified) and name; false for a
// name that is not a plain string (it cannot be matched against a catalogue).
inline bool function_name(const PgQuery__FuncCall* fc, std::string_view& schema, std::string_view& name) {
  if (fc->n_funcname == 0) return false;
  const auto* last = fc->funcname[fc->n_funcname - 1];
  if (last->node_case != PG_QUERY__NODE__NODE_STRING) return false;
  name = last->string->sval;
  schema = {};
  if (fc->n_funcname >= 2) {
    const auto* s = fc->funcname[fc->n_funcname - 2];
    if (s->node_case == PG_QUERY__NODE__NODE_STRING) schema = s->string->sval;
  }
  return true;
}

}  // namespace pgrelay::router::detail
