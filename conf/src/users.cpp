// The users file: name -> SCRAM-SHA-256 verifier, with the verifier checked by the parser that
// logs clients in and a hard refusal of plaintext passwords. Read with the config's YAML reader
// (positions, hints, file handling); no YAML type escapes conf/src and nothing is logged.
#include "pgrelay/conf/users.hpp"

#include "pgrelay/protocol/scram.hpp"

#include <array>
#include <map>
#include <optional>
#include <string>

#include "yaml_reader.hpp"

namespace pgrelay::conf {

namespace {

using namespace std::string_view_literals;
using detail::describe;
using detail::for_each_entry;
using detail::position;
using detail::reader;
using detail::to_position;
using detail::value_position;

constexpr std::array top_keys{"users"sv};
constexpr std::array user_keys{"scram"sv};

// The walks below are the users file's own rather than reader::read_map: a plaintext password
// is refused at its key, a name given twice is a duplicate user, and an empty map is an error.

// The scram value, or nullopt after reporting why it is not a usable verifier.
std::optional<std::string> read_verifier(reader& r, const YAML::Node& value, const std::string& path,
                                         position at) {
  auto text = r.read_string(value, path, at);
  if (!text) return std::nullopt;
  if (const std::string why = check_scram_verifier(*text); !why.empty()) {
    // The verifier itself is not echoed: it is a secret-equivalent for offline guessing.
    r.error(at, path, why, "run 'pgrelay make-verifier' to produce one");
    return std::nullopt;
  }
  return text;
}

// `users.<name>`: {scram: verifier}. Only a user whose entry is entirely valid is added.
void read_user(reader& r, const YAML::Node& node, const std::string& name, const std::string& path,
               position pos, user_map& out) {
  if (!node.IsMap()) {
    r.error(pos, path, "expected {scram: \"SCRAM-SHA-256$...\"}, got " + describe(node));
    return;
  }
  std::optional<std::string> verifier;
  bool broken = false;
  for_each_entry(node, [&](const YAML::Node& key, const YAML::Node& value, position key_pos) {
    const std::string field = key.IsScalar() ? key.Scalar() : std::string{};
    const std::string fpath = path + "." + field;
    if (field == "password") {
      // Refused outright, whatever else is there: plaintext must never sit on disk.
      r.error(key_pos, fpath, "plaintext passwords are not accepted",
              "run 'pgrelay make-verifier' and put its output under 'scram'");
      broken = true;
    } else if (field != "scram") {
      r.unknown_key(key_pos, fpath, field, user_keys);
      broken = true;
    } else if (auto v = read_verifier(r, value, fpath, value_position(value, key_pos))) {
      verifier = std::move(v);
    } else {
      broken = true;
    }
  });
  if (!verifier && !broken) r.error(pos, path + ".scram", "required key is missing");
  if (verifier && !broken) out.emplace(name, user_entry{name, *verifier});
}

// The value of `users`, at `key_pos` (its key).
void read_users(reader& r, position key_pos, const YAML::Node& users, user_map& out) {
  if (users.IsNull() || (users.IsMap() && users.size() == 0)) {
    // Nobody could log in: almost certainly a mistake, not a policy.
    r.error(key_pos, "users", "no users are defined");
    return;
  }
  if (!users.IsMap()) {
    r.error(value_position(users, key_pos), "users",
            "expected a mapping of user name to {scram: ...}, got " + describe(users));
    return;
  }
  std::map<std::string, int> seen;
  for_each_entry(users, [&](const YAML::Node& key, const YAML::Node& value, position name_pos) {
    if (!key.IsScalar() || key.Scalar().empty()) {
      r.error(name_pos, "users", "user names must be non-empty strings");
      return;
    }
    const std::string& name = key.Scalar();
    const std::string path = "users." + name;
    // Tracked apart from `out`, which only holds users that passed.
    if (auto [prev, fresh] = seen.emplace(name, name_pos.line); !fresh) {
      r.error(name_pos, path,
              "duplicate user (first defined at line " + std::to_string(prev->second) + ")");
      return;
    }
    read_user(r, value, name, path, value_position(value, name_pos), out);
  });
}

void read_users_document(reader& r, const YAML::Node& root, user_map& out) {
  const position root_pos = to_position(root.Mark());
  if (!root.IsMap()) {
    r.error(root_pos, "", "expected a mapping with a 'users' key, got " + describe(root));
    return;
  }
  bool seen_users = false;
  for_each_entry(root, [&](const YAML::Node& key, const YAML::Node& value, position key_pos) {
    const std::string name = key.IsScalar() ? key.Scalar() : std::string{};
    if (name != "users") {
      r.unknown_key(key_pos, name, name, top_keys);
    } else if (seen_users) {
      r.error(key_pos, "users", "duplicate key");
    } else {
      seen_users = true;
      read_users(r, key_pos, value, out);
    }
  });
  if (!seen_users) r.error(root_pos, "users", "required key is missing");
}

}  // namespace

std::string check_scram_verifier(std::string_view v) {
  // The parser that logs clients in decides: a file that passes here works at login.
  return std::string(protocol::scram_verifier_problem(v));
}

users_result load_users_string(std::string_view yaml, const std::string& display_name) {
  reader r{display_name, ""};
  user_map users;
  r.read_document(yaml, [&](const YAML::Node& root) { read_users_document(r, root, users); });
  users_result out;
  out.errors = r.take_sorted();
  if (out.errors.empty()) out.users = std::move(users);
  return out;
}

users_result load_users_file(const std::string& path) {
  users_result out;
  const auto text = detail::read_text_file(path, out.errors);
  if (!text) return out;
  return load_users_string(*text, path);
}

}  // namespace pgrelay::conf
