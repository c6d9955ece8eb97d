// Fuzzes pgrelay's SCRAM server (what an unauthenticated client talks to): line 1 of the input is
// the client-first-message, line 2 the client-final-message. The verifier and server nonce are
// those of RFC 7677, so the seed exchange authenticates. Invariants: a failure is final (every
// later call says out_of_order); authenticated() only after both steps succeeded, and then the
// server-final carries the one signature the verifier allows; the server-first echoes the nonce.
// Each input runs three times: no TLS, TLS with SCRAM-SHA-256 chosen (-PLUS offered), and TLS with
// -PLUS chosen; in the last, no input can authenticate (the proof would need the password).
#include <string>

#include "fuzz_check.hpp"
#include "pgrelay/protocol/base64.hpp"
#include "pgrelay/protocol/scram.hpp"
#include "scram_rfc7677.hpp"

namespace pr = pgrelay::protocol;
namespace rfc = pgrelay::fuzz::rfc7677;
using pgrelay::fuzz::out_of_order;

namespace {

const pr::scram_verifier& verifier() {
  static const pr::scram_verifier v =
      pr::compute_scram_verifier(rfc::password, *pr::base64_decode(rfc::salt_b64), rfc::iterations);
  return v;
}

enum class binding { none, offered, selected };

int exchange(std::string_view first, std::string_view final_msg, binding mode) {
  pr::scram_server server(verifier(), std::string(rfc::server_nonce));
  if (mode != binding::none) server.offer_channel_binding(std::string(32, '\x42'), mode == binding::selected);
  auto server_first = server.handle_client_first(first);
  FUZZ_CHECK(!server.authenticated());
  if (!server_first) {
    FUZZ_CHECK(!server.error_detail().empty());
    FUZZ_CHECK(out_of_order(server.handle_client_final(final_msg).error()));
    FUZZ_CHECK(out_of_order(server.handle_client_first(first).error()));
    return 0;
  }
  FUZZ_CHECK(server_first->starts_with("r="));
  FUZZ_CHECK(server_first->find(std::string(rfc::server_nonce) + ",s=") != std::string::npos);

  auto server_final = server.handle_client_final(final_msg);
  if (!server_final) {
    FUZZ_CHECK(!server.authenticated());
    FUZZ_CHECK(out_of_order(server.handle_client_final(final_msg).error()));
    return 0;
  }
  FUZZ_CHECK(server.authenticated());
  FUZZ_CHECK(mode != binding::selected);
  // Only the RFC's proof can succeed; the server signature for this verifier is fixed.
  FUZZ_CHECK(*server_final == "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
  FUZZ_CHECK(out_of_order(server.handle_client_final(final_msg).error()));
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto [first, final_msg] = pgrelay::fuzz::split_scram_input(data, size);
  for (auto mode : {binding::none, binding::offered, binding::selected}) exchange(first, final_msg, mode);
  return 0;
}
