// The value parsers of the config (durations, byte sizes, endpoints) and the "did you mean"
// matcher behind every hint. Plain text in, plain values out; no YAML, no I/O.
#include <algorithm>
#include <charconv>
#include <limits>
#include <string>
#include <system_error>
#include <vector>

#include "number_text.hpp"
#include "pgrelay/conf/load.hpp"

namespace pgrelay::conf {

namespace detail {

bool all_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  if (!all_digits(text)) return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::pair<std::string_view, std::string_view> split_number(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  return {text.substr(0, i), text.substr(i)};
}

}  // namespace detail

namespace {

using detail::all_digits;
using detail::parse_u64;
using detail::split_number;

std::size_t osa_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment: Levenshtein plus adjacent transpositions ("szie" -> "size").
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::optional<duration> parse_duration(std::string_view text) {
  const auto [digits, unit] = split_number(text);
  const auto value = parse_u64(digits);
  if (!value) return std::nullopt;
  std::uint64_t ms_per_unit = 0;
  if (unit.empty()) {
    // A bare number is only unambiguous when it is zero.
    if (*value != 0) return std::nullopt;
    return duration{0};
  }
  if (unit == "ms")
    ms_per_unit = 1;
  else if (unit == "s")
    ms_per_unit = 1000;
  else if (unit == "m" || unit == "min")
    ms_per_unit = 60'000;
  else if (unit == "h")
    ms_per_unit = 3'600'000;
  else if (unit == "d")
    ms_per_unit = 86'400'000;
  else
    return std::nullopt;
  constexpr auto max_ms = static_cast<std::uint64_t>(std::numeric_limits<duration::rep>::max());
  if (*value > max_ms / ms_per_unit) return std::nullopt;
  return duration{static_cast<duration::rep>(*value * ms_per_unit)};
}

std::optional<std::uint64_t> parse_bytes(std::string_view text) {
  const auto [digits, unit] = split_number(text);
  const auto value = parse_u64(digits);
  if (!value) return std::nullopt;
  std::uint64_t multiplier = 0;
  if (unit.empty() || unit == "B")
    multiplier = 1;
  else if (unit == "kB" || unit == "KB")
    multiplier = 1ULL << 10;
  else if (unit == "MB")
    multiplier = 1ULL << 20;
  else if (unit == "GB")
    multiplier = 1ULL << 30;
  else if (unit == "TB")
    multiplier = 1ULL << 40;
  else
    return std::nullopt;
  if (*value > std::numeric_limits<std::uint64_t>::max() / multiplier) return std::nullopt;
  return *value * multiplier;
}

endpoint_parse parse_endpoint(std::string_view text) {
  endpoint_parse out;
  constexpr std::string_view unix_prefix = "unix:";
  if (text.substr(0, unix_prefix.size()) == unix_prefix) {
    const auto path = text.substr(unix_prefix.size());
    if (path.empty()) {
      out.error = "the unix socket path is empty";
    } else {
      out.value = endpoint{.host = {}, .port = 0, .unix_path = std::string{path}};
    }
    return out;
  }
  std::string_view host;
  std::string_view rest;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      out.error = "'" + std::string{text} + "' has no closing ']'";
      return out;
    }
    host = text.substr(1, close - 1);
    rest = text.substr(close + 1);
  } else {
    const auto colon = text.rfind(':');
    if (colon != std::string_view::npos && text.find(':') != colon) {
      out.error = "'" + std::string{text} + "': an IPv6 address needs brackets, e.g. [::1]:5432";
      return out;
    }
    host = colon == std::string_view::npos ? text : text.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon);
  }
  if (rest.empty() || rest.front() != ':') {
    out.error = "expected host:port or unix:/path, got '" + std::string{text} + "'";
    return out;
  }
  if (host.empty()) {
    out.error = "the host is empty in '" + std::string{text} + "'";
    return out;
  }
  if (host.find_first_of(" \t/") != std::string_view::npos) {
    out.error = "'" + std::string{host} + "' is not a valid host name or address";
    return out;
  }
  const auto port_text = rest.substr(1);
  const auto port = parse_u64(port_text);
  if (!port) {
    out.error = all_digits(port_text)
                    ? "port " + std::string{port_text} + " is out of range 1..65535"
                    : "port '" + std::string{port_text} + "' is not a number";
    return out;
  }
  if (*port == 0 || *port > 65535) {
    out.error = "port " + std::to_string(*port) + " is out of range 1..65535";
    return out;
  }
  out.value = endpoint{
      .host = std::string{host}, .port = static_cast<std::uint16_t>(*port), .unix_path = {}};
  return out;
}

std::string closest_match(std::string_view word, std::span<const std::string_view> candidates) {
  std::string best;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  std::string prefix_match;
  for (const auto candidate : candidates) {
    const std::size_t d = osa_distance(word, candidate);
    // Allow about one edit per three characters, so short keys only match near-misses.
    const std::size_t limit = std::clamp<std::size_t>(candidate.size() / 3, 1, 3);
    if (d <= limit && d < word.size() && d < best_distance) {
      best = candidate;
      best_distance = d;
    }
    // "warning" for "warn", "scram" for "scram-sha-256": one word abbreviates or extends
    // the other, too far apart in edits but an obvious intent.
    const auto shorter = std::min(word.size(), candidate.size());
    if (prefix_match.empty() && shorter >= 3 &&
        word.substr(0, shorter) == candidate.substr(0, shorter)) {
      prefix_match = candidate;
    }
  }
  return best.empty() ? prefix_match : best;
}

}  // namespace pgrelay::conf
