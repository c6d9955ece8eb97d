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

// The characters std::isspace accepts in the C locale (space, \t \n \v \f \r), tested inline:
// the prefilter runs on every statement, and std::isspace is a call into glibc per byte.
constexpr bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// std::isalnum in the C locale, inline for the same reason.
constexpr bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

}  // namespace pgrelay::router::detail
