// Walks libpg_query's protobuf parse tree. Only the shapes that make a statement safe to call
// read-only are recognised; everything else falls through to write.
#include "pgrelay/router/classify.hpp"

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include <string>

namespace pgrelay::router {

namespace {

bool select_writes(const PgQuery__SelectStmt* s);

bool node_writes(const PgQuery__Node* n) {
  if (!n) return false;
  switch (n->node_case) {
    case PG_QUERY__NODE__NODE_SELECT_STMT: return select_writes(n->select_stmt);
    case PG_QUERY__NODE__NODE_INSERT_STMT:
    case PG_QUERY__NODE__NODE_UPDATE_STMT:
    case PG_QUERY__NODE__NODE_DELETE_STMT:
    case PG_QUERY__NODE__NODE_MERGE_STMT: return true;
    default: return true;  // unknown shapes are not proven read-only
  }
}

bool with_writes(const PgQuery__WithClause* w) {
  if (!w) return false;
  for (std::size_t i = 0; i < w->n_ctes; ++i) {
    const auto* cte = w->ctes[i];
    if (cte->node_case != PG_QUERY__NODE__NODE_COMMON_TABLE_EXPR) return true;
    if (node_writes(cte->common_table_expr->ctequery)) return true;
  }
  return false;
}

bool select_writes(const PgQuery__SelectStmt* s) {
  if (!s) return false;
  if (s->into_clause || s->n_locking_clause > 0) return true;
  if (with_writes(s->with_clause)) return true;
  return select_writes(s->larg) || select_writes(s->rarg);
}

statement_kind kind_of(const PgQuery__Node* n) {
  switch (n->node_case) {
    case PG_QUERY__NODE__NODE_SELECT_STMT:
      return select_writes(n->select_stmt) ? statement_kind::write : statement_kind::read_only;
    case PG_QUERY__NODE__NODE_VARIABLE_SHOW_STMT: return statement_kind::read_only;
    case PG_QUERY__NODE__NODE_EXPLAIN_STMT: {
      const auto* e = n->explain_stmt;
      for (std::size_t i = 0; i < e->n_options; ++i) {
        const auto* o = e->options[i];
        if (o->node_case == PG_QUERY__NODE__NODE_DEF_ELEM && std::string(o->def_elem->defname) == "analyze") {
          return e->query ? kind_of(e->query) : statement_kind::write;
        }
      }
      return statement_kind::read_only;  // plain EXPLAIN does not run the statement
    }
    case PG_QUERY__NODE__NODE_TRANSACTION_STMT: return statement_kind::transaction_control;
    case PG_QUERY__NODE__NODE_VARIABLE_SET_STMT:
      return n->variable_set_stmt->is_local ? statement_kind::read_only : statement_kind::session_state;
    default: return statement_kind::write;
  }
}

int strength(statement_kind k) {
  switch (k) {
    case statement_kind::empty: return 0;
    case statement_kind::read_only: return 1;
    case statement_kind::transaction_control: return 2;
    case statement_kind::session_state: return 3;
    case statement_kind::write: return 4;
    case statement_kind::parse_error: return 5;
  }
  return 5;
}

}  // namespace

classification classify(std::string_view sql) {
  classification out;
  std::string text(sql);  // libpg_query wants a NUL-terminated string
  auto parsed = pg_query_parse_protobuf(text.c_str());
  if (parsed.error) {
    pg_query_free_protobuf_parse_result(parsed);
    out.kind = statement_kind::parse_error;
    return out;
  }
  auto* tree = pg_query__parse_result__unpack(nullptr, parsed.parse_tree.len,
                                              reinterpret_cast<const uint8_t*>(parsed.parse_tree.data));
  pg_query_free_protobuf_parse_result(parsed);
  if (!tree) {
    out.kind = statement_kind::parse_error;
    return out;
  }
  out.kind = statement_kind::empty;
  for (std::size_t i = 0; i < tree->n_stmts; ++i) {
    const auto* stmt = tree->stmts[i]->stmt;
    if (!stmt) continue;
    ++out.statements;
    auto k = kind_of(stmt);
    if (strength(k) > strength(out.kind)) out.kind = k;
  }
  pg_query__parse_result__free_unpacked(tree, nullptr);
  return out;
}

}  // namespace pgrelay::router
