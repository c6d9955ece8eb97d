// Relations whose use runs user code that a statement's text does not name: tables with
// triggers, tables with row-level security policies, views and rules that call user functions
// (or read such relations), tables whose column defaults call user functions. That code may
// change session state (set_config, session advisory locks…), so a statement touching one of
// these relations is treated like a call of an unknown function: `opaque`.
//
// The set is read from the primary's catalogue by the health checker (see health_checker.hpp)
// and published to workers; this is the pure half: the set and the decision.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace pgrelay::router {

// A relation as a statement names it: `schema` empty when unqualified. Names are as the parser
// leaves them (unquoted identifiers folded to lower case, quoted ones exact), which is how the
// catalogue spells them.
struct relation_ref {
  std::string schema;
  std::string name;
  bool operator==(const relation_ref&) const = default;
};

struct risky_relations {
  // Distinguishes one published set from the next, so a decision cached per statement text can
  // tell whether it was made against this set. Never 0.
  std::uint64_t version = 1;
  std::unordered_set<std::string> qualified;  // "schema.relname"
  std::unordered_set<std::string> bare;       // relname, whatever its schema
  // Custom settings ("myapp.tenant") that user functions set by a literal name. Postgres lists
  // no custom setting in pg_settings, so a probe after opaque code reads these by name to carry
  // them to the client's next server.
  std::vector<std::string> custom_settings;

  // No risky relation (custom_settings do not make a statement risky).
  bool empty() const { return bare.empty(); }
  // An unqualified name may resolve to any schema through search_path: it is risky when a risky
  // relation of that name exists in any schema (conservative).
  bool contains(const relation_ref& r) const;
};

// The set for (schema, relname) rows read from the catalogue.
risky_relations make_risky_relations(std::span<const std::pair<std::string, std::string>> rows,
                                     std::uint64_t version, std::vector<std::string> custom_settings = {});

// Whether any of `refs` names a relation of `risky`.
bool references_risky(std::span<const relation_ref> refs, const risky_relations& risky);

// Whether a statement naming `refs` may run user code it does not name, and so is `opaque`.
// `risky` null means the set is not known yet (before the catalogue was first read): then any
// relation counts, since isolation comes before speed.
bool may_run_hidden_code(std::span<const relation_ref> refs, const risky_relations* risky);

}  // namespace pgrelay::router
