// The users file: SCRAM verifiers accepted, plaintext passwords and malformed verifiers
// rejected with positioned diagnostics.
#include "pgrelay/conf/users.hpp"

#include "diagnostics_text.hpp"

#include <catch2/catch.hpp>

#include "pgrelay/protocol/scram.hpp"
#include <string>

using namespace pgrelay::conf;
using pgrelay::conf::testing::all;

namespace {

// password "app", salt "pgrelay-example!", 4096 iterations (as in packaging/users.yaml)
const std::string app_verifier =
    "SCRAM-SHA-256$4096:cGdyZWxheS1leGFtcGxlIQ==$ET+Fgp3g8FC/ij3syPUkPbNmolAnDX/m6saxCZ7AYRo=:"
    "NANEAAqNZTgkZB2ywXVjP4+jsMLPwaYeNLO5b83hH28=";

}  // namespace

TEST_CASE("a users file with verifiers loads", "[conf][users]") {
  const auto result = load_users_string("users:\n  app: {scram: \"" + app_verifier +
                                            "\"}\n  bob:\n    scram: '" + app_verifier + "'\n",
                                        "users.yaml");
  INFO(all(result.errors));
  REQUIRE(result.ok());
  REQUIRE(result.users->size() == 2);
  CHECK(result.users->at("app").name == "app");
  CHECK(result.users->at("app").scram_verifier == app_verifier);
  CHECK(result.users->at("bob").scram_verifier == app_verifier);
}

TEST_CASE("a plaintext password is rejected with a pointer to make-verifier", "[conf][users]") {
  const auto result = load_users_string("users:\n  app:\n    password: app\n", "users.yaml");
  REQUIRE_FALSE(result.ok());
  REQUIRE(result.errors.size() == 1);
  CHECK(all(result.errors) ==
        "users.yaml:3:5: users.app.password: plaintext passwords are not accepted "
        "(hint: run 'pgrelay make-verifier' and put its output under 'scram')\n");
}

TEST_CASE("a password is rejected even next to a valid verifier", "[conf][users]") {
  const auto result = load_users_string(
      "users:\n  app:\n    scram: \"" + app_verifier + "\"\n    password: app\n", "users.yaml");
  REQUIRE_FALSE(result.ok());
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].key == "users.app.password");
}

TEST_CASE("every users-file error is gathered", "[conf][users]") {
  const auto result = load_users_string(R"(users:
  a: {scram: "md5abcdef"}
  b: {scarm: "x"}
  c: {}
  d: plain
  e: {scram: "SCRAM-SHA-256$0:c2FsdA==$ET+Fgp3g8FC/ij3syPUkPbNmolAnDX/m6saxCZ7AYRo=:NANEAAqNZTgkZB2ywXVjP4+jsMLPwaYeNLO5b83hH28="}
  a: {scram: "x"}
extra: 1
)",
                                        "users.yaml");
  REQUIRE_FALSE(result.ok());
  CHECK(all(result.errors) ==
        "users.yaml:2:14: users.a.scram: a verifier must start with 'SCRAM-SHA-256$' "
        "(hint: run 'pgrelay make-verifier' to produce one)\n"
        "users.yaml:3:7: users.b.scarm: unknown key (hint: did you mean 'scram'?)\n"
        "users.yaml:4:6: users.c.scram: required key is missing\n"
        "users.yaml:5:6: users.d: expected {scram: \"SCRAM-SHA-256$...\"}, got 'plain'\n"
        "users.yaml:6:14: users.e.scram: the iteration count must be an integer from 1 to 2147483647 "
        "(hint: run 'pgrelay make-verifier' to produce one)\n"
        "users.yaml:7:3: users.a: duplicate user (first defined at line 2)\n"
        "users.yaml:8:1: extra: unknown key\n");
}

