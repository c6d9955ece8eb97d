// What Postgres's scanner (src/backend/parser/scan.l) says about raw SQL text, for the passes
// that read text without parsing it (the session-effects prefilter, the cache key).
#pragma once

#include <string_view>

namespace pgrelay::router::detail {

// Where a "--" comment that starts at `at` ends: at the next newline, which for Postgres is a
// line feed or a carriage return (scan.l: newline [\n\r]), or at the end of the text.
inline std::size_t line_comment_end(std::string_view s, std::size_t at) {
  const auto nl = s.find_first_of("\n\r", at);
  return nl == std::string_view::npos ? s.size() : nl;
}

}  // namespace pgrelay::router::detail
