// Unit tests for base64, SCRAM-SHA-256 verifiers, and the SCRAM server and client state machines:
// the RFC 7677 vector both ways, every rejection path, and hostile input.
#include "pgrelay/protocol/base64.hpp"
#include "pgrelay/protocol/scram.hpp"

#include <catch2/catch.hpp>

#include "rfc7677_vectors.hpp"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

using namespace pgrelay::protocol;
using namespace std::literals;

namespace {

using rfc7677::rfc_password;
using rfc7677::rfc_client_nonce;
using rfc7677::rfc_server_nonce;
using rfc7677::rfc_salt_b64;
using rfc7677::rfc_client_first;
using rfc7677::rfc_server_first;
using rfc7677::rfc_client_final;
using rfc7677::rfc_server_final;
using rfc7677::rfc_verifier;

std::string rfc_salt() {
  return *base64_decode(rfc_salt_b64);
}

// PBKDF2 with 4096 iterations costs about a millisecond; derive the verifier once.
const scram_verifier& rfc_scram_verifier() {
  static const scram_verifier v = compute_scram_verifier(rfc_password, rfc_salt(), 4096);
  return v;
}

scram_server rfc_server() {
  return scram_server(rfc_scram_verifier(), std::string(rfc_server_nonce));
}

// A server that has already answered the RFC client-first.
scram_server rfc_server_after_first() {
  scram_server server = rfc_server();
  REQUIRE(server.handle_client_first(rfc_client_first).has_value());
  return server;
}

scram_client rfc_client_after_first() {
  scram_client client(std::string(rfc_password), std::string(rfc_client_nonce), "user");
  REQUIRE(client.client_first() == rfc_client_first);
  return client;
}

// A client that has already answered the RFC server-first; copied so PBKDF2 runs once.
scram_client rfc_client_after_server_first() {
  static const scram_client prototype = [] {
    scram_client client = rfc_client_after_first();
    REQUIRE(client.handle_server_first(rfc_server_first).has_value());
    return client;
  }();
  return prototype;
}

template <typename T>
boost::system::error_code error_of(const boost::system::result<T>& r) {
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

// Deterministic garbage: fixed seed so a failure reproduces.
std::vector<std::string> garbage_messages() {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> length(0, 80);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<std::string> out;
  for (int i = 0; i < 500; ++i) {
    std::string s(static_cast<std::size_t>(length(rng)), '\0');
    for (char& c : s) c = static_cast<char>(byte(rng));
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

// ---- base64 ------------------------------------------------------------------------------------

TEST_CASE("base64 encodes and decodes the RFC 4648 vectors", "[base64]") {
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    CHECK(base64_encode(plain) == encoded);
    const auto decoded = base64_decode(encoded);
    REQUIRE(decoded.has_value());
    CHECK(*decoded == plain);
  }
}

TEST_CASE("base64 round-trips every byte value", "[base64]") {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t len = 0; len <= all.size(); len += 37) {
    const std::string part = all.substr(all.size() - len);
    const auto decoded = base64_decode(base64_encode(part));
    REQUIRE(decoded.has_value());
    CHECK(*decoded == part);
  }
  CHECK(base64_encode("\xfb\xff") == "+/8=");
}

TEST_CASE("base64 decoding is strict", "[base64]") {
  // clang-format off
  const std::vector<std::string_view> bad_inputs = {
      "Zg"sv, "Zg="sv, "Zg==="sv,                  // length not a multiple of 4
      "Z==="sv, "===="sv, "=Zg="sv,                // padding in the wrong place
      "Zg==Zg=="sv,                                // padding in the middle
      "Zh=="sv, "Zm9="sv,                          // non-zero unused bits (non-canonical)
      "Zm9v\n"sv, "Zm 9"sv, "Zm9-"sv, "Zm9_"sv,    // characters outside the alphabet
      "Zm.v"sv, "Zm\0v"sv, "\x80\xff\xfe\x01"sv,
  };
  // clang-format on
  for (const std::string_view bad : bad_inputs) {
    INFO("input: " << bad);
    CHECK_FALSE(base64_decode(bad).has_value());
  }
  // A view that stops mid-group must not be completed from the bytes after it.
  CHECK_FALSE(base64_decode("Zm9vYg=="sv.substr(0, 6)).has_value());
}

// ---- verifiers ---------------------------------------------------------------------------------

TEST_CASE("make_scram_verifier matches an independently derived verifier", "[scram][verifier]") {
  CHECK(make_scram_verifier(rfc_password, rfc_salt(), 4096) == rfc_verifier);
  CHECK(make_scram_verifier("pencil2", rfc_salt(), 4096) != rfc_verifier);
  CHECK(make_scram_verifier(rfc_password, rfc_salt(), 4097) != rfc_verifier);
}

TEST_CASE("parse_scram_verifier round-trips", "[scram][verifier]") {
  const auto parsed = parse_scram_verifier(rfc_verifier);
  REQUIRE(parsed.has_value());
  CHECK(parsed->iterations == 4096);
  CHECK(parsed->salt == rfc_salt());
  const scram_verifier computed = compute_scram_verifier(rfc_password, rfc_salt(), 4096);
  CHECK(parsed->stored_key == computed.stored_key);
  CHECK(parsed->server_key == computed.server_key);
  CHECK(format_scram_verifier(*parsed) == rfc_verifier);

  const std::string other = make_scram_verifier("x", "some salt bytes\x01\xff"s, 1);
  const auto reparsed = parse_scram_verifier(other);
  REQUIRE(reparsed.has_value());
  CHECK(reparsed->iterations == 1);
  CHECK(format_scram_verifier(*reparsed) == other);
}

TEST_CASE("parse_scram_verifier rejects malformed verifiers", "[scram][verifier]") {
  const std::string keys =
      "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
  const std::vector<std::string> bad = {
      "",
      "SCRAM-SHA-256$",
      "md5fe63fea7be31b0200b496d08bc6b517d",
      "SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
      "scram-sha-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
      "SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
      "SCRAM-SHA-256$-1:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
      "SCRAM-SHA-256$:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
      "SCRAM-SHA-256$4096x:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
      "SCRAM-SHA-256$ 4096:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
      "SCRAM-SHA-256$99999999999999999999999:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
      "SCRAM-SHA-256$2147483648:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
      "SCRAM-SHA-256$4096:" + keys,                         // empty salt
      "SCRAM-SHA-256$4096W22ZaJ0SNY7soEsUEjb6gQ==" + keys,  // no ':'
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=" + keys,  // bad base64
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==",        // no keys
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3Otc:"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==" + keys + "$",
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==" + keys + ":AAAA",
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==" + keys + "\0"s,
  };
  for (const auto& text : bad) {
    INFO("verifier: " << text);
    const auto r = parse_scram_verifier(text);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == scram_errc::invalid_verifier);
  }
}

TEST_CASE("compute_scram_verifier rejects impossible parameters", "[scram][verifier]") {
  CHECK_THROWS_AS(compute_scram_verifier("pw", "salt", 0), std::invalid_argument);
  CHECK_THROWS_AS(compute_scram_verifier("pw", "", 4096), std::invalid_argument);
}

// ---- server: RFC vector and happy paths --------------------------------------------------------

TEST_CASE("scram_server reproduces the RFC 7677 exchange", "[scram][server]") {
  scram_server server(*parse_scram_verifier(rfc_verifier), std::string(rfc_server_nonce));
  const auto first = server.handle_client_first(rfc_client_first);
  REQUIRE(first.has_value());
  CHECK(*first == rfc_server_first);
  CHECK(server.cbind_flag() == scram_cbind_flag::not_supported);
  CHECK_FALSE(server.authenticated());

  const auto final_message = server.handle_client_final(rfc_client_final);
  REQUIRE(final_message.has_value());
  CHECK(*final_message == rfc_server_final);
  CHECK(server.authenticated());
  CHECK(server.error_detail().empty());
}

TEST_CASE("scram_server ignores the user name like Postgres", "[scram][server]") {
  for (const std::string_view user : {"n=,"sv, "n=*,"sv, "n=someone=2Celse,"sv}) {
    scram_server server = rfc_server();
    const std::string msg = "n,,"s.append(user).append("r=").append(rfc_client_nonce);
    const auto first = server.handle_client_first(msg);
    REQUIRE(first.has_value());
    CHECK(*first == rfc_server_first);
  }
}

TEST_CASE("scram_server accepts gs2 flag y with matching channel binding", "[scram][server]") {
  scram_server server = rfc_server();
  REQUIRE(server.handle_client_first("y,,n=,r=abc").has_value());
  CHECK(server.cbind_flag() == scram_cbind_flag::client_supports);
  // "eSws" is base64("y,,"); the proof is wrong (not the RFC auth message) but the
  // channel-binding and nonce checks come first and pass, so the proof check decides.
  const std::string final_message = "c=eSws,r=abc"s.append(rfc_server_nonce)
                                        .append(",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  CHECK(error_of(server.handle_client_final(final_message)) == scram_errc::invalid_proof);
}

TEST_CASE("scram_server accepts extensions in client-first", "[scram][server]") {
  scram_server server = rfc_server();
  const std::string msg = std::string(rfc_client_first) + ",x=ext,y=";
  REQUIRE(server.handle_client_first(msg).has_value());
}

TEST_CASE("a prepared login secret signs like HMAC and serves many exchanges", "[scram][server]") {
  const auto secret = std::make_shared<scram_login_secret>(*parse_scram_verifier(rfc_verifier));
  CHECK(secret->verifier().stored_key == parse_scram_verifier(rfc_verifier)->stored_key);
  // Each signature starts from the keyed state: calling one twice, or the other in between,
  // gives the same bytes, and the two keys give different ones.
  const scram_key a = secret->client_signature("message");
  CHECK(secret->server_signature("message") != a);
  CHECK(secret->client_signature("message") == a);
  CHECK(secret->client_signature("other message") != a);

  // Two exchanges on one secret, interleaved: the right proof passes, a wrong one fails, and
  // neither disturbs the other.
  scram_server good(secret, std::string(rfc_server_nonce));
  scram_server bad(secret, std::string(rfc_server_nonce));
  REQUIRE(good.handle_client_first(rfc_client_first).has_value());
  REQUIRE(bad.handle_client_first(rfc_client_first).has_value());
  std::string tampered(rfc_client_final);
  const std::size_t proof_at = tampered.rfind("p=") + 2;
  tampered[proof_at] = tampered[proof_at] == 'A' ? 'B' : 'A';
  CHECK(error_of(bad.handle_client_final(tampered)) == scram_errc::invalid_proof);
  const auto final_message = good.handle_client_final(rfc_client_final);
  REQUIRE(final_message.has_value());
  CHECK(*final_message == rfc_server_final);
  for (int i = 0; i < 3; ++i) {
    scram_server again(secret, std::string(rfc_server_nonce));
    REQUIRE(again.handle_client_first(rfc_client_first).has_value());
    const auto again_final = again.handle_client_final(rfc_client_final);
    REQUIRE(again_final.has_value());
    CHECK(*again_final == rfc_server_final);
  }
}

// ---- server: rejections ------------------------------------------------------------------------

TEST_CASE("scram_server rejects a wrong password", "[scram][server]") {
  scram_server server(compute_scram_verifier("not pencil", rfc_salt(), 4096),
                      std::string(rfc_server_nonce));
  REQUIRE(server.handle_client_first(rfc_client_first).has_value());
  const auto r = server.handle_client_final(rfc_client_final);
  CHECK(error_of(r) == scram_errc::invalid_proof);
  CHECK_FALSE(server.authenticated());
  CHECK_FALSE(server.error_detail().empty());
}

TEST_CASE("scram_server rejects every single-byte change to client-final", "[scram][server]") {
  for (std::size_t i = 0; i < rfc_client_final.size(); ++i) {
    std::string tampered(rfc_client_final);
    tampered[i] = static_cast<char>(tampered[i] ^ 0x01);
    INFO("offset " << i << ": " << tampered);
    scram_server server = rfc_server_after_first();
    CHECK_FALSE(server.handle_client_final(tampered).has_value());
    CHECK_FALSE(server.authenticated());
  }
}

TEST_CASE("scram_server classifies client-final failures", "[scram][server]") {
  const std::string nonce = std::string(rfc_client_nonce) + std::string(rfc_server_nonce);
  const std::string proof = "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
  struct example {
    std::string message;
    scram_errc expected;
  };
  const std::vector<example> examples = {
      // A different, valid proof: right shape, wrong key.
      {"c=biws,r=" + nonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVM=",
       scram_errc::invalid_proof},
      // Extensions are covered by the AuthMessage, so adding one invalidates the proof.
      {"c=biws,r=" + nonce + ",x=ext," + proof, scram_errc::invalid_proof},
      {"c=biws,r=" + nonce + "x," + proof, scram_errc::nonce_mismatch},
      {"c=biws,r=" + std::string(rfc_client_nonce) + "," + proof, scram_errc::nonce_mismatch},
      {"c=biws,r=," + proof, scram_errc::nonce_mismatch},
      {"c=eSws,r=" + nonce + "," + proof, scram_errc::channel_binding_mismatch},  // "y,,"
      {"c=cD10bHMtc2VydmVyLWVuZC1wb2ludCws,r=" + nonce + "," + proof,
       scram_errc::channel_binding_mismatch},
      {"c=,r=" + nonce + "," + proof, scram_errc::channel_binding_mismatch},
      {"c=biw,r=" + nonce + "," + proof, scram_errc::malformed_message},  // bad base64
      {"c=biws,r=" + nonce, scram_errc::malformed_message},               // no proof
      {"c=biws,r=" + nonce + ",", scram_errc::malformed_message},
      {"c=biws,r=" + nonce + ",p=", scram_errc::malformed_message},
      {"c=biws,r=" + nonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndV==",
       scram_errc::malformed_message},  // 31 bytes... and non-canonical
      {"c=biws,r=" + nonce + ",p=AAAA", scram_errc::malformed_message},  // 3 bytes
      {"c=biws,r=" + nonce + "," + proof + ",x=after", scram_errc::malformed_message},
      {"c=biws,r=" + nonce + "," + proof + ",", scram_errc::malformed_message},
      {"r=" + nonce + ",c=biws," + proof, scram_errc::malformed_message},  // wrong order
      {"c=biws," + proof, scram_errc::malformed_message},
      {"", scram_errc::malformed_message},
      {",", scram_errc::malformed_message},
      {"c=biws\0,r="s + nonce + "," + proof, scram_errc::malformed_message},
      {std::string(rfc_client_final) + "\0"s, scram_errc::malformed_message},
  };
  for (const auto& ex : examples) {
    INFO("client-final: " << ex.message);
    scram_server server = rfc_server_after_first();
    CHECK(error_of(server.handle_client_final(ex.message)) == ex.expected);
  }
}

TEST_CASE("scram_server rejects every truncation of client-final", "[scram][server]") {
  for (std::size_t n = 0; n < rfc_client_final.size(); ++n) {
    INFO("prefix length " << n);
    scram_server server = rfc_server_after_first();
    CHECK_FALSE(server.handle_client_final(rfc_client_final.substr(0, n)).has_value());
  }
}

TEST_CASE("scram_server classifies client-first failures", "[scram][server]") {
  struct example {
    std::string message;
    scram_errc expected;
  };
  const std::vector<example> examples = {
      {"p=tls-server-end-point,,n=,r=abc", scram_errc::unsupported_feature},
      {"p=,,n=,r=abc", scram_errc::unsupported_feature},
      {"n,a=admin,n=,r=abc", scram_errc::unsupported_feature},
      {"n,,m=ext,n=,r=abc", scram_errc::unsupported_feature},
      {"", scram_errc::malformed_message},
      {"n", scram_errc::malformed_message},
      {"n,", scram_errc::malformed_message},
      {"n,,", scram_errc::malformed_message},
      {"n,,n=", scram_errc::malformed_message},
      {"n,,n=,", scram_errc::malformed_message},
      {"n,,n=,r=", scram_errc::malformed_message},        // empty nonce
      {"n,,n=,r=ab\x7f", scram_errc::malformed_message},  // non-printable nonce
      {"n,,n=,r=a b", scram_errc::malformed_message},
      {"n,,n=,r=abc,", scram_errc::malformed_message},     // trailing comma
      {"n,,n=,r=abc,1=x", scram_errc::malformed_message},  // extension name not ALPHA
      {"n,,n=,r=abc,xx", scram_errc::malformed_message},
      {"n,,r=abc", scram_errc::malformed_message},  // no user name
      {"n,,r=abc,n=", scram_errc::malformed_message},
      {"x,,n=,r=abc", scram_errc::malformed_message},
      {"nn,,n=,r=abc", scram_errc::malformed_message},
      {",,n=,r=abc", scram_errc::malformed_message},
      {"n,x,n=,r=abc", scram_errc::malformed_message},
      {"n,,n=,r=abc\0"s, scram_errc::malformed_message},
      {"n\0,,n=,r=abc"s, scram_errc::malformed_message},
      {"n,,n=\0,r=abc"s, scram_errc::malformed_message},
  };
  for (const auto& ex : examples) {
    INFO("client-first: " << ex.message);
    scram_server server = rfc_server();
    CHECK(error_of(server.handle_client_first(ex.message)) == ex.expected);
    // A failed exchange stays failed.
    CHECK(error_of(server.handle_client_first(rfc_client_first)) == scram_errc::out_of_order);
  }
}

TEST_CASE("scram_server enforces call order and single use", "[scram][server]") {
  SECTION("final before first") {
    scram_server server = rfc_server();
    CHECK(error_of(server.handle_client_final(rfc_client_final)) == scram_errc::out_of_order);
    CHECK(error_of(server.handle_client_first(rfc_client_first)) == scram_errc::out_of_order);
  }
  SECTION("first twice") {
    scram_server server = rfc_server_after_first();
    CHECK(error_of(server.handle_client_first(rfc_client_first)) == scram_errc::out_of_order);
    CHECK(error_of(server.handle_client_final(rfc_client_final)) == scram_errc::out_of_order);
  }
  SECTION("replaying client-final after success") {
    scram_server server = rfc_server_after_first();
    REQUIRE(server.handle_client_final(rfc_client_final).has_value());
    CHECK(error_of(server.handle_client_final(rfc_client_final)) == scram_errc::out_of_order);
    CHECK_FALSE(server.authenticated());
  }
  SECTION("no second guess after a bad proof") {
    scram_server server = rfc_server_after_first();
    std::string wrong(rfc_client_final);
    wrong[wrong.size() - 2] = 'M';  // ...AndVQ= -> ...AndVM=
    CHECK(error_of(server.handle_client_final(wrong)) == scram_errc::invalid_proof);
    CHECK(error_of(server.handle_client_final(rfc_client_final)) == scram_errc::out_of_order);
    CHECK_FALSE(server.authenticated());
  }
}

TEST_CASE("scram_server refuses an invalid injected nonce", "[scram][server]") {
  for (const std::string& nonce : {""s, "a,b"s, "a b"s, "abc\0"s}) {
    scram_server server(*parse_scram_verifier(rfc_verifier), nonce);
    CHECK(error_of(server.handle_client_first(rfc_client_first)) == scram_errc::invalid_nonce);
  }
}

TEST_CASE("scram_server survives garbage without crashing", "[scram][server]") {
  for (const std::string& junk : garbage_messages()) {
    scram_server first_stage = rfc_server();
    CHECK_FALSE(first_stage.handle_client_first(junk).has_value());
    scram_server final_stage = rfc_server_after_first();
    CHECK_FALSE(final_stage.handle_client_final(junk).has_value());
  }
  // Every prefix of client-first either parses (it ends inside the nonce) or is refused.
  for (std::size_t n = 0; n <= rfc_client_first.size(); ++n) {
    scram_server server = rfc_server();
    const auto r = server.handle_client_first(rfc_client_first.substr(0, n));
    CHECK(r.has_value() == (n > std::string_view("n,,n=user,r=").size()));
  }
}

// ---- client ------------------------------------------------------------------------------------

TEST_CASE("scram_client reproduces the RFC 7677 exchange", "[scram][client]") {
  scram_client client(std::string(rfc_password), std::string(rfc_client_nonce), "user");
  CHECK(client.client_first() == rfc_client_first);
  CHECK(client.client_first() == rfc_client_first);  // idempotent
  const auto final_message = client.handle_server_first(rfc_server_first);
  REQUIRE(final_message.has_value());
  CHECK(*final_message == rfc_client_final);
  CHECK_FALSE(client.authenticated());
  REQUIRE(client.handle_server_final(rfc_server_final).has_value());
  CHECK(client.authenticated());
}

TEST_CASE("scram_client sends an empty user name by default and escapes names", "[scram][client]") {
  scram_client anonymous("pw", "nonce");
  CHECK(anonymous.client_first() == "n,,n=,r=nonce");
  scram_client named("pw", "nonce", "a,b=c");
  CHECK(named.client_first() == "n,,n=a=2Cb=3Dc,r=nonce");
}

TEST_CASE("scram_client rejects a tampered server signature", "[scram][client]") {
  for (std::size_t i = 2; i < rfc_server_final.size(); ++i) {
    std::string tampered(rfc_server_final);
    tampered[i] = static_cast<char>(tampered[i] ^ 0x01);
    INFO("server-final: " << tampered);
    scram_client client = rfc_client_after_server_first();
    CHECK_FALSE(client.handle_server_final(tampered).has_value());
    CHECK_FALSE(client.authenticated());
  }
  scram_client client = rfc_client_after_first();
  REQUIRE(client.handle_server_first(rfc_server_first).has_value());
  CHECK(error_of(client.handle_server_final("v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")) ==
        scram_errc::invalid_server_signature);
}

TEST_CASE("scram_client classifies server-first failures", "[scram][client]") {
  const std::string nonce = std::string(rfc_client_nonce) + std::string(rfc_server_nonce);
  const std::string salt = ",s=W22ZaJ0SNY7soEsUEjb6gQ==";
  struct example {
    std::string message;
    scram_errc expected;
  };
  const std::vector<example> examples = {
      {"r=xOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0" + salt + ",i=4096",
       scram_errc::nonce_mismatch},
      {"r=" + std::string(rfc_client_nonce) + salt + ",i=4096", scram_errc::nonce_mismatch},
      {"r=rOprNGfw" + salt + ",i=4096", scram_errc::nonce_mismatch},
      {"r=" + nonce + salt + ",i=0", scram_errc::invalid_iteration_count},
      {"r=" + nonce + salt + ",i=-1", scram_errc::invalid_iteration_count},
      {"r=" + nonce + salt + ",i=100001", scram_errc::invalid_iteration_count},
      {"r=" + nonce + salt + ",i=1000000", scram_errc::invalid_iteration_count},
      {"r=" + nonce + salt + ",i=99999999999999999999999", scram_errc::invalid_iteration_count},
      {"r=" + nonce + salt + ",i=", scram_errc::malformed_message},
      {"r=" + nonce + salt + ",i=4096x", scram_errc::malformed_message},
      {"r=" + nonce + salt + ",i=+4096", scram_errc::malformed_message},
      {"r=" + nonce + salt + ",i= 4096", scram_errc::malformed_message},
      {"r=" + nonce + salt, scram_errc::malformed_message},
      {"r=" + nonce + salt + ",i=4096,", scram_errc::malformed_message},
      {"r=" + nonce + ",s=,i=4096", scram_errc::malformed_message},
      {"r=" + nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096", scram_errc::malformed_message},
      {"r=" + nonce + ",i=4096" + salt, scram_errc::malformed_message},
      {"m=ext,r=" + nonce + salt + ",i=4096", scram_errc::unsupported_feature},
      {"s=W22ZaJ0SNY7soEsUEjb6gQ==,r=" + nonce + ",i=4096", scram_errc::malformed_message},
      {"", scram_errc::malformed_message},
      {"r=" + nonce + "\0"s + salt + ",i=4096", scram_errc::malformed_message},
      {"e=other-error", scram_errc::malformed_message},
  };
  for (const auto& ex : examples) {
    INFO("server-first: " << ex.message);
    scram_client client = rfc_client_after_first();
    CHECK(error_of(client.handle_server_first(ex.message)) == ex.expected);
    CHECK(error_of(client.handle_server_first(rfc_server_first)) == scram_errc::out_of_order);
  }
  // The cap itself is accepted.
  {
    scram_client capped = rfc_client_after_first();
    CHECK(capped.handle_server_first("r=" + nonce + salt + ",i=" + std::to_string(scram_max_client_iterations)));
  }
  // Extensions after the iteration count are allowed and covered by the AuthMessage.
  scram_client client = rfc_client_after_first();
  const auto r = client.handle_server_first(std::string(rfc_server_first) + ",x=ext");
  REQUIRE(r.has_value());
  CHECK(*r != rfc_client_final);
}

TEST_CASE("scram_client classifies server-final failures", "[scram][client]") {
  struct example {
    std::string message;
    scram_errc expected;
  };
  const std::vector<example> examples = {
      {"e=invalid-proof", scram_errc::server_error},
      {"", scram_errc::malformed_message},
      {"v=", scram_errc::malformed_message},
      {"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4", scram_errc::malformed_message},
      {"v=AAAA", scram_errc::malformed_message},
      {"x=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", scram_errc::malformed_message},
      {std::string(rfc_server_final) + ",", scram_errc::malformed_message},
      {std::string(rfc_server_final) + "\0"s, scram_errc::malformed_message},
  };
  for (const auto& ex : examples) {
    INFO("server-final: " << ex.message);
    scram_client client = rfc_client_after_server_first();
    CHECK(error_of(client.handle_server_final(ex.message)) == ex.expected);
    CHECK_FALSE(client.authenticated());
  }
  scram_client client = rfc_client_after_first();
  REQUIRE(client.handle_server_first(rfc_server_first).has_value());
  CHECK(error_of(client.handle_server_final("e=invalid-proof")) == scram_errc::server_error);
  CHECK(client.server_error() == "invalid-proof");

  scram_client with_ext = rfc_client_after_first();
  REQUIRE(with_ext.handle_server_first(rfc_server_first).has_value());
  CHECK(with_ext.handle_server_final(std::string(rfc_server_final) + ",x=ext").has_value());
}

TEST_CASE("scram_client enforces call order", "[scram][client]") {
  SECTION("server-first before client-first") {
    scram_client client(std::string(rfc_password), std::string(rfc_client_nonce), "user");
    CHECK(error_of(client.handle_server_first(rfc_server_first)) == scram_errc::out_of_order);
  }
  SECTION("server-final before server-first") {
    scram_client client = rfc_client_after_first();
    CHECK(error_of(client.handle_server_final(rfc_server_final)) == scram_errc::out_of_order);
  }
  SECTION("server-final twice") {
    scram_client client = rfc_client_after_first();
    REQUIRE(client.handle_server_first(rfc_server_first).has_value());
    REQUIRE(client.handle_server_final(rfc_server_final).has_value());
    CHECK(error_of(client.handle_server_final(rfc_server_final)) == scram_errc::out_of_order);
  }
  SECTION("invalid injected nonce") {
    scram_client client("pw", "bad,nonce");
    (void)client.client_first();
    CHECK(error_of(client.handle_server_first("r=bad,nonceX,s=AAAA,i=1")) ==
          scram_errc::invalid_nonce);
  }
}

TEST_CASE("scram_client survives garbage without crashing", "[scram][client]") {
  for (const std::string& junk : garbage_messages()) {
    scram_client first_stage = rfc_client_after_first();
    CHECK_FALSE(first_stage.handle_server_first(junk).has_value());
    scram_client final_stage = rfc_client_after_server_first();
    CHECK_FALSE(final_stage.handle_server_final(junk).has_value());
  }
  for (std::size_t n = 0; n < rfc_server_final.size(); ++n) {
    scram_client client = rfc_client_after_server_first();
    CHECK_FALSE(client.handle_server_final(rfc_server_final.substr(0, n)).has_value());
  }
}

// ---- end to end --------------------------------------------------------------------------------

TEST_CASE("scram_client and scram_server agree with random nonces and salt", "[scram][e2e]") {
  const std::string password = "correct horse \xe2\x9c\x93 battery";
  const scram_verifier verifier =
      compute_scram_verifier(password, random_bytes(scram_default_salt_length), 4096);
  for (int round = 0; round < 3; ++round) {
    scram_client client(password, make_scram_nonce(random_bytes(scram_nonce_random_length)));
    scram_server server(verifier, make_scram_nonce(random_bytes(scram_nonce_random_length)));
    const auto server_first = server.handle_client_first(client.client_first());
    REQUIRE(server_first.has_value());
    const auto client_final = client.handle_server_first(*server_first);
    REQUIRE(client_final.has_value());
    const auto server_final = server.handle_client_final(*client_final);
    REQUIRE(server_final.has_value());
    REQUIRE(client.handle_server_final(*server_final).has_value());
    CHECK(server.authenticated());
    CHECK(client.authenticated());
  }
}

TEST_CASE("end to end: wrong password and impostor server are caught", "[scram][e2e]") {
  const std::string salt = random_bytes(scram_default_salt_length);
  const scram_verifier verifier = compute_scram_verifier("secret", salt, 16);

  SECTION("client with the wrong password") {
    scram_client client("Secret", make_scram_nonce(random_bytes(18)));
    scram_server server(verifier, make_scram_nonce(random_bytes(18)));
    const auto server_first = server.handle_client_first(client.client_first());
    REQUIRE(server_first.has_value());
    const auto client_final = client.handle_server_first(*server_first);
    REQUIRE(client_final.has_value());
    CHECK(error_of(server.handle_client_final(*client_final)) == scram_errc::invalid_proof);
  }
  SECTION("server that knows StoredKey but not ServerKey") {
    scram_verifier stolen = verifier;
    stolen.server_key[0] ^= 0x01;
    scram_client client("secret", make_scram_nonce(random_bytes(18)));
    scram_server server(stolen, make_scram_nonce(random_bytes(18)));
    const auto server_first = server.handle_client_first(client.client_first());
    REQUIRE(server_first.has_value());
    const auto client_final = client.handle_server_first(*server_first);
    REQUIRE(client_final.has_value());
    const auto server_final = server.handle_client_final(*client_final);
    REQUIRE(server_final.has_value());
    CHECK(error_of(client.handle_server_final(*server_final)) ==
          scram_errc::invalid_server_signature);
  }
}

TEST_CASE("mock verifiers are stable per user and never authenticate", "[scram][mock]") {
  const std::string secret = random_bytes(32);
  const scram_verifier a1 = mock_scram_verifier("alice", secret);
  const scram_verifier a2 = mock_scram_verifier("alice", secret);
  const scram_verifier b = mock_scram_verifier("bob", secret);
  CHECK(a1.salt == a2.salt);
  CHECK(a1.stored_key == a2.stored_key);
  CHECK(a1.salt != b.salt);
  CHECK(a1.salt.size() == scram_default_salt_length);
  CHECK(a1.iterations == scram_default_iterations);
  CHECK(mock_scram_verifier("alice", random_bytes(32)).salt != a1.salt);

  const scram_verifier weak = mock_scram_verifier("alice", secret, 1);
  scram_client client("any password", "clientnonce");
  scram_server server(weak, "servernonce");
  const auto server_first = server.handle_client_first(client.client_first());
  REQUIRE(server_first.has_value());
  const auto client_final = client.handle_server_first(*server_first);
  REQUIRE(client_final.has_value());
  CHECK(error_of(server.handle_client_final(*client_final)) == scram_errc::invalid_proof);
}

TEST_CASE("scram errors carry their own category", "[scram]") {
  const boost::system::error_code ec = scram_errc::invalid_proof;
  CHECK(ec.category() == scram_category());
  CHECK(std::string(ec.category().name()) == "pgrelay.scram");
  CHECK(ec == scram_errc::invalid_proof);
  CHECK(ec != scram_errc::malformed_message);
  CHECK_FALSE(ec.message().empty());
  CHECK(make_scram_nonce("\x01\x02\x03") == "AQID");
  CHECK(is_valid_scram_nonce("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"));
  CHECK_FALSE(is_valid_scram_nonce("a,b"));
  CHECK(random_bytes(0).empty());
  CHECK(random_bytes(40).size() == 40);
  CHECK(random_bytes(16) != random_bytes(16));
}

// ---- channel binding (SCRAM-SHA-256-PLUS) ------------------------------------------------------

namespace {

struct bound_exchange {
  std::string server_hash;  // what pgrelay's certificate hashes to
  std::string client_hash;  // what the client saw (differs under a man in the middle)
  bool server_selected_plus = true;
  bool client_binds = true;
};

boost::system::result<std::string> run_bound(const bound_exchange& x, scram_server& server) {
  scram_client client(std::string(rfc_password), make_scram_nonce(random_bytes(scram_nonce_random_length)));
  if (x.client_binds) client.bind_channel(x.client_hash);
  server.offer_channel_binding(x.server_hash, x.server_selected_plus);
  auto first = server.handle_client_first(client.client_first());
  if (!first) return first.error();
  auto client_final = client.handle_server_first(*first);
  REQUIRE(client_final.has_value());
  auto server_final = server.handle_client_final(*client_final);
  if (server_final) REQUIRE(client.handle_server_final(*server_final).has_value());
  return server_final;
}

}  // namespace

TEST_CASE("SCRAM-SHA-256-PLUS: a client bound to the same certificate hash logs in", "[scram][cbind]") {
  const std::string hash(32, '\x5a');
  scram_server server = rfc_server();
  REQUIRE(run_bound({hash, hash}, server).has_value());
  CHECK(server.authenticated());
}

TEST_CASE("SCRAM-SHA-256-PLUS: another certificate's hash (a man in the middle) is refused",
          "[scram][cbind]") {
  scram_server server = rfc_server();
  auto r = run_bound({std::string(32, '\x5a'), std::string(32, '\x5b')}, server);
  CHECK(error_of(r) == scram_errc::channel_binding_mismatch);
  CHECK_FALSE(server.authenticated());
}

TEST_CASE("channel-binding negotiation follows Postgres' rules", "[scram][cbind]") {
  const std::string hash(32, '\x01');
  SECTION("-PLUS selected but the client sends 'n'") {
    scram_server server = rfc_server();
    server.offer_channel_binding(hash, true);
    CHECK(error_of(server.handle_client_first(rfc_client_first)) == scram_errc::channel_binding_mismatch);
  }
  SECTION("plain mechanism selected but the client sends channel-binding data") {
    scram_server server = rfc_server();
    CHECK(error_of(run_bound({hash, hash, false, true}, server)) == scram_errc::channel_binding_mismatch);
  }
  SECTION("'y' when -PLUS was offered is a downgrade") {
    scram_server server = rfc_server();
    server.offer_channel_binding(hash, false);
    CHECK(error_of(server.handle_client_first("y,,n=,r=abc")) == scram_errc::channel_binding_mismatch);
  }
  SECTION("plain mechanism with 'n' over TLS is fine") {
    scram_server server = rfc_server();
    REQUIRE(run_bound({hash, hash, false, false}, server).has_value());
  }
  SECTION("an unknown channel-binding type") {
    scram_server server = rfc_server();
    server.offer_channel_binding(hash, true);
    CHECK(error_of(server.handle_client_first("p=tls-unique,,n=,r=abc")) == scram_errc::unsupported_feature);
  }
  SECTION("without TLS, 'p=' is refused as before") {
    scram_server server = rfc_server();
    CHECK(error_of(server.handle_client_first("p=tls-server-end-point,,n=,r=abc")) ==
          scram_errc::unsupported_feature);
  }
}

TEST_CASE("salted password cache: one PBKDF2 per (password, salt, iterations), bounded") {
  using namespace pgrelay::protocol;
  scram_salted_password_cache cache(2);
  const auto a = cache.salted_password("pw", "salt-a", 4096);
  CHECK(cache.salted_password("pw", "salt-a", 4096) == a);
  CHECK(cache.computations() == 1);
  // Each part of the triple is part of the key.
  CHECK(cache.salted_password("pw2", "salt-a", 4096) != a);
  CHECK(cache.salted_password("pw", "salt-b", 4096) != a);
  CHECK(cache.computations() == 3);
  CHECK(cache.size() == 2);
  CHECK(cache.salted_password("pw", "salt-a", 4097) != a);
  CHECK(cache.size() == 2);
  // The oldest entries were replaced; a value computed again is the same.
  CHECK(cache.salted_password("pw", "salt-a", 4096) == a);
  CHECK(cache.computations() == 5);
  CHECK_THROWS_AS(cache.salted_password("pw", "", 4096), std::invalid_argument);
}

TEST_CASE("a client using the salted password cache proves the same as one without") {
  using namespace pgrelay::protocol;
  const auto verifier = compute_scram_verifier("secret", "0123456789abcdef", 4096);
  scram_salted_password_cache cache;
  for (int round = 0; round < 2; ++round) {
    scram_server server(verifier, make_scram_nonce(random_bytes(scram_nonce_random_length)));
    scram_client client("secret", make_scram_nonce(random_bytes(scram_nonce_random_length)));
    client.use_cache(&cache);
    auto server_first = server.handle_client_first(client.client_first());
    REQUIRE(server_first);
    auto client_final = client.handle_server_first(*server_first);
    REQUIRE(client_final);
    auto server_final = server.handle_client_final(*client_final);
    REQUIRE(server_final);
    CHECK(client.handle_server_final(*server_final));
    CHECK(client.authenticated());
  }
  CHECK(cache.computations() == 1);
}
