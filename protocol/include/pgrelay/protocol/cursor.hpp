// Bounds-checked big-endian reader over a byte view: the only code that does byte arithmetic
// on untrusted input. Every read either succeeds or sets the cursor's failed flag and returns zero.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace pgrelay::protocol {

class cursor {
 public:
  explicit cursor(std::string_view data) : data_(data) {}

  bool failed() const { return failed_; }
  std::size_t remaining() const { return failed_ ? 0 : data_.size() - pos_; }
  bool at_end() const { return !failed_ && pos_ == data_.size(); }

  std::uint8_t u8() {
    if (!need(1)) return 0;
    return static_cast<std::uint8_t>(data_[pos_++]);
  }
  std::int16_t i16() {
    if (!need(2)) return 0;
    auto v = static_cast<std::uint16_t>((byte(0) << 8) | byte(1));
    pos_ += 2;
    return static_cast<std::int16_t>(v);
  }
  std::int32_t i32() {
    if (!need(4)) return 0;
    auto v = (std::uint32_t{byte(0)} << 24) | (std::uint32_t{byte(1)} << 16) |
             (std::uint32_t{byte(2)} << 8) | std::uint32_t{byte(3)};
    pos_ += 4;
    return static_cast<std::int32_t>(v);
  }
  // A NUL-terminated string; the view excludes the terminator and lives as long as the input.
  // Most names on the wire are empty (the unnamed statement and portal): those need no search.
  std::string_view cstring() {
    if (failed_) return {};
    const char* at = data_.data() + pos_;
    const std::size_t left = data_.size() - pos_;
    if (left > 0 && *at == '\0') {
      ++pos_;
      return {at, 0};
    }
    const auto* nul = left > 0 ? static_cast<const char*>(std::memchr(at, '\0', left)) : nullptr;
    if (nul == nullptr) {
      failed_ = true;
      return {};
    }
    const auto size = static_cast<std::size_t>(nul - at);
    pos_ += size + 1;
    return {at, size};
  }
  std::string_view bytes(std::size_t n) {
    if (!need(n)) return {};
    auto v = data_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  std::string_view rest() {
    if (failed_) return {};
    auto v = data_.substr(pos_);
    pos_ = data_.size();
    return v;
  }

 private:
  bool need(std::size_t n) {
    if (failed_ || data_.size() - pos_ < n) {
      failed_ = true;
      return false;
    }
    return true;
  }
  std::uint32_t byte(std::size_t i) const { return static_cast<unsigned char>(data_[pos_ + i]); }

  std::string_view data_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

// Big-endian helpers for fixed positions already known to be in range.
inline std::int32_t read_i32(const char* p) {
  std::uint32_t v = (std::uint32_t{static_cast<unsigned char>(p[0])} << 24) |
                    (std::uint32_t{static_cast<unsigned char>(p[1])} << 16) |
                    (std::uint32_t{static_cast<unsigned char>(p[2])} << 8) |
                    std::uint32_t{static_cast<unsigned char>(p[3])};
  return static_cast<std::int32_t>(v);
}

}  // namespace pgrelay::protocol
