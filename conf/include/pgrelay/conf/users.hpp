// The users file: client credentials as SCRAM-SHA-256 verifiers, never plaintext passwords.
// Checks the verifier syntax only; protocol/scram parses it for real when a client logs in.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "pgrelay/conf/diagnostic.hpp"

namespace pgrelay::conf {

struct user_entry {
  std::string name;
  // "SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64>", as in pg_authid.
  std::string scram_verifier;
};

using user_map = std::map<std::string, user_entry>;

// Either the users (and no errors) or every error found (and no users).
struct users_result {
  std::optional<user_map> users;
  diagnostics errors;

  bool ok() const { return users.has_value(); }
};

// Reads and validates a users file. A `password:` key is rejected: the file must never hold
// plaintext; `pgrelay make-verifier` produces the verifier. Never throws on bad input.
[[nodiscard]] users_result load_users_file(const std::string& path);
[[nodiscard]] users_result load_users_string(std::string_view yaml,
                                             const std::string& display_name);

// Light syntactic check of a verifier string; returns why it is malformed, or "" if it looks
// well-formed (iterations a positive integer, salt and keys base64, keys 32 bytes).
[[nodiscard]] std::string check_scram_verifier(std::string_view verifier);

}  // namespace pgrelay::conf