TEST_CASE("an empty users map and a missing users key are errors", "[conf][users]") {
  CHECK(all(load_users_string("users: {}\n", "u.yaml").errors) ==
        "u.yaml:1:1: users: no users are defined\n");
  CHECK(all(load_users_string("usres: {}\n", "u.yaml").errors) ==
        "u.yaml:1:1: usres: unknown key (hint: did you mean 'users'?)\n"
        "u.yaml:1:1: users: required key is missing\n");
  CHECK(load_users_string("users: [\n", "u.yaml").errors.at(0).message.find("YAML syntax") == 0);
  CHECK_FALSE(load_users_file("/nonexistent/users.yaml").ok());
}

TEST_CASE("the users file accepts exactly the verifiers logins accept", "[conf][users]") {
  // Once the file's own checker accepted both: --check-config passed and the login failed.
  const std::string keys = "$ET+Fgp3g8FC/ij3syPUkPbNmolAnDX/m6saxCZ7AYRo=:NANEAAqNZTgkZB2ywXVjP4+jsMLPwaYeNLO5b83hH28=";
  for (const std::string& v : {"SCRAM-SHA-256$2147483648:c2FsdA==" + keys,  // iterations over INT_MAX
                              "SCRAM-SHA-256$4096:c2FsdB==" + keys,         // non-canonical base64 (B)
                              "SCRAM-SHA-256$4096:c2FsdA==" + keys}) {
    INFO(v);
    CHECK(check_scram_verifier(v).empty() == pgrelay::protocol::parse_scram_verifier(v).has_value());
  }
  CHECK_FALSE(check_scram_verifier("SCRAM-SHA-256$2147483648:c2FsdA==" + keys).empty());
  CHECK(check_scram_verifier("SCRAM-SHA-256$4096:c2FsdA==" + keys).empty());
}

TEST_CASE("check_scram_verifier is a light syntactic check", "[conf][users]") {
  CHECK(check_scram_verifier(app_verifier).empty());
  CHECK_FALSE(check_scram_verifier("").empty());
  CHECK_FALSE(check_scram_verifier("SCRAM-SHA-1$4096:c2FsdA==$a:b").empty());
  CHECK_FALSE(check_scram_verifier("SCRAM-SHA-256$4096:c2FsdA==").empty());
  CHECK_FALSE(check_scram_verifier("SCRAM-SHA-256$abc:c2FsdA==$x:y").empty());
  CHECK(check_scram_verifier("SCRAM-SHA-256$4096:c2Fs!A==$ET+Fgp3g8FC/ij3syPUkPbNmolAnDX/"
                             "m6saxCZ7AYRo=:NANEAAqNZTgkZB2ywXVjP4+jsMLPwaYeNLO5b83hH28=") ==
        "the salt is not valid base64");
  CHECK(check_scram_verifier("SCRAM-SHA-256$4096:c2FsdA==$c2FsdA==:"
                             "NANEAAqNZTgkZB2ywXVjP4+jsMLPwaYeNLO5b83hH28=") ==
        "the StoredKey is not a base64 SHA-256 digest");
  CHECK(check_scram_verifier("SCRAM-SHA-256$4096:c2FsdA==$ET+Fgp3g8FC/ij3syPUkPbNmolAnDX/"
                             "m6saxCZ7AYRo=:NANEAAqNZTgkZB2ywXVjP4+jsMLPwaYeNLO5b83hH2=8") ==
        "the ServerKey is not a base64 SHA-256 digest");
}

TEST_CASE("the users file reports merge keys and non-string verifiers as the config does",
          "[conf][users]") {
  const auto result =
      load_users_string("users:\n  app:\n    <<: {scram: x}\n  bob: {scram: [a]}\n", "u.yaml");
  CHECK(all(result.errors) ==
        "u.yaml:3:5: users.app.<<: YAML merge keys ('<<') are not supported; repeat the keys instead\n"
        "u.yaml:4:16: users.bob.scram: expected a string, got a list\n");
}
