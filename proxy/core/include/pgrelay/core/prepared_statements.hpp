// Protocol-level named prepared statements in transaction mode: each client's names map to
// pool-wide statements shared by identical (text, parameter types); each server remembers,
// in a bounded LRU, which of them it has prepared under pgrelay's names.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace pgrelay::core {

using statement_id = std::uint64_t;

// The name a statement has on every server: ids are never reused, so a name never changes meaning.
std::string server_statement_name(statement_id id);
// Names of that form belong to pgrelay. A client that uses one it never defined must reach no
// shared statement: it gets a name that no server statement has (so Postgres answers 26000,
// as on a direct connection).
bool is_reserved_statement_name(std::string_view name);
std::string shielded_statement_name(std::string_view name);

// Pool-wide: identical statements share one id. Entries live while some client refers to them.
class statement_registry {
 public:
  struct entry {
    std::string sql;
    std::string param_types;  // the Parse message's raw int16 count + int32 OIDs
    std::uint32_t refs = 0;
    // Bumped when a server reports the plan stale (DDL changed its result type): every server
    // prepared at an older generation re-prepares it before its next use.
    std::uint32_t generation = 0;
    // Some server accepted it: a client's Parse of it can be answered without a server.
    bool validated = false;
    // Whether executing it may leave session state on the server (a lock, a setting, user code
    // behind a relation), as judged against the caller's view of the world at `judged_at`
    // (nullopt: not yet). Each execution, not only the Parse, then has the server examined.
    std::optional<std::uint64_t> judged_at;
    bool may_change_session = false;
  };

  statement_id intern(std::string_view sql, std::string_view param_types);
  void release(statement_id id);
  const entry* find(statement_id id) const;
  entry* find(statement_id id);
  void invalidate(statement_id id);
  void mark_validated(statement_id id);
  bool is_validated(std::string_view sql, std::string_view param_types) const;
  std::size_t size() const { return by_id_.size(); }

  // A clock of Parses: a client's Parse takes a new tick; a server's copy of a statement is
  // stamped with the clock when it was prepared. A copy older than the client's Parse may
  // carry parameter or result types from before a DDL, so that client re-prepares it: a Parse
  // behaves as if parsed now, whatever other clients prepared before.
  std::uint64_t tick() { return ++parse_clock_; }
  std::uint64_t parse_clock() const { return parse_clock_; }

 private:
  std::uint64_t parse_clock_ = 0;
  std::unordered_map<std::string, statement_id> by_key_;
  std::unordered_map<statement_id, entry> by_id_;
  statement_id next_ = 1;
};

// One client's named statements. The registry's reference counts follow this map.
class client_statements {
 public:
  explicit client_statements(statement_registry& registry) : registry_(&registry) {}
  ~client_statements() { clear(); }
  client_statements(const client_statements&) = delete;
  client_statements& operator=(const client_statements&) = delete;

  struct binding {
    statement_id id = 0;
    std::uint64_t parsed_at = 0;  // the registry's parse clock at the client's Parse
  };

  // Defines (or redefines) `name` as parsed now; returns its id.
  statement_id define(std::string_view name, std::string_view sql, std::string_view param_types);
  std::optional<statement_id> find(std::string_view name) const;
  std::optional<binding> lookup(std::string_view name) const;
  bool forget(std::string_view name);
  void clear();
  std::size_t size() const { return by_name_ ? by_name_->size() : 0; }

 private:
  using binding_map = std::unordered_map<std::string, binding>;
  statement_registry* registry_;
  // Made by the first named statement: every client in transaction mode keeps one of these, and
  // an empty map would take 56 bytes of each idle client that never names a statement.
  std::unique_ptr<binding_map> by_name_;
};

// One server's prepared statements, least recently used first out.
class server_statements {
 public:
  explicit server_statements(std::size_t capacity = 500) : capacity_(capacity) {}

  bool contains(statement_id id) const { return index_.contains(id); }
  void touch(statement_id id);
  // Records `id` as prepared; returns the statement to close on the server when over capacity.
  std::optional<statement_id> add(statement_id id);
  void remove(statement_id id);
  void clear();
  std::size_t size() const { return index_.size(); }
  void set_capacity(std::size_t c) { capacity_ = c; }

 private:
  std::size_t capacity_;
  std::list<statement_id> order_;  // front = most recently used
  std::unordered_map<statement_id, std::list<statement_id>::iterator> index_;
};

}  // namespace pgrelay::core
