// The SCRAM-SHA-256 example exchange of RFC 7677 section 3 (user "user", password "pencil"),
// shared by the SCRAM fuzz targets: with these nonces and this salt both sides reproduce the
// RFC's messages, so the seed corpus holds a complete valid exchange to mutate.
#pragma once

#include <string_view>

#include "fuzz_check.hpp"
#include "pgrelay/protocol/scram.hpp"

namespace pgrelay::fuzz::rfc7677 {

inline constexpr std::string_view password = "pencil";
inline constexpr std::string_view client_nonce = "rOprNGfwEbeRWgbNEkqO";
inline constexpr std::string_view server_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
inline constexpr std::string_view salt_b64 = "W22ZaJ0SNY7soEsUEjb6gQ==";
inline constexpr int iterations = 4096;

}  // namespace pgrelay::fuzz::rfc7677

namespace pgrelay::fuzz {

// The two messages a SCRAM target feeds one side: line 1 and the rest of the input.
struct scram_input {
  std::string_view first;
  std::string_view final_msg;
};
inline scram_input split_scram_input(const std::uint8_t* data, std::size_t size) {
  auto lines = split_lines(as_view(data, size), 2);
  return {lines[0], lines.size() > 1 ? lines[1] : std::string_view{}};
}

// Every call after a failure, or after the exchange ended, must say this.
inline bool out_of_order(const boost::system::error_code& ec) {
  return ec == protocol::scram_errc::out_of_order;
}

}  // namespace pgrelay::fuzz
