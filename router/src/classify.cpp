// Walks libpg_query's protobuf parse tree. Only the shapes that make a statement safe to call
// read-only are recognised; everything else falls through to write. Queries are searched with a
// generic protobuf-c walker (as in session_effects.cpp), so nothing nested is missed.
#include "pgrelay/router/classify.hpp"

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include "tree_walk.hpp"

#include <cctype>
#include <cstring>

namespace pgrelay::router {

namespace {

constexpr int cursor_opt_hold = 0x0020;  // CURSOR_OPT_HOLD in parsenodes.h

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool has_text(const char* s) { return s && *s; }

// ---- query scan -------------------------------------------------------------------------------

struct query_scan {
  const function_catalog* catalog = nullptr;
  bool locking = false;
  bool into = false;
  bool modifying = false;
  std::string function;  // first writing function found
};

void visit(const ProtobufCMessage* m, query_scan& qs);


void on_func_call(const PgQuery__FuncCall* fc, query_scan& qs) {
  if (!qs.function.empty()) return;
  std::string_view schema, name;
  if (!detail::function_name(fc, schema, name)) return;
  if (qs.catalog->is_write(schema, name)) {
    qs.function = schema.empty() ? lower(name) : lower(schema) + "." + lower(name);
  }
}

void visit(const ProtobufCMessage* m, query_scan& qs) {
  if (!m) return;
  const auto* d = m->descriptor;
  if (d == &pg_query__func_call__descriptor) {
    on_func_call(reinterpret_cast<const PgQuery__FuncCall*>(m), qs);
  } else if (d == &pg_query__locking_clause__descriptor) {
    qs.locking = true;
  } else if (d == &pg_query__into_clause__descriptor) {
    qs.into = true;
  } else if (d == &pg_query__insert_stmt__descriptor || d == &pg_query__update_stmt__descriptor ||
             d == &pg_query__delete_stmt__descriptor || d == &pg_query__merge_stmt__descriptor) {
    qs.modifying = true;
  }
  detail::for_each_child(m, [&](const ProtobufCMessage* child) { visit(child, qs); });
}

struct verdict {
  statement_kind kind = statement_kind::write;
  write_reason why = write_reason::unknown;
  std::string function;
};

verdict read_only() { return {statement_kind::read_only, write_reason::none, {}}; }
verdict write(write_reason why, std::string function = {}) {
  return {statement_kind::write, why, std::move(function)};
}

bool is_dml(const PgQuery__Node* n) {
  switch (n->node_case) {
    case PG_QUERY__NODE__NODE_INSERT_STMT:
    case PG_QUERY__NODE__NODE_UPDATE_STMT:
    case PG_QUERY__NODE__NODE_DELETE_STMT:
    case PG_QUERY__NODE__NODE_MERGE_STMT: return true;
    default: return false;
  }
}

// A query as found in SELECT, EXPLAIN, COPY (…) and DECLARE: read-only only if it is a SELECT
// (VALUES, TABLE, set operations are SelectStmt too) with nothing that writes anywhere inside.
verdict query_verdict(const PgQuery__Node* q, const function_catalog& catalog) {
  if (!q) return write(write_reason::unknown);
  if (is_dml(q)) return write(write_reason::dml);
  if (q->node_case != PG_QUERY__NODE__NODE_SELECT_STMT) return write(write_reason::unknown);
  query_scan qs;
  qs.catalog = &catalog;
  visit(&q->select_stmt->base, qs);
  if (qs.modifying) return write(write_reason::modifying_cte);
  if (qs.into) return write(write_reason::select_into);
  if (qs.locking) return write(write_reason::locking_clause);
  if (!qs.function.empty()) return write(write_reason::writing_function, std::move(qs.function));
  return read_only();
}

// ---- option values ----------------------------------------------------------------------------

// Postgres' boolean spellings (parse_bool): 1 true, 0 false, -1 neither.
int string_bool(const char* s) {
  auto v = lower(s ? s : "");
  if (v == "true" || v == "on" || v == "1" || v == "yes" || v == "t" || v == "y") return 1;
  if (v == "false" || v == "off" || v == "0" || v == "no" || v == "f" || v == "n") return 0;
  return -1;
}

// Value of a boolean-ish DefElem / A_Const argument: 1 true, 0 false, -1 not a boolean.
int bool_value(const PgQuery__Node* arg) {
  if (!arg) return 1;  // `EXPLAIN (ANALYZE)`: no argument means true
  switch (arg->node_case) {
    case PG_QUERY__NODE__NODE_A_CONST: {
      const auto* c = arg->a_const;
      switch (c->val_case) {
        case PG_QUERY__A__CONST__VAL_IVAL: return c->ival->ival != 0 ? 1 : 0;
        case PG_QUERY__A__CONST__VAL_BOOLVAL: return c->boolval->boolval ? 1 : 0;
        case PG_QUERY__A__CONST__VAL_SVAL: return string_bool(c->sval->sval);
        default: return -1;
      }
    }
    case PG_QUERY__NODE__NODE_INTEGER: return arg->integer->ival != 0 ? 1 : 0;
    case PG_QUERY__NODE__NODE_BOOLEAN: return arg->boolean->boolval ? 1 : 0;
    case PG_QUERY__NODE__NODE_STRING: return string_bool(arg->string->sval);
    default: return -1;
  }
}

// READ ONLY (1) / READ WRITE (0) / not said (-1) among transaction options.
int read_only_option(PgQuery__Node* const* opts, std::size_t n) {
  int ro = -1;
  for (std::size_t i = 0; i < n; ++i) {
    const auto* o = opts[i];
    if (o->node_case != PG_QUERY__NODE__NODE_DEF_ELEM) continue;
    if (has_text(o->def_elem->defname) && std::strcmp(o->def_elem->defname, "transaction_read_only") == 0) {
      ro = bool_value(o->def_elem->arg);
    }
  }
  return ro;
}

// ---- statements -------------------------------------------------------------------------------

struct flags {
  bool begin = false;
  bool ends = false;
  int read_only = -1;  // -1: unchanged; BEGIN resets to its own option (0 when none)
};

verdict explain_verdict(const PgQuery__ExplainStmt* e, const function_catalog& catalog) {
  bool analyze = false;
  for (std::size_t i = 0; i < e->n_options; ++i) {
    const auto* o = e->options[i];
    if (o->node_case == PG_QUERY__NODE__NODE_DEF_ELEM && has_text(o->def_elem->defname) &&
        lower(o->def_elem->defname) == "analyze") {
      analyze = bool_value(o->def_elem->arg) != 0;  // unparseable values: assume it runs
    }
  }
  if (e->query && e->query->node_case == PG_QUERY__NODE__NODE_EXECUTE_STMT) return write(write_reason::unknown);
  if (!analyze) return read_only();  // plain EXPLAIN only plans the statement
  auto v = query_verdict(e->query, catalog);
  if (v.kind == statement_kind::read_only) return v;
  return write(write_reason::explain_analyze, std::move(v.function));
}

verdict copy_verdict(const PgQuery__CopyStmt* c, const function_catalog& catalog) {
  if (c->is_from) return write(write_reason::dml);
  if (c->is_program || has_text(c->filename)) return write(write_reason::ddl_or_utility);
  if (c->query) return query_verdict(c->query, catalog);
  return read_only();  // COPY table TO STDOUT
}

verdict transaction_verdict(const PgQuery__TransactionStmt* t, flags& f) {
  verdict tc{statement_kind::transaction_control, write_reason::none, {}};
  switch (t->kind) {
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_BEGIN:
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_START: {
      f.begin = true;
      f.read_only = read_only_option(t->options, t->n_options) == 1 ? 1 : 0;
      return tc;
    }
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT:
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK:
      f.ends = true;
      if (t->chain) f.begin = true;
      return tc;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_PREPARE: f.ends = true; return tc;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_SAVEPOINT:
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_RELEASE:
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_TO: return tc;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT_PREPARED:
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_PREPARED:
      f.ends = true;
      return write(write_reason::ddl_or_utility);
    default: return write(write_reason::unknown);
  }
}

verdict set_verdict(const PgQuery__VariableSetStmt* v, flags& f) {
  std::string name = has_text(v->name) ? lower(v->name) : std::string();
  verdict tc{statement_kind::transaction_control, write_reason::none, {}};
  if (v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_MULTI &&
      (name == "transaction" || name == "transaction snapshot")) {
    if (int ro = read_only_option(v->args, v->n_args); ro >= 0) f.read_only = ro;
    return tc;  // SET TRANSACTION … / SET TRANSACTION SNAPSHOT
  }
  if (name == "transaction_read_only" || name == "transaction_isolation" || name == "transaction_deferrable") {
    if (name == "transaction_read_only" && v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_VALUE &&
        v->n_args == 1) {
      if (int ro = bool_value(v->args[0]); ro >= 0) f.read_only = ro;
    }
    return tc;
  }
  if (v->is_local) return read_only();
  return {statement_kind::session_state, write_reason::none, {}};
}

verdict declare_verdict(const PgQuery__DeclareCursorStmt* d, const function_catalog& catalog) {
  if (d->options & cursor_opt_hold) return write(write_reason::ddl_or_utility);
  return query_verdict(d->query, catalog);
}

bool is_statement_node(const PgQuery__Node* n) {
  const auto* field = protobuf_c_message_descriptor_get_field(&pg_query__node__descriptor,
                                                              static_cast<unsigned>(n->node_case));
  if (!field || field->type != PROTOBUF_C_TYPE_MESSAGE || !field->descriptor) return false;
  std::string_view type = static_cast<const ProtobufCMessageDescriptor*>(field->descriptor)->short_name;
  return type.ends_with("Stmt");
}

verdict statement_verdict(const PgQuery__Node* n, const function_catalog& catalog, flags& f) {
  switch (n->node_case) {
    case PG_QUERY__NODE__NODE_SELECT_STMT: return query_verdict(n, catalog);
    case PG_QUERY__NODE__NODE_VARIABLE_SHOW_STMT: return read_only();
    case PG_QUERY__NODE__NODE_EXPLAIN_STMT: return explain_verdict(n->explain_stmt, catalog);
    case PG_QUERY__NODE__NODE_COPY_STMT: return copy_verdict(n->copy_stmt, catalog);
    case PG_QUERY__NODE__NODE_DECLARE_CURSOR_STMT: return declare_verdict(n->declare_cursor_stmt, catalog);
    case PG_QUERY__NODE__NODE_TRANSACTION_STMT: return transaction_verdict(n->transaction_stmt, f);
    case PG_QUERY__NODE__NODE_VARIABLE_SET_STMT: return set_verdict(n->variable_set_stmt, f);
    case PG_QUERY__NODE__NODE_DISCARD_STMT: return {statement_kind::session_state, write_reason::none, {}};
    case PG_QUERY__NODE__NODE_EXECUTE_STMT: return write(write_reason::unknown);
    case PG_QUERY__NODE__NODE_INSERT_STMT:
    case PG_QUERY__NODE__NODE_UPDATE_STMT:
    case PG_QUERY__NODE__NODE_DELETE_STMT:
    case PG_QUERY__NODE__NODE_MERGE_STMT: return write(write_reason::dml);
    default:
      return write(is_statement_node(n) ? write_reason::ddl_or_utility : write_reason::unknown);
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

// ---- hints ------------------------------------------------------------------------------------

bool ieq_at(std::string_view s, std::size_t at, std::string_view word) {
  if (at > s.size() || s.size() - at < word.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[at + i])) != word[i]) return false;
  }
  return true;
}

std::size_t skip_space(std::string_view s, std::size_t i) {
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return i;
}

bool hint_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

bool hint_key_char(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }

bool hint_value_char(char c) { return hint_char(c) || c == '.'; }

// `pgrelay [:] key = value [[,] key = value]…` inside one comment's text; keys already set by an
// earlier comment keep their value (the first hint wins).
void hints_in_comment(std::string_view c, statement_hints& out) {
  for (std::size_t at = 0; at < c.size(); ++at) {
    if (!ieq_at(c, at, "pgrelay")) continue;
    auto i = skip_space(c, at + 7);
    if (i < c.size() && c[i] == ':') i = skip_space(c, i + 1);
    for (;;) {
      while (i < c.size() && (c[i] == ',' || std::isspace(static_cast<unsigned char>(c[i])))) ++i;
      auto key_start = i;
      while (i < c.size() && hint_key_char(c[i])) ++i;
      auto key = lower(c.substr(key_start, i - key_start));
      i = skip_space(c, i);
      if (key.empty() || i >= c.size() || c[i] != '=') break;
      i = skip_space(c, i + 1);
      auto value_start = i;
      while (i < c.size() && hint_value_char(c[i])) ++i;
      if (i == value_start) break;
      auto value = c.substr(value_start, i - value_start);
      if (key == "route" && out.route.empty()) {
        // Role names are [A-Za-z0-9_-]; a '.' ends the name as it always did.
        auto end = value.find('.');
        out.route = lower(value.substr(0, end));
      } else if (key == "max_lag" && !out.max_lag) {
        out.max_lag = parse_staleness(value);
      }
    }
  }
}

}  // namespace

