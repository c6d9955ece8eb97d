// Fuzzes statement classification on arbitrary text: classify (libpg_query + tree walk), the
// routing hint, the session-effects analysis and the literal-free cache key. Invariants: the
// cache key is idempotent and, for text that parses, the text the key stands for classifies like
// the original (the cache returns one entry for both, so they must route alike); the cheap
// pre-filter never says "no effect" for a statement the parser finds an effect in.
// Text that does not parse may share a key with text that does (PG 15 rejects "0x1F" or "1abc"
// as trailing junk; the key reads both as the number 0): whichever way the cache then routes it,
// Postgres rejects it with the same syntax error, so that pair is not checked.
#include <string>

#include "fuzz_check.hpp"
#include "pgrelay/router/cache_key.hpp"
#include "pgrelay/router/classify.hpp"
#include "pgrelay/router/session_effects.hpp"

namespace rt = pgrelay::router;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto sql = pgrelay::fuzz::as_view(data, size);
  // Client SQL arrives as a NUL-terminated string: it never contains NUL.
  sql = sql.substr(0, sql.find('\0'));

  const auto c = rt::classify(sql);
  FUZZ_CHECK(c.hint == rt::route_hint(sql));
  FUZZ_CHECK(c.kind == rt::statement_kind::parse_error || c.kind == rt::statement_kind::empty ||
             c.statements > 0);

  const auto effects = rt::analyze_session_effects(sql);
  if (!rt::may_have_session_effects(sql)) FUZZ_CHECK(!effects.any());

  const auto key = rt::literal_free_key(sql);
  FUZZ_CHECK(rt::literal_free_key(key) == key);
  if (c.kind == rt::statement_kind::parse_error) return 0;
  const auto k = rt::classify(key);
  FUZZ_CHECK(k.kind == c.kind);
  FUZZ_CHECK(k.hint == c.hint);
  FUZZ_CHECK(k.begin == c.begin && k.begin_read_only == c.begin_read_only &&
             k.ends_transaction == c.ends_transaction);

  return 0;
}
