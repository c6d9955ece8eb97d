// known_key_paths(): every accepted key as a dotted pattern, derived at compile time from the
// per-level key tables (key_tables.hpp), so a key added to its table is listed with no more work.
#include <array>
#include <cstddef>
#include <initializer_list>
#include <string_view>

#include "key_tables.hpp"
#include "pgrelay/conf/load.hpp"

namespace pgrelay::conf {

namespace {

using namespace std::string_view_literals;
using detail::key_levels;

constexpr std::size_t joined_size(std::string_view parent, std::string_view key) {
  return parent.empty() ? key.size() : parent.size() + 1 + key.size();
}

// Whether `path` is `parent.key` (`key` at the root) followed by `suffix`.
constexpr bool spells(std::string_view path, std::string_view parent, std::string_view key,
                      std::string_view suffix) {
  const std::size_t head = joined_size(parent, key);
  if (path.size() != head + suffix.size() || !path.starts_with(parent)) return false;
  if (!parent.empty() && path[parent.size()] != '.') return false;
  return path.substr(head - key.size(), key.size()) == key && path.substr(head) == suffix;
}

// A key with a level of its own under it: a mapping ("tls.client"), a map of names
// ("databases.*") or a list of mappings ("databases.*.replicas[]").
constexpr bool is_branch(std::string_view parent, std::string_view key) {
  for (const auto& level : key_levels) {
    for (const auto suffix : {""sv, ".*"sv, "[]"sv}) {
      if (spells(level.path, parent, key, suffix)) return true;
    }
  }
  return false;
}

// Calls fn(parent, key) for every key that is not a branch, level by level.
template <class Fn>
constexpr void for_each_leaf(Fn&& fn) {
  for (const auto& level : key_levels) {
    for (const auto key : level.keys) {
      if (!is_branch(level.path, key)) fn(level.path, key);
    }
  }
}

constexpr std::size_t path_count = [] {
  std::size_t n = 0;
  for_each_leaf([&](std::string_view, std::string_view) { ++n; });
  return n;
}();

constexpr std::size_t text_size = [] {
  std::size_t n = 0;
  for_each_leaf([&](std::string_view parent, std::string_view key) { n += joined_size(parent, key); });
  return n;
}();

// Every path's characters back to back; `key_paths` views into it.
constexpr std::array<char, text_size> path_text = [] {
  std::array<char, text_size> out{};
  std::size_t at = 0;
  const auto put = [&](std::string_view s) {
    for (const char c : s) out[at++] = c;
  };
  for_each_leaf([&](std::string_view parent, std::string_view key) {
    put(parent);
    if (!parent.empty()) put("."sv);
    put(key);
  });
  return out;
}();

constexpr std::array<std::string_view, path_count> key_paths = [] {
  std::array<std::string_view, path_count> out{};
  std::size_t at = 0;
  std::size_t i = 0;
  for_each_leaf([&](std::string_view parent, std::string_view key) {
    out[i++] = std::string_view{path_text.data() + at, joined_size(parent, key)};
    at += joined_size(parent, key);
  });
  return out;
}();

}  // namespace

std::span<const std::string_view> known_key_paths() { return key_paths; }

}  // namespace pgrelay::conf
