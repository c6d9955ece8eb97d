// Walks the whole protobuf parse tree generically (protobuf-c descriptors), so a function call or
// a TEMP relation is found however deeply it is nested.
#include "pgrelay/router/session_effects.hpp"

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include "sql_text.hpp"
#include "tree_walk.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <optional>
#include <cstdint>
#include <cctype>
#include <cstring>

namespace pgrelay::router {

namespace {

// The text of a constant SET argument ('2s', 2, 1.5, on); empty for anything else.
std::string constant_text(const PgQuery__Node* n) {
  if (!n || n->node_case != PG_QUERY__NODE__NODE_A_CONST) return {};
  const auto* c = n->a_const;
  switch (c->val_case) {
    case PG_QUERY__A__CONST__VAL_SVAL: return c->sval && c->sval->sval ? c->sval->sval : "";
    case PG_QUERY__A__CONST__VAL_IVAL: return c->ival ? std::to_string(c->ival->ival) : "";
    case PG_QUERY__A__CONST__VAL_FVAL: return c->fval && c->fval->fval ? c->fval->fval : "";
    default: return {};
  }
}

// A constant's text; nullopt for NULL and for anything computed ($1, casts, expressions).
std::optional<std::string> constant_value(const PgQuery__Node* n) {
  if (!n || n->node_case != PG_QUERY__NODE__NODE_A_CONST || n->a_const->isnull) return std::nullopt;
  const auto* c = n->a_const;
  if (c->val_case != PG_QUERY__A__CONST__VAL_SVAL && c->val_case != PG_QUERY__A__CONST__VAL_IVAL &&
      c->val_case != PG_QUERY__A__CONST__VAL_FVAL) {
    return std::nullopt;
  }
  return constant_text(n);
}

// A constant boolean in the spellings boolin accepts in full; nullopt for anything else.
std::optional<bool> constant_bool(const PgQuery__Node* n) {
  if (!n || n->node_case != PG_QUERY__NODE__NODE_A_CONST || n->a_const->isnull) return std::nullopt;
  const auto* c = n->a_const;
  if (c->val_case == PG_QUERY__A__CONST__VAL_BOOLVAL && c->boolval) return c->boolval->boolval;
  auto text = constant_value(n);
  if (!text) return std::nullopt;
  std::string t;
  for (char ch : *text) t.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
  if (t == "t" || t == "true" || t == "on" || t == "yes" || t == "y" || t == "1") return true;
  if (t == "f" || t == "false" || t == "off" || t == "no" || t == "n" || t == "0") return false;
  return std::nullopt;
}

constexpr std::string_view pg_catalog_functions[] = {
#include "pg_catalog_functions.inc"
};
static_assert(std::is_sorted(std::begin(pg_catalog_functions), std::end(pg_catalog_functions)));

// Built-ins that leave session state behind which pgrelay neither tracks nor pins directly.
// (set_config and the advisory locks are understood by name, see on_func_call.)
constexpr std::string_view session_changing_builtins[] = {
    "setseed",  // the session's random() sequence
    "pg_replication_origin_session_setup", "pg_replication_origin_session_reset",
    "pg_backup_start", "pg_start_backup",  // a non-exclusive backup belongs to the session
    "pg_create_logical_replication_slot", "pg_create_physical_replication_slot",  // temporary slots
};

// Whether calling `schema.name` (schema empty: unqualified) is known to leave no session state.
// An unqualified built-in name is taken as the built-in: search_path puts pg_catalog first unless
// it names pg_catalog explicitly later, which applications do not do.
bool harmless_function(std::string_view schema, std::string_view name) {
  if (!schema.empty() && schema != "pg_catalog") return false;
  if (std::find(std::begin(session_changing_builtins), std::end(session_changing_builtins), name) !=
      std::end(session_changing_builtins)) {
    return false;
  }
  return std::binary_search(std::begin(pg_catalog_functions), std::end(pg_catalog_functions), name);
}

constexpr int cursor_opt_hold = 0x0020;  // CURSOR_OPT_HOLD in parsenodes.h

// Byte-wise ASCII case folding: SQL keywords are ASCII, and std::tolower is a locale call per byte
// (the prefilter runs on every statement of every request in transaction mode).
// `text` as the machine word its bytes make when loaded from memory (little or big endian).
template <typename Word, std::size_t N>
constexpr Word word_of(const char (&text)[N]) {
  static_assert(N - 1 == sizeof(Word));
  Word w = 0;
  for (std::size_t i = 0; i < sizeof(Word); ++i) {
    const auto byte = static_cast<Word>(static_cast<unsigned char>(text[i]));
    w |= std::endian::native == std::endian::little ? byte << (8 * i) : byte << (8 * (sizeof(Word) - 1 - i));
  }
  return w;
}

template <typename Word>
Word load(const char* at) {
  Word w;
  std::memcpy(&w, at, sizeof(Word));
  return w;
}

// Whether "temp" appears anywhere, ignoring ASCII case (TEMP tables, SELECT … INTO TEMP, the
// pg_temp schema). The search is for its third letter, rare in SQL, with the vectorised memchr;
// only around an 'm' is the word compared. Advisory locks need no word search: they are taken
// by function calls, which may_call_function finds by their parenthesis.
bool mentions_temp(std::string_view sql) {
  constexpr std::uint32_t lower4 = 0x20202020u;
  constexpr std::uint32_t temp = word_of<std::uint32_t>("temp");
  const char* p = sql.data();
  const std::size_t n = sql.size();
  for (char m : {'m', 'M'}) {
    for (const char* at = p + (n > 2 ? 2 : n); at < p + n;) {
      at = static_cast<const char*>(std::memchr(at, m, static_cast<std::size_t>(p + n - at)));
      if (at == nullptr) break;
      const auto j = static_cast<std::size_t>(at - p) - 2;
      if (j + 4 <= n && (load<std::uint32_t>(p + j) | lower4) == temp) return true;
      ++at;
    }
  }
  return false;
}

constexpr char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }

bool ieq_prefix(std::string_view s, std::size_t at, std::string_view word) {
  if (s.size() - at < word.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (ascii_lower(s[at + i]) != word[i]) return false;
  }
  auto end = at + word.size();
  return end == s.size() || !(detail::is_alnum(s[end]) || s[end] == '_');
}

// Whether the two characters at `i` are `first` and `second`: inline, where substr's bounds
// check would be a call per statement.
bool pair_at(std::string_view s, std::size_t i, char first, char second) {
  return i + 1 < s.size() && s[i] == first && s[i + 1] == second;
}

// Skips whitespace and comments from `i`.
std::size_t skip_blank(std::string_view s, std::size_t i) {
  for (;;) {
    while (i < s.size() && detail::is_space(s[i])) ++i;
    if (pair_at(s, i, '-', '-')) {
      i = detail::line_comment_end(s, i);  // the newline itself is skipped as space
    } else if (pair_at(s, i, '/', '*')) {
      auto end = s.find("*/", i + 2);
      i = end == std::string_view::npos ? s.size() : end + 2;
    } else {
      return i;
    }
  }
}

void visit(const ProtobufCMessage* m, session_effects& fx, std::vector<relation_ref>* relations);

// Runs on the prefilter's path for every statement with a '(': plain comparisons, no locale.
constexpr bool ident_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
         static_cast<unsigned char>(c) >= 0x80;
}

