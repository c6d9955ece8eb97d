// SCRAM pass-through: the ClientKey a client's proof reveals logs pgrelay in to a server holding
// the same verifier, with the exact proof the password would give (RFC 7677 vector), no PBKDF2.
#include "pgrelay/protocol/base64.hpp"
#include "pgrelay/protocol/scram.hpp"

#include <catch2/catch.hpp>

#include "rfc7677_vectors.hpp"

#include <string>

using namespace pgrelay::protocol;
using namespace std::literals;

namespace {

// RFC 7677 section 3.
constexpr std::string_view client_nonce = rfc7677::rfc_client_nonce;
constexpr std::string_view server_nonce = rfc7677::rfc_server_nonce;
constexpr std::string_view server_first = rfc7677::rfc_server_first;
constexpr std::string_view client_final = rfc7677::rfc_client_final;
constexpr std::string_view server_final = rfc7677::rfc_server_final;
constexpr std::string_view verifier = rfc7677::rfc_verifier;

// pgrelay's client leg: the RFC client logs in to pgrelay, which keeps the revealed keys.
scram_passthrough_keys keys_from_rfc_client() {
  scram_server server(*parse_scram_verifier(verifier), std::string(server_nonce));
  REQUIRE(server.handle_client_first("n,,n=user,r=rOprNGfwEbeRWgbNEkqO").has_value());
  CHECK_FALSE(server.passthrough_keys().has_value());
  REQUIRE(server.handle_client_final(client_final).has_value());
  auto keys = server.passthrough_keys();
  REQUIRE(keys.has_value());
  return *keys;
}

}  // namespace

TEST_CASE("the proof reveals ClientKey = HMAC(SaltedPassword, 'Client Key')", "[scram][passthrough]") {
  const auto keys = keys_from_rfc_client();
  // The same keys a password-holder derives: StoredKey = H(ClientKey), ServerKey as stored.
  const auto v = compute_scram_verifier("pencil", *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
  CHECK(keys.server_key == v.server_key);
  CHECK(keys.iterations == 4096);
  CHECK(keys.salt == *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ=="));
  // Replaying the exchange towards a server with the same verifier yields the RFC's own proof.
  scram_client client({}, std::string(client_nonce), "user");
  client.use_passthrough(keys);
  (void)client.client_first();
  const auto final_message = client.handle_server_first(server_first);
  REQUIRE(final_message.has_value());
  CHECK(*final_message == client_final);
  REQUIRE(client.handle_server_final(server_final).has_value());
  CHECK(client.authenticated());
}

TEST_CASE("pass-through logs in to a server with the same verifier, and only that", "[scram][passthrough]") {
  const auto keys = keys_from_rfc_client();
  // "Postgres": a fresh exchange with random nonces against the same verifier.
  scram_server postgres(*parse_scram_verifier(verifier), make_scram_nonce(random_bytes(18)));
  scram_client client({}, make_scram_nonce(random_bytes(18)));
  client.use_passthrough(keys);
  auto first = postgres.handle_client_first(client.client_first());
  REQUIRE(first.has_value());
  auto final_message = client.handle_server_first(*first);
  REQUIRE(final_message.has_value());
  auto signature = postgres.handle_client_final(*final_message);
  REQUIRE(signature.has_value());
  REQUIRE(client.handle_server_final(*signature).has_value());

  SECTION("a server whose verifier has another salt is refused before any proof is sent") {
    scram_server other(compute_scram_verifier("pencil", "another salt", 4096), make_scram_nonce(random_bytes(18)));
    scram_client c({}, make_scram_nonce(random_bytes(18)));
    c.use_passthrough(keys);
    auto f = other.handle_client_first(c.client_first());
    REQUIRE(f.has_value());
    auto r = c.handle_server_first(*f);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == scram_errc::verifier_mismatch);
  }
  SECTION("so is one with another iteration count") {
    scram_server other(compute_scram_verifier("pencil", keys.salt, 4097), make_scram_nonce(random_bytes(18)));
    scram_client c({}, make_scram_nonce(random_bytes(18)));
    c.use_passthrough(keys);
    auto r = c.handle_server_first(*other.handle_client_first(c.client_first()));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == scram_errc::verifier_mismatch);
  }
  SECTION("a server that knows only the salt cannot forge its signature") {
    scram_server impostor(compute_scram_verifier("not pencil", keys.salt, 4096), make_scram_nonce(random_bytes(18)));
    scram_client c({}, make_scram_nonce(random_bytes(18)));
    c.use_passthrough(keys);
    auto f = impostor.handle_client_first(c.client_first());
    auto proof = c.handle_server_first(*f);
    REQUIRE(proof.has_value());
    CHECK(impostor.handle_client_final(*proof).error() == scram_errc::invalid_proof);
  }
}

TEST_CASE("pass-through keeps channel binding towards the server", "[scram][passthrough]") {
  const auto keys = keys_from_rfc_client();
  scram_server postgres(*parse_scram_verifier(verifier), make_scram_nonce(random_bytes(18)));
  postgres.offer_channel_binding("certificate hash", true);
  scram_client client({}, make_scram_nonce(random_bytes(18)));
  client.use_passthrough(keys);
  client.bind_channel("certificate hash");
  auto first = postgres.handle_client_first(client.client_first());
  REQUIRE(first.has_value());
  auto signature = postgres.handle_client_final(*client.handle_server_first(*first));
  REQUIRE(signature.has_value());
  CHECK(client.handle_server_final(*signature).has_value());
}

TEST_CASE("a failed proof reveals no keys", "[scram][passthrough]") {
  scram_server server(*parse_scram_verifier(verifier), std::string(server_nonce));
  REQUIRE(server.handle_client_first("n,,n=user,r=rOprNGfwEbeRWgbNEkqO").has_value());
  std::string tampered(client_final);
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  CHECK_FALSE(server.handle_client_final(tampered).has_value());
  CHECK_FALSE(server.passthrough_keys().has_value());
}

TEST_CASE("parse_scram_server_first gives the salt and count, checked like the client does", "[scram][client]") {
  auto p = parse_scram_server_first(server_first);
  REQUIRE(p.has_value());
  CHECK(p->iterations == 4096);
  CHECK(p->salt == *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ=="));
  CHECK(parse_scram_server_first("r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=100001").error() ==
        scram_errc::invalid_iteration_count);
  CHECK(parse_scram_server_first("r=abc,s=,i=4096").error() == scram_errc::malformed_message);
  CHECK(parse_scram_server_first("m=x,r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1").error() ==
        scram_errc::unsupported_feature);
}

TEST_CASE("a salted password computed elsewhere gives the same proof, without PBKDF2 in the client",
          "[scram][client]") {
  scram_salted_password_cache cache;
  const auto params = *parse_scram_server_first(server_first);
  CHECK(cache.find("pencil", params.salt, params.iterations) == nullptr);
  const auto salted = cache.salted_password("pencil", params.salt, params.iterations);
  CHECK(cache.computations() == 1);
  REQUIRE(cache.find("pencil", params.salt, params.iterations) != nullptr);

  scram_client client("pencil", std::string(client_nonce), "user");
  client.use_salted_password(salted);
  (void)client.client_first();
  CHECK(*client.handle_server_first(server_first) == client_final);
  CHECK(cache.computations() == 1);

  scram_salted_password_cache other(1);
  other.insert("pencil", params.salt, params.iterations, salted);
  CHECK(other.computations() == 0);
  CHECK(other.salted_password("pencil", params.salt, params.iterations) == salted);
  CHECK(other.computations() == 0);
}
