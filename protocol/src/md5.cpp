// Postgres MD5 password hashing over OpenSSL (EVP; the MD5() one-shot is deprecated in 3.0).
// Inputs come from the caller's config and the server's 4 salt bytes; nothing here can overflow.
#include "pgrelay/protocol/md5.hpp"

#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <stdexcept>
#include <boost/system/errc.hpp>

namespace pgrelay::protocol {

namespace {

// Lowercase hex of md5(data): 32 characters.
std::string md5_hex(std::string_view data) {
  std::array<unsigned char, 16> digest{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &len, EVP_md5(), nullptr) != 1 ||
      len != digest.size())
    throw std::runtime_error("EVP_Digest(md5) failed");
  constexpr std::string_view hex = "0123456789abcdef";
  std::string out;
  out.reserve(2 * digest.size());
  for (const unsigned char b : digest) {
    out += hex[b >> 4];
    out += hex[b & 0x0F];
  }
  return out;
}

// "md5" + hex(md5(inner_hex + salt)), where inner_hex is the 32-digit lowercase hash.
std::string salted_response(std::string_view inner_hex, const md5_salt& salt) {
  std::string buf(inner_hex);
  for (const std::uint8_t b : salt) buf += static_cast<char>(b);
  return "md5" + md5_hex(buf);
}

bool is_hex_digit(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

}  // namespace

std::string md5_password_hash(std::string_view user, std::string_view password) {
  std::string buf(password);
  buf.append(user);
  return "md5" + md5_hex(buf);
}

std::string md5_password_message(std::string_view user, std::string_view password,
                                 const md5_salt& salt) {
  std::string buf(password);
  buf.append(user);
  return salted_response(md5_hex(buf), salt);
}

boost::system::result<std::string> md5_password_message_from_hash(std::string_view stored_hash,
                                                                  const md5_salt& salt) {
  constexpr std::size_t hex_length = 32;
  const auto invalid = boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
  if (!stored_hash.starts_with("md5") || stored_hash.size() != 3 + hex_length) return invalid;
  std::string inner(stored_hash.substr(3));
  for (char& c : inner) {
    if (!is_hex_digit(c)) return invalid;
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');  // Postgres hashes lowercase
  }
  return salted_response(inner, salt);
}

}  // namespace pgrelay::protocol