// A word of at most `word_buffer` letters, lowercased; empty for a longer one, which is no
// keyword the callers look for ("references" is the longest).
constexpr std::size_t word_buffer = 10;
struct short_word {
  char letters[word_buffer]{};
  std::size_t size = 0;
  std::string_view view() const { return {letters, size}; }
};

// The word that ends just before `end` (after blanks), lowercased; empty if none.
short_word word_before(std::string_view s, std::size_t end, std::size_t& start) {
  while (end > 0 && detail::is_space(s[end - 1])) --end;
  start = end;
  while (start > 0 && ident_char(s[start - 1])) --start;
  short_word w;
  if (end - start > word_buffer) return w;
  for (std::size_t i = start; i < end; ++i) w.letters[w.size++] = ascii_lower(s[i]);
  return w;
}

// Reserved and column-name keywords that may stand right before '(' (VALUES (…), IN (…),
// AND (…)…) and can never name a function, sorted for binary search. Keywords that can name a
// function (pgTAP's is(), a function called by or like…) are not here: see unreserved_use.
constexpr std::string_view not_a_call[] = {
    "all", "and", "any", "array", "as", "between", "case", "cast", "check", "coalesce", "default", "distinct",
    "else", "except", "exists", "from", "greatest", "having", "in", "intersect", "lateral", "least", "limit",
    "not", "nullif", "offset", "on", "or", "references", "returning", "row", "select", "some", "then", "union",
    "unique", "using", "values", "when", "where", "with",
};
static_assert(std::is_sorted(std::begin(not_a_call), std::end(not_a_call)));

