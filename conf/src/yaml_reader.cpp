// The shared YAML reader: every shape error of pgrelay.yaml and the users file is reported
// here, with its position and, for a misspelt key or value, the closest accepted one.
#include "yaml_reader.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>
#include <tuple>

#include "key_tables.hpp"
#include "number_text.hpp"
#include "pgrelay/conf/load.hpp"

namespace pgrelay::conf::detail {

namespace {

using namespace std::string_view_literals;

constexpr std::array bool_names{"true"sv, "false"sv};

std::string join(key_list names) {
  std::string out;
  for (auto name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

}  // namespace

position to_position(const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0) return {};
  return {mark.line + 1, mark.column + 1};
}

position value_position(const YAML::Node& value, position key_pos) {
  if (value.IsNull()) return key_pos;
  const position p = to_position(value.Mark());
  return p.line == 0 ? key_pos : p;
}

std::optional<std::string> read_text_file(const std::string& path, diagnostics& errors) {
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    const std::error_code ec{errno, std::generic_category()};
    errors.push_back(diagnostic{path, 0, 0, "", "cannot read file: " + ec.message(), ""});
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "nothing";
    case YAML::NodeType::Scalar:
      return "'" + node.Scalar() + "'";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
  }
  return "something else";
}

void reader::read_document(std::string_view yaml,
                           const std::function<void(const YAML::Node&)>& read) {
  try {
    read(YAML::Load(std::string{yaml}));
  } catch (const YAML::Exception& e) {
    error(to_position(e.mark), "", "YAML syntax error: " + e.msg);
  }
}

diagnostics reader::take_sorted() {
  std::stable_sort(diags_.begin(), diags_.end(), [](const diagnostic& a, const diagnostic& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  return std::move(diags_);
}

void reader::error(position at, std::string key, std::string message, std::string hint) {
  diags_.push_back(
      diagnostic{file_, at.line, at.column, std::move(key), std::move(message), std::move(hint)});
}

std::string reader::resolve(const std::string& path) const {
  if (base_dir_.empty() || path.empty()) return path;
  const std::filesystem::path p{path};
  if (p.is_absolute()) return path;
  return (std::filesystem::path{base_dir_} / p).lexically_normal().string();
}

position reader::at(std::string path) const {
  for (;;) {
    if (auto it = where_.find(path); it != where_.end()) return it->second;
    const auto cut = path.find_last_of(".[");
    if (cut == std::string::npos) break;
    path.resize(cut);
  }
  if (auto it = where_.find(""); it != where_.end()) return it->second;
  return {};
}

bool reader::failed_under(std::string_view path, std::size_t count) const {
  for (std::size_t i = 0; i < count && i < diags_.size(); ++i) {
    const std::string_view key = diags_[i].key;
    if (key == path) return true;
    if (key.size() > path.size() && key.substr(0, path.size()) == path &&
        (key[path.size()] == '.' || key[path.size()] == '[')) {
      return true;
    }
  }
  return false;
}

bool reader::failed_at(std::string_view path, std::size_t count) const {
  for (std::size_t i = 0; i < count && i < diags_.size(); ++i) {
    if (diags_[i].key == path) return true;
  }
  return false;
}

void reader::unknown_key(position pos, const std::string& path, const std::string& name,
                         key_list keys) {
  if (name == "<<") {
    error(pos, path, "YAML merge keys ('<<') are not supported; repeat the keys instead");
    return;
  }
  std::string near = closest_match(name, keys);
  std::string hint;
  if (!near.empty()) {
    hint = "did you mean '" + near + "'?";
  } else if (std::find(pool_keys.begin(), pool_keys.end(), name) != pool_keys.end() &&
             std::find(keys.begin(), keys.end(), "pool"sv) != keys.end()) {
    // A pool knob written one level too high: point at where it belongs.
    hint = "did you mean 'pool." + name + "'?";
  }
  error(pos, path, "unknown key", std::move(hint));
}

std::optional<std::set<std::string>> reader::read_map(const YAML::Node& node,
                                                      const std::string& path, position pos,
                                                      key_list keys, const entry_fn& fn) {
  std::set<std::string> seen;
  if (node.IsNull()) return seen;
  if (!node.IsMap()) {
    error(value_position(node, pos), path, "expected a mapping, got " + describe(node));
    return std::nullopt;
  }
  std::map<std::string, int> first_line;
  for_each_entry(node, [&](const YAML::Node& key, const YAML::Node& value, position key_pos) {
    if (!key.IsScalar()) {
      error(key_pos, path, "keys must be plain strings, got " + describe(key));
      return;
    }
    const std::string& name = key.Scalar();
    const std::string child = path.empty() ? name : path + "." + name;
    if (auto [prev, fresh] = first_line.emplace(name, key_pos.line); !fresh) {
      error(key_pos, child,
            "duplicate key (first defined at line " + std::to_string(prev->second) + ")");
      return;
    }
    if (!keys.empty() && std::find(keys.begin(), keys.end(), name) == keys.end()) {
      unknown_key(key_pos, child, name, keys);
      return;
    }
    seen.insert(name);
    const position at_value = value_position(value, key_pos);
    remember(child, at_value);
    fn(name, value, child, at_value);
  });
  return seen;
}

void reader::require(const std::optional<std::set<std::string>>& seen, const std::string& path,
                     position pos, std::string_view key) {
  if (!seen || seen->count(std::string{key}) != 0) return;
  const std::string child = path.empty() ? std::string{key} : path + "." + std::string{key};
  error(pos, child, "required key is missing");
}

std::optional<std::string> reader::read_string(const YAML::Node& node, const std::string& path,
                                               position pos) {
  if (!node.IsScalar()) {
    error(pos, path, "expected a string, got " + describe(node));
    return std::nullopt;
  }
  return node.Scalar();
}

std::optional<std::vector<std::string>> reader::read_string_list(const YAML::Node& node,
                                                                 const std::string& path,
                                                                 position pos) {
  std::vector<std::string> out;
  bool ok = node.IsNull() || node.IsSequence();
  read_list(node, path, pos, [&](const YAML::Node& item, const std::string& child, position p) {
    if (auto s = read_string(item, child, p)) {
      out.push_back(*s);
    } else {
      ok = false;
    }
  });
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::uint64_t> reader::read_u64(const YAML::Node& node, const std::string& path,
                                              position pos, std::uint64_t max) {
  auto text = read_string(node, path, pos);
  if (!text) return std::nullopt;
  const auto value = parse_u64(*text);
  if (!value) {
    if (all_digits(*text)) {
      error(pos, path, "'" + *text + "' is too large (at most " + std::to_string(max) + ")");
    } else {
      error(pos, path, "expected a non-negative integer, got '" + *text + "'");
    }
    return std::nullopt;
  }
  if (*value > max) {
    error(pos, path, "'" + *text + "' is too large (at most " + std::to_string(max) + ")");
    return std::nullopt;
  }
  return value;
}

std::optional<std::uint32_t> reader::read_u32(const YAML::Node& node, const std::string& path,
                                              position pos) {
  const auto v = read_u64(node, path, pos, std::numeric_limits<std::uint32_t>::max());
  if (!v) return std::nullopt;
  return static_cast<std::uint32_t>(*v);
}

std::optional<duration> reader::read_duration(const YAML::Node& node, const std::string& path,
                                              position pos) {
  auto text = read_string(node, path, pos);
  if (!text) return std::nullopt;
  if (auto d = parse_duration(*text)) return d;
  const auto [digits, unit] = split_number(*text);
  if (!digits.empty() && unit.empty()) {
    error(pos, path, "a duration needs a unit, got '" + *text + "'",
          "write e.g. '" + *text + "s' or '" + *text + "ms'; only 0 may be bare");
  } else {
    error(pos, path, "expected a duration like 500ms, 5s, 2m or 1h (or 0), got '" + *text + "'");
  }
  return std::nullopt;
}

std::optional<std::uint64_t> reader::read_bytes(const YAML::Node& node, const std::string& path,
                                                position pos) {
  auto text = read_string(node, path, pos);
  if (!text) return std::nullopt;
  if (auto b = parse_bytes(*text)) return b;
  error(pos, path, "expected a size like 16MB, 512kB or 1048576, got '" + *text + "'");
  return std::nullopt;
}

std::optional<bool> reader::read_bool(const YAML::Node& node, const std::string& path,
                                      position pos) {
  auto i = read_enum(node, path, pos, bool_names);
  if (!i) return std::nullopt;
  return *i == 0;
}

std::optional<std::size_t> reader::read_enum(const YAML::Node& node, const std::string& path,
                                             position pos, key_list names) {
  auto text = read_string(node, path, pos);
  if (!text) return std::nullopt;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == *text) return i;
  }
  const std::string near = closest_match(*text, names);
  error(pos, path, "expected one of " + join(names) + ", got '" + *text + "'",
        near.empty() ? std::string{} : "did you mean '" + near + "'?");
  return std::nullopt;
}

std::optional<endpoint> reader::read_endpoint(const YAML::Node& node, const std::string& path,
                                              position pos) {
  auto text = read_string(node, path, pos);
  if (!text) return std::nullopt;
  auto parsed = parse_endpoint(*text);
  if (!parsed.value) {
    error(pos, path, parsed.error);
    return std::nullopt;
  }
  parsed.value->unix_path = resolve(parsed.value->unix_path);
  return parsed.value;
}

}  // namespace pgrelay::conf::detail
