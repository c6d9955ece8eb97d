// The users file: name -> SCRAM-SHA-256 verifier, with a syntactic check of each verifier and
// a hard refusal of plaintext passwords. No YAML type escapes this file; nothing is logged.
#include "pgrelay/conf/users.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>

#include "pgrelay/conf/load.hpp"

namespace pgrelay::conf {

namespace {

using namespace std::string_view_literals;

constexpr std::array top_keys{"users"sv};
constexpr std::array user_keys{"scram"sv};
constexpr std::string_view scram_prefix = "SCRAM-SHA-256$";
// SHA-256 output is 32 bytes, i.e. 44 base64 characters with one '=' of padding.
constexpr std::size_t key_b64_size = 44;

bool is_base64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return false;
  const auto pad = text.find('=');
  if (pad != std::string_view::npos) {
    // Padding only at the end, at most two characters.
    if (text.size() - pad > 2 || text.find_first_not_of('=', pad) != std::string_view::npos) {
      return false;
    }
    text = text.substr(0, pad);
  }
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
  });
}

class users_reader {
 public:
  explicit users_reader(std::string file) : file_(std::move(file)) {}

  diagnostics take() { return std::move(diags_); }

  void error(const YAML::Mark& mark, std::string key, std::string message, std::string hint = {}) {
    const bool known = !mark.is_null() && mark.line >= 0;
    diags_.push_back(diagnostic{file_, known ? mark.line + 1 : 0, known ? mark.column + 1 : 0,
                                std::move(key), std::move(message), std::move(hint)});
  }

  void read(const YAML::Node& root, user_map& out) {
    if (!root.IsMap()) {
      error(root.Mark(), "", "expected a mapping with a 'users' key, got " + kind(root));
      return;
    }
    bool seen_users = false;
    for (const auto& kv : root) {
      // Copies, not references: yaml-cpp's k lives in a temporary proxy.
      const YAML::Node k = kv.first;
      const YAML::Node val = kv.second;
      const std::string name = k.IsScalar() ? k.Scalar() : std::string{};
      if (name != "users") {
        unknown(k, name, top_keys);
        continue;
      }
      if (seen_users) {
        error(k.Mark(), "users", "duplicate key");
        continue;
      }
      seen_users = true;
      read_users(k, val, out);
    }
    if (!seen_users) error(root.Mark(), "users", "required key is missing");
  }

 private:
  static std::string kind(const YAML::Node& node) {
    if (node.IsScalar()) return "'" + node.Scalar() + "'";
    if (node.IsSequence()) return "a list";
    if (node.IsMap()) return "a mapping";
    return "nothing";
  }

  void unknown(const YAML::Node& key, const std::string& path,
               std::span<const std::string_view> keys) {
    const std::string near = closest_match(path.substr(path.rfind('.') + 1), keys);
    error(key.Mark(), path, "unknown key", near.empty() ? "" : "did you mean '" + near + "'?");
  }

  void read_users(const YAML::Node& key, const YAML::Node& users, user_map& out) {
    if (users.IsNull() || (users.IsMap() && users.size() == 0)) {
      // Nobody could log in: almost certainly a mistake, not a policy.
      error(key.Mark(), "users", "no users are defined");
      return;
    }
    if (!users.IsMap()) {
      error(users.Mark(), "users",
            "expected a mapping of user name to {scram: ...}, got " + kind(users));
      return;
    }
    std::map<std::string, int> seen;
    for (const auto& kv : users) {
      // Copies, not references: yaml-cpp's k lives in a temporary proxy.
      const YAML::Node k = kv.first;
      const YAML::Node val = kv.second;
      if (!k.IsScalar() || k.Scalar().empty()) {
        error(k.Mark(), "users", "user names must be non-empty strings");
        continue;
      }
      const std::string& name = k.Scalar();
      const std::string path = "users." + name;
      // Tracked apart from `out`, which only holds users that passed.
      if (auto [prev, fresh] = seen.emplace(name, k.Mark().line + 1); !fresh) {
        error(k.Mark(), path,
              "duplicate user (first defined at line " + std::to_string(prev->second) + ")");
        continue;
      }
      read_user(k, val, name, path, out);
    }
  }

