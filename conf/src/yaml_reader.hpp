// The shape pass's YAML reader, shared by pgrelay.yaml and the users file: positions, mapping
// and list walks with unknown-key "did you mean" hints, and scalar readers that report instead
// of throwing. Private to conf/src: no YAML type may reach a public header.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pgrelay/conf/config.hpp"
#include "pgrelay/conf/diagnostic.hpp"

namespace pgrelay::conf::detail {

using key_list = std::span<const std::string_view>;

struct position {
  int line = 0;  // 1-based, 0 when unknown
  int column = 0;
};

position to_position(const YAML::Mark& mark);

// Where a value sits. yaml-cpp marks an empty value at the *next* token, so an empty or
// unmarked value reports `key_pos`, its key's position, instead.
position value_position(const YAML::Node& value, position key_pos);

// The whole file at `path`; when it cannot be read, nullopt and one diagnostic in `errors`.
std::optional<std::string> read_text_file(const std::string& path, diagnostics& errors);

// How a node is named in a message: 'text' for a scalar, "a list", "a mapping", "nothing".
std::string describe(const YAML::Node& node);

// Calls fn(key, value, key position) for each entry of the mapping `map`, in file order.
template <typename Fn>
void for_each_entry(const YAML::Node& map, Fn&& fn) {
  for (const auto& kv : map) {
    // Copies, not references: yaml-cpp's kv.first lives in a temporary proxy.
    const YAML::Node key = kv.first;
    const YAML::Node value = kv.second;
    fn(key, value, to_position(key.Mark()));
  }
}

// One file's diagnostics so far and where each key path's value sits in it, so the semantic
// pass, which only sees plain values, can still point at the right line.
class reader {
 public:
  // `base_dir` anchors relative paths in the file (empty: leave them relative).
  reader(std::string file, std::string base_dir)
      : file_(std::move(file)), base_dir_(std::move(base_dir)) {}

  // Parses `yaml` and hands its root to `read`; a syntax error (or yaml-cpp's depth guard) is
  // one diagnostic at the offending token.
  void read_document(std::string_view yaml, const std::function<void(const YAML::Node&)>& read);

  // The diagnostics in file order, moved out.
  diagnostics take_sorted();
  std::size_t error_count() const { return diags_.size(); }

  void error(position at, std::string key, std::string message, std::string hint = {});

  // `path` made absolute against the file's directory, when it is relative.
  std::string resolve(const std::string& path) const;

  void remember(const std::string& path, position at) { where_.emplace(path, at); }
  // Position of `path`, or of its nearest recorded ancestor.
  position at(std::string path) const;

  // Whether the first `count` diagnostics include one at or under `path`: the semantic pass
  // stays quiet there so a single mistake is reported once.
  bool failed_under(std::string_view path, std::size_t count) const;
  bool failed_at(std::string_view path, std::size_t count) const;

  // "unknown key" at `path` (whose last part is `name`), with a hint when `name` is close to
  // one of `keys`, or is a pool key written next to `pool` instead of under it.
  void unknown_key(position pos, const std::string& path, const std::string& name, key_list keys);

  using entry_fn = std::function<void(std::string_view name, const YAML::Node& value,
                                      const std::string& path, position pos)>;

  // Walks a mapping. `keys` empty means any name is allowed (database and user names).
  // Reports non-string, duplicate and unknown keys; returns the names seen, or nullopt when
  // the node is not a mapping at all. A null node (`pool:` with nothing under it) is empty.
  std::optional<std::set<std::string>> read_map(const YAML::Node& node, const std::string& path,
                                                position pos, key_list keys, const entry_fn& fn);

  // "required key is missing" at path.key, unless the mapping was not read at all.
  void require(const std::optional<std::set<std::string>>& seen, const std::string& path,
               position pos, std::string_view key);

  // Walks a list (null is empty), calling fn(item, "path[i]", item position).
  template <typename Fn>
  void read_list(const YAML::Node& node, const std::string& path, position pos, Fn&& fn) {
    if (node.IsNull()) return;
    if (!node.IsSequence()) {
      error(pos, path, "expected a list, got " + describe(node));
      return;
    }
    std::size_t index = 0;
    for (const auto& item : node) {
      const std::string child = path + "[" + std::to_string(index++) + "]";
      const position item_pos = value_position(item, pos);
      remember(child, item_pos);
      fn(item, child, item_pos);
    }
  }

  // Scalar readers: the value, or nullopt after reporting why it is not one.
  std::optional<std::string> read_string(const YAML::Node& node, const std::string& path,
                                         position pos);
  std::optional<std::vector<std::string>> read_string_list(const YAML::Node& node,
                                                           const std::string& path, position pos);
  std::optional<std::uint64_t> read_u64(const YAML::Node& node, const std::string& path,
                                        position pos, std::uint64_t max);
  std::optional<std::uint32_t> read_u32(const YAML::Node& node, const std::string& path,
                                        position pos);
  std::optional<duration> read_duration(const YAML::Node& node, const std::string& path,
                                        position pos);
  // A size: a bare byte count or a number with B, kB, MB, GB or TB.
  std::optional<std::uint64_t> read_bytes(const YAML::Node& node, const std::string& path,
                                          position pos);
  std::optional<bool> read_bool(const YAML::Node& node, const std::string& path, position pos);
  // Index of the scalar in `names`, with a did-you-mean hint when it is not one of them.
  std::optional<std::size_t> read_enum(const YAML::Node& node, const std::string& path,
                                       position pos, key_list names);
  // An endpoint, its unix socket path resolved against the file's directory.
  std::optional<endpoint> read_endpoint(const YAML::Node& node, const std::string& path,
                                        position pos);

 private:
  std::string file_;
  std::string base_dir_;
  diagnostics diags_;
  std::map<std::string, position> where_;
};

}  // namespace pgrelay::conf::detail
