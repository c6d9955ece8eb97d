// Fuzzes pgrelay's SCRAM client (what a hostile or broken Postgres server talks to): line 1 of the
// input is the server-first-message, line 2 the server-final-message. The password and client
// nonce are those of RFC 7677, so the seed exchange authenticates. Inputs asking for more than
// 4096 PBKDF2 iterations are skipped (the cost, not the parsing, grows with them; the parser's
// upper bound is covered by unit tests). Invariants: a failure is final; authenticated() only
// after both steps succeeded.
#include <charconv>
#include <string>

#include "fuzz_check.hpp"
#include "pgrelay/protocol/scram.hpp"
#include "scram_rfc7677.hpp"

namespace pr = pgrelay::protocol;
namespace rfc = pgrelay::fuzz::rfc7677;
using pgrelay::fuzz::out_of_order;

namespace {

// False if any "i=" attribute value in `msg` is a number above 4096.
bool cheap_iterations(std::string_view msg) {
  for (auto at = msg.find("i="); at != std::string_view::npos; at = msg.find("i=", at + 1)) {
    auto value = msg.substr(at + 2);
    value = value.substr(0, value.find(','));
    long long n = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec == std::errc::result_out_of_range || (ec == std::errc{} && n > rfc::iterations)) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto [first, final_msg] = pgrelay::fuzz::split_scram_input(data, size);
  if (!cheap_iterations(first)) return 0;

  pr::scram_client client(std::string(rfc::password), std::string(rfc::client_nonce), "user");
  const auto client_first = client.client_first();
  FUZZ_CHECK(client_first == "n,,n=user,r=" + std::string(rfc::client_nonce));
  FUZZ_CHECK(client.client_first() == client_first);

  auto client_final = client.handle_server_first(first);
  if (!client_final) {
    FUZZ_CHECK(!client.authenticated());
    FUZZ_CHECK(out_of_order(client.handle_server_final(final_msg).error()));
    return 0;
  }
  FUZZ_CHECK(client_final->starts_with("c=biws,r=" + std::string(rfc::client_nonce)));
  FUZZ_CHECK(client_final->find(",p=") != std::string::npos);

  auto done = client.handle_server_final(final_msg);
  FUZZ_CHECK(done.has_value() == client.authenticated());
  if (!done && done.error() == pr::scram_errc::server_error)
    FUZZ_CHECK(final_msg.find(client.server_error()) != std::string_view::npos);
  FUZZ_CHECK(out_of_order(client.handle_server_final(final_msg).error()));
  return 0;
}