  void read_user(const YAML::Node& key, const YAML::Node& node, const std::string& name,
                 const std::string& path, user_map& out) {
    if (!node.IsMap()) {
      error(node.IsNull() ? key.Mark() : node.Mark(), path,
            "expected {scram: \"SCRAM-SHA-256$...\"}, got " + kind(node));
      return;
    }
    std::optional<std::string> verifier;
    bool broken = false;
    for (const auto& kv : node) {
      // Copies, not references: yaml-cpp's k lives in a temporary proxy.
      const YAML::Node k = kv.first;
      const YAML::Node val = kv.second;
      const std::string field = k.IsScalar() ? k.Scalar() : std::string{};
      const std::string fpath = path + "." + field;
      if (field == "password") {
        // Refused outright, whatever else is there: plaintext must never sit on disk.
        error(k.Mark(), fpath, "plaintext passwords are not accepted",
              "run 'pgrelay make-verifier' and put its output under 'scram'");
        broken = true;
      } else if (field == "scram") {
        const YAML::Node& v = val;
        if (!v.IsScalar()) {
          error(v.IsNull() ? k.Mark() : v.Mark(), fpath, "expected a string, got " + kind(v));
          broken = true;
        } else if (const std::string why = check_scram_verifier(v.Scalar()); !why.empty()) {
          // The verifier itself is not echoed: it is a secret-equivalent for offline guessing.
          error(v.Mark(), fpath, why, "run 'pgrelay make-verifier' to produce one");
          broken = true;
        } else {
          verifier = v.Scalar();
        }
      } else {
        unknown(k, fpath, user_keys);
        broken = true;
      }
    }
    if (!verifier && !broken) error(node.Mark(), path + ".scram", "required key is missing");
    if (verifier && !broken) out.emplace(name, user_entry{name, *verifier});
  }

  std::string file_;
  diagnostics diags_;
};

}  // namespace

std::string check_scram_verifier(std::string_view v) {
  if (v.substr(0, scram_prefix.size()) != scram_prefix) {
    return "a verifier must start with 'SCRAM-SHA-256$'";
  }
  v.remove_prefix(scram_prefix.size());
  // <iterations>:<salt>$<StoredKey>:<ServerKey>
  const auto dollar = v.find('$');
  if (dollar == std::string_view::npos) {
    return "expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>";
  }
  const auto params = v.substr(0, dollar);
  const auto keys = v.substr(dollar + 1);
  const auto c1 = params.find(':');
  const auto c2 = keys.find(':');
  if (c1 == std::string_view::npos || c2 == std::string_view::npos) {
    return "expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>";
  }
  const auto iterations = params.substr(0, c1);
  std::uint32_t n = 0;
  const auto [end, ec] =
      std::from_chars(iterations.data(), iterations.data() + iterations.size(), n);
  if (iterations.empty() || ec != std::errc{} || end != iterations.data() + iterations.size() ||
      n == 0) {
    return "the iteration count must be a positive integer";
  }
  if (!is_base64(params.substr(c1 + 1))) return "the salt is not valid base64";
  const auto stored = keys.substr(0, c2);
  const auto server = keys.substr(c2 + 1);
  if (!is_base64(stored) || stored.size() != key_b64_size) {
    return "the StoredKey is not a base64 SHA-256 digest";
  }
  if (!is_base64(server) || server.size() != key_b64_size) {
    return "the ServerKey is not a base64 SHA-256 digest";
  }
  return {};
}

users_result load_users_string(std::string_view yaml, const std::string& display_name) {
  users_reader r{display_name};
  user_map users;
  try {
    r.read(YAML::Load(std::string{yaml}), users);
  } catch (const YAML::Exception& e) {
    r.error(e.mark, "", "YAML syntax error: " + e.msg);
  }
  users_result out;
  out.errors = r.take();
  std::stable_sort(out.errors.begin(), out.errors.end(),
                   [](const diagnostic& a, const diagnostic& b) {
                     return std::tie(a.line, a.column) < std::tie(b.line, b.column);
                   });
  if (out.errors.empty()) out.users = std::move(users);
  return out;
}

users_result load_users_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    const std::error_code ec{errno, std::generic_category()};
    users_result out;
    out.errors.push_back(diagnostic{path, 0, 0, "", "cannot read file: " + ec.message(), ""});
    return out;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return load_users_string(text.str(), path);
}

}  // namespace pgrelay::conf