// Unreserved keywords that usually open a clause before '(' but may also name a function:
// not a call only in the clause's own context (the word before, or a ')' before an aggregate's
// FILTER / a window's OVER).
bool unreserved_use(std::string_view word, std::string_view prev, char before) {
  if (word == "by") return prev == "group" || prev == "order" || prev == "partition";
  if (word == "key") return prev == "primary" || prev == "foreign";
  if (word == "conflict") return prev == "on";
  if (word == "filter" || word == "over") return before == ')';
  return false;
}

// Whether a '(' may follow a function name. Any doubt says yes: it only costs one parse of that
// text (the result is cached). A column list after INSERT INTO t / CREATE TABLE t is no call.
bool may_call_function(std::string_view sql) {
  for (auto p = sql.find('('); p != std::string_view::npos; p = sql.find('(', p + 1)) {
    std::size_t end = p;
    while (end > 0 && detail::is_space(sql[end - 1])) --end;
    if (end == 0) continue;
    const char c = sql[end - 1];
    if (std::strchr("(,=<>+-*|!~%^&;[:", c)) continue;  // an operator or a list: grouping parentheses
    if (!ident_char(c)) return true;                    // a quoted name, a comment…
    std::size_t start = 0;
    const auto word = word_before(sql, end, start);
    const auto w = word.view();
    if (std::binary_search(std::begin(not_a_call), std::end(not_a_call), w)) continue;
    std::size_t prev_start = 0;
    const auto prev_word = word_before(sql, start, prev_start);
    const auto prev = prev_word.view();
    if (prev == "into" || prev == "table" || prev == "exists") continue;
    std::size_t gap = start;
    while (gap > 0 && detail::is_space(sql[gap - 1])) --gap;
    if (unreserved_use(w, prev, gap > 0 ? sql[gap - 1] : '\0')) continue;
    return true;
  }
  return false;
}


std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// set_config(name, value, is_local): a SET when is_local is false, replayed like one.
void on_set_config(const PgQuery__FuncCall* fc, session_effects& fx) {
  auto name = fc->n_args == 3 ? constant_value(fc->args[0]) : std::nullopt;
  if (!name) {
    fx.opaque = true;  // which setting is unknown: only the server can say
    return;
  }
  auto is_local = constant_bool(fc->args[2]);
  if (is_local == true) return;  // ends with the transaction
  auto key = lower(*name);
  if (key == "role" || key == "session_authorization") {
    fx.set_role = true;
    return;
  }
  if (fx.set_by_function) {
    fx.opaque = true;  // one tracked setting per statement: a second one is read back whole
    return;
  }
  auto value = constant_value(fc->args[1]);
  fx.set = true;
  fx.set_by_function = true;
  fx.set_name = std::move(key);
  fx.set_value_unknown = !value || !is_local.has_value();  // a computed is_local may be true
  if (!fx.set_value_unknown) fx.set_value = std::move(*value);
}