statement_hints parse_hints(std::string_view sql) {
  statement_hints hints;
  // Cheap precheck: most statements carry no hint at all.
  bool maybe = false;
  for (std::size_t i = 0; i < sql.size() && !maybe; ++i) maybe = ieq_at(sql, i, "pgrelay");
  if (!maybe) return hints;
  std::string text(sql);
  auto scanned = pg_query_scan(text.c_str());
  if (!scanned.error) {
    auto* res = pg_query__scan_result__unpack(nullptr, scanned.pbuf.len,
                                              reinterpret_cast<const uint8_t*>(scanned.pbuf.data));
    if (res) {
      for (std::size_t i = 0; i < res->n_tokens; ++i) {
        const auto* t = res->tokens[i];
        if (t->token != PG_QUERY__TOKEN__C_COMMENT && t->token != PG_QUERY__TOKEN__SQL_COMMENT) continue;
        if (t->start < 0 || t->end < t->start || static_cast<std::size_t>(t->end) > text.size()) continue;
        hints_in_comment(std::string_view(text).substr(static_cast<std::size_t>(t->start),
                                                        static_cast<std::size_t>(t->end - t->start)),
                         hints);
      }
      pg_query__scan_result__free_unpacked(res, nullptr);
    }
  }
  pg_query_free_scan_result(scanned);
  return hints;
}

