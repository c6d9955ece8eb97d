// Primitives shared by the SCRAM server (scram.cpp) and client (scram_client.cpp): OpenSSL
// hashes and the attribute walker. Internal to protocol/; not installed, not for other libraries.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "pgrelay/protocol/scram.hpp"

namespace pgrelay::protocol::detail {

const unsigned char* bytes_of(std::string_view s) noexcept;
std::string_view as_view(const scram_key& k) noexcept;
scram_key sha256(std::string_view data);
scram_key hmac_sha256(std::string_view key, std::string_view data);
// Hi(password, salt, iterations): PBKDF2-HMAC-SHA-256, the expensive step of a SCRAM login.
scram_key salted_password(std::string_view password, std::string_view salt, int iterations);
scram_key xor_keys(const scram_key& a, const scram_key& b) noexcept;
bool equal_constant_time(const scram_key& a, const scram_key& b) noexcept;
bool equal_constant_time(std::string_view a, std::string_view b) noexcept;
std::optional<scram_key> decode_key(std::string_view b64);

// Walks the comma-separated "x=value" attributes of a SCRAM message (RFC 5802 section 7).
class attribute_reader {
 public:
  struct attribute {
    char name;
    std::string_view value;
  };

  explicit attribute_reader(std::string_view text) noexcept : text_(text) {}

  // The next attribute, or nullopt if there is none or the field is not ALPHA "=" value.
  std::optional<attribute> next() noexcept {
    if (exhausted_) return std::nullopt;
    field_start_ = pos_;
    const std::size_t comma = text_.find(',', pos_);
    std::string_view field;
    if (comma == std::string_view::npos) {
      field = text_.substr(pos_);
      pos_ = text_.size();
      exhausted_ = true;
    } else {
      field = text_.substr(pos_, comma - pos_);
      pos_ = comma + 1;
    }
    if (field.size() < 2 || field[1] != '=') return std::nullopt;
    const char c = field[0];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return std::nullopt;
    return attribute{c, field.substr(2)};
  }

  bool at_end() const noexcept { return exhausted_; }
  // Offset in the text where the attribute last returned by next() starts.
  std::size_t field_start() const noexcept { return field_start_; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t field_start_ = 0;
  bool exhausted_ = false;
};

bool skip_extensions(attribute_reader& reader) noexcept;
bool has_nul(std::string_view s) noexcept;
std::string escape_saslname(std::string_view name);
std::optional<long long> parse_integer(std::string_view text) noexcept;

}  // namespace pgrelay::protocol::detail
