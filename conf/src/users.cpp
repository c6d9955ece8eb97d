// The users file: name -> SCRAM-SHA-256 verifier, with a syntactic check of each verifier and
// a hard refusal of plaintext passwords. No YAML type escapes this file; nothing is logged.
#include "pgrelay/conf/users.hpp"

#include "pgrelay/protocol/scram.hpp"

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
  // The parser that logs clients in decides: a file that passes here works at login.
  return std::string(protocol::scram_verifier_problem(v));
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
