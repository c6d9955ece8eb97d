// TLS settings for both legs: values, defaults, paths and the files each mode needs.
#include <catch2/catch.hpp>
#include <string>

#include "diagnostics_text.hpp"
#include "pgrelay/conf/load.hpp"

using namespace pgrelay::conf;
using pgrelay::conf::testing::all;

namespace {

constexpr std::string_view base = R"(
listen: [127.0.0.1:6432]
auth: {method: trust}
databases:
  app: {primary: 127.0.0.1:5432, server_user: app}
)";

load_result load_with(std::string_view tls) {
  return load_string(std::string(base) + std::string(tls), "test.yaml", "/etc/pgrelay");
}

}  // namespace

TEST_CASE("tls defaults: no TLS for clients, prefer towards Postgres", "[conf][tls]") {
  auto r = load_with("");
  REQUIRE(r.ok());
  CHECK(r.cfg->tls.client_mode == client_tls_mode::disable);
  CHECK(r.cfg->tls.server_mode == server_tls_mode::prefer);
  CHECK(r.cfg->tls.server_ca.empty());
}

TEST_CASE("tls values are read and paths resolve against the config's directory", "[conf][tls]") {
  auto r = load_with(R"(
tls:
  client: {mode: require, cert: certs/server.crt, key: /keys/server.key}
  server: {mode: verify-full, ca: ca.crt}
)");
  INFO(all(r.errors));
  REQUIRE(r.ok());
  CHECK(r.cfg->tls.client_mode == client_tls_mode::require);
  CHECK(r.cfg->tls.client_cert == "/etc/pgrelay/certs/server.crt");
  CHECK(r.cfg->tls.client_key == "/keys/server.key");
  CHECK(r.cfg->tls.server_mode == server_tls_mode::verify_full);
  CHECK(r.cfg->tls.server_ca == "/etc/pgrelay/ca.crt");
}

TEST_CASE("tls: each mode demands the files it needs", "[conf][tls]") {
  SECTION("client TLS without a certificate and key") {
    auto r = load_with("tls: {client: {mode: allow}}\n");
    REQUIRE_FALSE(r.ok());
    auto text = all(r.errors);
    CHECK(text.find("tls.client.cert") != std::string::npos);
    CHECK(text.find("tls.client.key") != std::string::npos);
  }
  SECTION("verify-ca without a CA") {
    auto r = load_with("tls: {server: {mode: verify-ca}}\n");
    REQUIRE_FALSE(r.ok());
    CHECK(all(r.errors).find("tls.server.ca") != std::string::npos);
  }
  SECTION("require towards the server needs no CA") {
    CHECK(load_with("tls: {server: {mode: require}}\n").ok());
  }
  SECTION("a misspelt mode names the choices") {
    auto r = load_with("tls: {server: {mode: verify_full}}\n");
    REQUIRE_FALSE(r.ok());
    CHECK(all(r.errors).find("verify-full") != std::string::npos);
  }
  SECTION("an unknown key") {
    auto r = load_with("tls: {client: {mode: disable, sslmode: require}}\n");
    REQUIRE_FALSE(r.ok());
    CHECK(all(r.errors).find("sslmode") != std::string::npos);
  }
}

TEST_CASE("tls modes print as the YAML spells them", "[conf][tls]") {
  CHECK(std::string(to_string(server_tls_mode::verify_full)) == "verify-full");
  CHECK(std::string(to_string(server_tls_mode::verify_ca)) == "verify-ca");
  CHECK(std::string(to_string(client_tls_mode::allow)) == "allow");
}
