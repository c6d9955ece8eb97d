// Base64 (RFC 4648, standard alphabet, '=' padding) as used by SCRAM attributes and verifiers.
// Header-only and pure; decoding is strict so that one byte string has exactly one encoding.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgrelay::protocol {

namespace detail {

inline constexpr std::string_view base64_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Maps a character to its 6-bit value, or 0xFF if it is not in the alphabet.
inline constexpr std::array<std::uint8_t, 256> base64_values = [] {
  std::array<std::uint8_t, 256> values{};
  for (auto& v : values) v = 0xFF;
  for (std::size_t i = 0; i < base64_alphabet.size(); ++i)
    values[static_cast<unsigned char>(base64_alphabet[i])] = static_cast<std::uint8_t>(i);
  return values;
}();

}  // namespace detail

// Encodes arbitrary bytes; the result always has '=' padding to a multiple of 4 characters.
[[nodiscard]] inline std::string base64_encode(std::string_view bytes) {
  // Written by index into a string sized once: every login encodes a nonce, a salt and a
  // signature, and appending a character at a time cost several times the encoding itself.
  std::string out((bytes.size() + 2) / 3 * 4, '=');
  const auto byte = [&](std::size_t i) { return std::uint32_t{static_cast<unsigned char>(bytes[i])}; };
  const auto& a = detail::base64_alphabet;
  std::size_t i = 0;
  std::size_t o = 0;
  for (; i + 3 <= bytes.size(); i += 3, o += 4) {
    const std::uint32_t n = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out[o] = a[n >> 18 & 0x3F];
    out[o + 1] = a[n >> 12 & 0x3F];
    out[o + 2] = a[n >> 6 & 0x3F];
    out[o + 3] = a[n & 0x3F];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t n = byte(i) << 16;
    if (rest == 2) n |= byte(i + 1) << 8;
    out[o] = a[n >> 18 & 0x3F];
    out[o + 1] = a[n >> 12 & 0x3F];
    if (rest == 2) out[o + 2] = a[n >> 6 & 0x3F];
  }
  return out;
}

// Decodes canonical padded base64. Returns nullopt (never throws) on: a length that is not a
// multiple of 4, a character outside the alphabet (including whitespace and NUL), '=' anywhere but
// the last one or two positions, or non-zero bits in the unused tail of the last group (so that
// e.g. "QR==" is rejected and every accepted text re-encodes to itself). Empty input decodes to "".
[[nodiscard]] inline std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  std::string out(text.size() / 4 * 3 - padding, '\0');
  std::size_t o = 0;
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const std::size_t data_chars = last ? 4 - padding : 4;
    std::uint32_t n = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      std::uint8_t v = 0;
      if (j < data_chars) {
        v = detail::base64_values[static_cast<unsigned char>(text[i + j])];
        if (v == 0xFF) return std::nullopt;
      }
      n = n << 6 | v;
    }
    out[o++] = static_cast<char>(n >> 16 & 0xFF);
    if (data_chars >= 3) out[o++] = static_cast<char>(n >> 8 & 0xFF);
    if (data_chars == 4) out[o++] = static_cast<char>(n & 0xFF);
    // Bits decoded from the last data character but not part of any output byte must be 0.
    if (data_chars == 2 && (n & 0xFFFF) != 0) return std::nullopt;
    if (data_chars == 3 && (n & 0xFF) != 0) return std::nullopt;
  }
  return out;
}

}  // namespace pgrelay::protocol
