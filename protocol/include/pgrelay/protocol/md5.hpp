// Postgres MD5 password authentication (AuthenticationMD5Password -> PasswordMessage): pure
// hashing helpers over OpenSSL's MD5. No I/O; the 4-byte salt comes from the server's message.
#pragma once

#include <array>
#include <boost/system/result.hpp>
#include <cstdint>
#include <string>
#include <string_view>

namespace pgrelay::protocol {

using md5_salt = std::array<std::uint8_t, 4>;

// The hash Postgres stores in pg_authid.rolpassword: "md5" + hex(md5(password + user)), lowercase.
[[nodiscard]] std::string md5_password_hash(std::string_view user, std::string_view password);

// The PasswordMessage payload (without the terminating NUL the wire adds) answering
// AuthenticationMD5Password: "md5" + hex(md5(hex(md5(password + user)) + salt)).
[[nodiscard]] std::string md5_password_message(std::string_view user, std::string_view password,
                                               const md5_salt& salt);

// The same answer computed from a stored hash instead of the plaintext, for users whose secret in
// the users file is "md5<32 hex digits>". Errors: boost::system::errc::invalid_argument if
// `stored_hash` is not "md5" followed by exactly 32 hex digits (either case).
[[nodiscard]] boost::system::result<std::string> md5_password_message_from_hash(
    std::string_view stored_hash, const md5_salt& salt);

}  // namespace pgrelay::protocol
