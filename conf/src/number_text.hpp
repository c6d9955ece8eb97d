// Digits-only number text, shared by the value parsers, the YAML reader and the shape pass:
// no sign, no spaces, no locale. Internal to conf/.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

namespace pgrelay::conf::detail {

// Non-empty and only the digits 0-9.
bool all_digits(std::string_view text);

// The value of an all-digits `text`; nullopt when it is not all digits or overflows.
std::optional<std::uint64_t> parse_u64(std::string_view text);

// Splits "500ms" into ("500", "ms"): the leading digits and the rest.
std::pair<std::string_view, std::string_view> split_number(std::string_view text);

}  // namespace pgrelay::conf::detail