void on_func_call(const PgQuery__FuncCall* fc, session_effects& fx) {
  if (fc->n_funcname == 0) return;
  const auto* last = fc->funcname[fc->n_funcname - 1];
  if (last->node_case != PG_QUERY__NODE__NODE_STRING) return;
  std::string_view name = last->string->sval;
  std::string_view schema;
  if (fc->n_funcname >= 2) {
    const auto* s = fc->funcname[fc->n_funcname - 2];
    schema = s->node_case == PG_QUERY__NODE__NODE_STRING ? std::string_view(s->string->sval) : "?";
  }
  // Transaction-level variants (pg_advisory_xact_lock…) end with the transaction: harmless.
  if (name == "pg_advisory_lock" || name == "pg_advisory_lock_shared" || name == "pg_try_advisory_lock" ||
      name == "pg_try_advisory_lock_shared") {
    fx.advisory_lock = true;
  } else if (name.starts_with("pg_advisory_unlock")) {
    fx.advisory_unlock = true;
  } else if (name == "set_config" && (schema.empty() || schema == "pg_catalog")) {
    on_set_config(fc, fx);
  } else if (!harmless_function(schema, name)) {
    fx.opaque = true;
  }
}

// pg_temp names this session's temporary schema; pg_temp_N one by number.
bool is_temp_schema(std::string_view schema) {
  if (schema == "pg_temp") return true;
  if (!schema.starts_with("pg_temp_") || schema.size() == 8) return false;
  return std::all_of(schema.begin() + 8, schema.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Remembers a relation the statement names, once (a CTE's name too: it only costs a false alarm).
void note_relation(const PgQuery__RangeVar* rv, std::vector<relation_ref>& relations) {
  if (!rv->relname || !*rv->relname) return;
  relation_ref r{rv->schemaname ? rv->schemaname : "", rv->relname};
  if (std::find(relations.begin(), relations.end(), r) == relations.end()) relations.push_back(std::move(r));
}

void visit(const ProtobufCMessage* m, session_effects& fx, std::vector<relation_ref>* relations) {
  if (!m) return;
  const auto* d = m->descriptor;
  if (d == &pg_query__func_call__descriptor) {
    on_func_call(reinterpret_cast<const PgQuery__FuncCall*>(m), fx);
  } else if (d == &pg_query__range_var__descriptor) {
    const auto* rv = reinterpret_cast<const PgQuery__RangeVar*>(m);
    if (rv->relpersistence && std::strcmp(rv->relpersistence, "t") == 0) fx.temp_table = true;
    if (rv->schemaname && is_temp_schema(rv->schemaname)) fx.temp_table = true;
    if (relations) note_relation(rv, *relations);
  } else if (d == &pg_query__string__descriptor) {
    // A qualified name part (functions, types, sequences: CREATE FUNCTION pg_temp.f …).
    if (is_temp_schema(reinterpret_cast<const PgQuery__String*>(m)->sval)) fx.temp_table = true;
  } else if (d == &pg_query__a__const__descriptor) {
    return;  // a literal: its text names nothing
  }
  detail::for_each_child(m, [&](const ProtobufCMessage* child) { visit(child, fx, relations); });
}

void on_statement(const PgQuery__Node* n, session_effects& fx) {
  switch (n->node_case) {
    case PG_QUERY__NODE__NODE_LISTEN_STMT: fx.listen = true; break;
    case PG_QUERY__NODE__NODE_PREPARE_STMT: fx.sql_prepare = true; break;
    case PG_QUERY__NODE__NODE_TRANSACTION_STMT: fx.transaction_control = true; break;
    // Code pgrelay cannot read (a DO body, a procedure, a loaded library): the server is examined.
    case PG_QUERY__NODE__NODE_DO_STMT:
    case PG_QUERY__NODE__NODE_CALL_STMT:
    case PG_QUERY__NODE__NODE_LOAD_STMT: fx.opaque = true; break;
    case PG_QUERY__NODE__NODE_DEALLOCATE_STMT: {
      const char* name = n->deallocate_stmt->name;
      if (!name || !*name) {
        fx.deallocate_all = true;
      } else {
        fx.deallocate = true;
        fx.name = name;
      }
      break;
    }
    case PG_QUERY__NODE__NODE_DISCARD_STMT:
      if (n->discard_stmt->target == PG_QUERY__DISCARD_MODE__DISCARD_ALL) fx.discard_all = true;
      break;
    case PG_QUERY__NODE__NODE_DECLARE_CURSOR_STMT:
      if (n->declare_cursor_stmt->options & cursor_opt_hold) fx.with_hold_cursor = true;
      break;
    case PG_QUERY__NODE__NODE_VARIABLE_SET_STMT: {
      const auto* v = n->variable_set_stmt;
      std::string name = v->name ? lower(v->name) : "";
      if (name == "role" || name == "session_authorization") {
        if (v->kind != PG_QUERY__VARIABLE_SET_KIND__VAR_RESET) fx.set_role = true;
        break;
      }
      if (v->is_local) break;
      if (v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL) {
        fx.reset_all = true;
      } else if (v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET) {
        fx.reset = true;
        fx.set_name = name;
      } else if (v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_VALUE ||
                 v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_DEFAULT ||
                 v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_CURRENT) {
        fx.set = true;
        fx.set_name = name;
        if (v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_VALUE && v->n_args == 1) fx.set_value = constant_text(v->args[0]);
      } else if (v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_MULTI && name != "transaction") {
        // SET SESSION CHARACTERISTICS AS TRANSACTION …: session state with no single setting
        // name to replay or reset, so it is reported as a SET without a name (it pins).
        fx.set = true;
      }
      break;
    }
    default: break;
  }
}

// Whether the statement starting at `i` begins with a word that may change the session.
bool starts_with_session_word(std::string_view sql, std::size_t i) {
  auto any_of = [&](std::initializer_list<std::string_view> words) {
    for (auto w : words) {
      if (ieq_prefix(sql, i, w)) return true;
    }
    return false;
  };
  switch (ascii_lower(sql[i])) {
    case 's': return any_of({"set"});
    case 'r': return any_of({"reset"});
    case 'l': return any_of({"listen", "load"});
    case 'p': return any_of({"prepare"});
    case 'd': return any_of({"deallocate", "discard", "declare", "do"});
    case 'c': return any_of({"create", "call"});
    default: return false;
  }
}

}  // namespace

bool may_have_session_effects(std::string_view sql) {
  if (mentions_temp(sql) || may_call_function(sql)) return true;
  std::size_t i = 0;
  for (;;) {
    i = skip_blank(sql, i);
    if (i >= sql.size()) return false;
    if (starts_with_session_word(sql, i)) return true;
    // Next statement: after the next ';' (one inside a literal only costs a parse).
    auto semi = sql.find(';', i);
    if (semi == std::string_view::npos) return false;
    i = semi + 1;
  }
}

bool is_pg_catalog_function(std::string_view name) {
  return std::binary_search(std::begin(pg_catalog_functions), std::end(pg_catalog_functions), name);
}

session_effects analyze_session_effects(std::string_view sql, std::vector<relation_ref>* relations) {
  session_effects fx;
  auto tree = detail::parse(sql);
  if (!tree) return fx;
  for (std::size_t i = 0; i < tree->n_stmts; ++i) {
    const auto* stmt = tree->stmts[i]->stmt;
    if (!stmt) continue;
    ++fx.statements;
    on_statement(stmt, fx);
    visit(&stmt->base, fx, relations);
  }
  return fx;
}

}  // namespace pgrelay::router
