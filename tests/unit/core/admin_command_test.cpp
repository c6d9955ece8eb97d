// The admin console's parser: every command, its arguments, and clear errors for the rest.
#include <catch2/catch.hpp>

#include "pgrelay/core/admin_command.hpp"

using namespace pgrelay::core;

TEST_CASE("admin commands parse case-insensitively with optional semicolons", "[core][admin]") {
  auto c = parse_admin_command("show pools;");
  CHECK(c.verb == admin_verb::show);
  CHECK(c.what == "pools");
  for (auto view : admin_show_views) {
    if (view == "route") continue;
    INFO(view);
    CHECK(parse_admin_command("SHOW " + std::string(view)).verb == admin_verb::show);
  }
  CHECK(parse_admin_command("  Reload ; ").verb == admin_verb::reload);
  CHECK(parse_admin_command("SHUTDOWN").verb == admin_verb::shutdown);
  CHECK(parse_admin_command("").verb == admin_verb::empty);
  CHECK(parse_admin_command(" ; -- nothing").verb == admin_verb::empty);
  c = parse_admin_command("PAUSE");
  CHECK(c.verb == admin_verb::pause);
  CHECK(c.argument.empty());
  c = parse_admin_command("pause app");
  CHECK(c.argument == "app");
  c = parse_admin_command("RESUME \"My DB\"");
  CHECK(c.verb == admin_verb::resume);
  CHECK(c.argument == "My DB");
  c = parse_admin_command("kill app");
  CHECK(c.verb == admin_verb::kill);
  CHECK(c.argument == "app");
}

TEST_CASE("SHOW ROUTE takes one quoted statement", "[core][admin]") {
  auto c = parse_admin_command("SHOW ROUTE 'select ''x'' from t for update'");
  CHECK(c.verb == admin_verb::show);
  CHECK(c.what == "route");
  CHECK(c.argument == "select 'x' from t for update");
  CHECK(parse_admin_command("SHOW ROUTE").verb == admin_verb::invalid);
  CHECK(parse_admin_command("SHOW ROUTE select").verb == admin_verb::invalid);
  CHECK(parse_admin_command("SHOW ROUTE 'a' 'b'").verb == admin_verb::invalid);
}

TEST_CASE("anything else is an error with a hint", "[core][admin]") {
  auto c = parse_admin_command("SHOW POOOLS");
  CHECK(c.verb == admin_verb::invalid);
  CHECK(c.error.find("SHOW HELP") != std::string::npos);
  CHECK(parse_admin_command("select 1").error.find("only its own commands") != std::string::npos);
  CHECK(parse_admin_command("KILL").verb == admin_verb::invalid);
  CHECK(parse_admin_command("RELOAD now").verb == admin_verb::invalid);
  CHECK(parse_admin_command("SHOW 'pools'").verb == admin_verb::invalid);
  CHECK(parse_admin_command("SHOW pools extra").verb == admin_verb::invalid);
  CHECK(parse_admin_command("'show'").verb == admin_verb::invalid);
  CHECK(parse_admin_command("SHOW ROUTE 'unterminated").error.find("unterminated") != std::string::npos);
  CHECK(parse_admin_command("/* open").verb == admin_verb::invalid);
  CHECK(parse_admin_command("PAUSE 'app'").verb == admin_verb::invalid);
  CHECK(parse_admin_command("frobnicate").error.find("unknown command") != std::string::npos);
}