std::string route_hint(std::string_view sql) { return parse_hints(sql).route; }

std::optional<std::chrono::milliseconds> parse_staleness(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  std::uint64_t n = 0;
  std::size_t digits = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i, ++digits) {
    if (n > 1'000'000'000'000ull) return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(text[i] - '0');
  }
  if (digits == 0) return std::nullopt;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  auto unit = lower(text.substr(i));
  while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.back()))) unit.pop_back();
  std::uint64_t scale = 0;
  if (unit.empty() || unit == "ms") scale = 1;
  else if (unit == "s") scale = 1000;
  else if (unit == "min") scale = 60'000;
  else return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(n * scale));
}

classification classify(std::string_view sql, const function_catalog& catalog) {
  classification out;
  auto hints = parse_hints(sql);
  out.hint = std::move(hints.route);
  out.hint_max_lag = hints.max_lag;
  std::string text(sql);  // libpg_query wants a NUL-terminated string
  auto parsed = pg_query_parse_protobuf(text.c_str());
  if (parsed.error) {
    pg_query_free_protobuf_parse_result(parsed);
    out.kind = statement_kind::parse_error;
    out.why = write_reason::parse_error;
    return out;
  }
  auto* tree = pg_query__parse_result__unpack(nullptr, parsed.parse_tree.len,
                                              reinterpret_cast<const uint8_t*>(parsed.parse_tree.data));
  pg_query_free_protobuf_parse_result(parsed);
  if (!tree) {
    out.kind = statement_kind::parse_error;
    out.why = write_reason::parse_error;
    return out;
  }
  out.kind = statement_kind::empty;
  flags f;
  bool read_only_tx = false;
  for (std::size_t i = 0; i < tree->n_stmts; ++i) {
    const auto* stmt = tree->stmts[i]->stmt;
    if (!stmt) continue;
    ++out.statements;
    f.read_only = -1;
    auto v = statement_verdict(stmt, catalog, f);
    if (f.read_only >= 0) read_only_tx = f.read_only == 1;
    if (strength(v.kind) > strength(out.kind)) {
      out.kind = v.kind;
      out.why = v.why;
      out.function = std::move(v.function);
    }
  }
  pg_query__parse_result__free_unpacked(tree, nullptr);
  out.begin = f.begin;
  out.ends_transaction = f.ends;
  out.begin_read_only = read_only_tx;
  return out;
}

classification classify(std::string_view sql) { return classify(sql, builtin_functions()); }

std::string_view to_string(write_reason why) {
  switch (why) {
    case write_reason::none: return "none";
    case write_reason::dml: return "dml";
    case write_reason::ddl_or_utility: return "ddl_or_utility";
    case write_reason::locking_clause: return "locking_clause";
    case write_reason::select_into: return "select_into";
    case write_reason::modifying_cte: return "modifying_cte";
    case write_reason::writing_function: return "writing_function";
    case write_reason::explain_analyze: return "explain_analyze";
    case write_reason::parse_error: return "parse_error";
    case write_reason::unknown: return "unknown";
  }
  return "unknown";
}

std::string_view to_string(statement_kind kind) {
  switch (kind) {
    case statement_kind::read_only: return "read_only";
    case statement_kind::write: return "write";
    case statement_kind::transaction_control: return "transaction_control";
    case statement_kind::session_state: return "session_state";
    case statement_kind::empty: return "empty";
    case statement_kind::parse_error: return "parse_error";
  }
  return "unknown";
}

}  // namespace pgrelay::router
