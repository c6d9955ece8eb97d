// A cache key for statement classification that ignores literal values: `... where aid = 42`
// and `... where aid = 7` share one entry, since a constant never changes what a statement
// does. Keywords, identifiers, comments (hints) and operators are kept as they are.
#pragma once

#include <string>
#include <string_view>

namespace pgrelay::router {

// Replaces numeric literals with 0 and the contents of string literals ('…', E'…') with
// nothing; quoted identifiers, dollar-quoted bodies and comments are copied unchanged.
std::string literal_free_key(std::string_view sql);
// The same, written into `out` (cleared first; its capacity is reused).
void literal_free_key(std::string_view sql, std::string& out);
// For logs: as literal_free_key, and dollar-quoted bodies and unterminated strings emptied
// too (a password in ALTER ROLE … PASSWORD $$…$$, a statement cut short inside a literal).
std::string log_safe_statement(std::string_view sql);
// Both of the above; `for_log` selects the second.
void scrub_literals(std::string_view sql, std::string& out, bool for_log);

}  // namespace pgrelay::router

#include <functional>
#include <unordered_map>

#include "pgrelay/router/classify.hpp"
#include "pgrelay/router/function_catalog.hpp"

namespace pgrelay::router {

// How classification_cache::get looks a text up. A text that is some statement's key is its
// own key (keys are idempotent), so `text_first` skips building the key for a repeated
// literal-free text, at the cost of a missed lookup for a text with literals; `key_first`
// builds the key at once, for texts that usually carry literals.
enum class lookup_order : bool { text_first, key_first };

// Classifications by literal-free key, bounded (emptied when full). One per worker: not shared.
class classification_cache {
 public:
  explicit classification_cache(std::size_t capacity = 8192) : capacity_(capacity) {}

  // The cached classification of `sql`, classifying it with `catalog` on a miss. The reference
  // is valid until the next call.
  const classification& get(std::string_view sql, const function_catalog& catalog,
                            lookup_order order = lookup_order::text_first);
  void clear() { map_.clear(); }
  std::size_t size() const { return map_.size(); }

 private:
  // Lookups by std::string_view without building a std::string.
  struct text_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::size_t capacity_;
  std::unordered_map<std::string, classification, text_hash, std::equal_to<>> map_;
  std::string scratch_;  // the key being built (capacity reused)
};

}  // namespace pgrelay::router
