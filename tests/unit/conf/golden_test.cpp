// Golden diagnostics for the bad-config corpus in data/conf/bad: each X.yaml has an
// X.expected holding exactly what `pgrelay check` would print. PGRELAY_UPDATE_GOLDEN=1 rewrites
// the ones that differ and fails, so that a rewrite is always read before it is trusted.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "pgrelay/conf/load.hpp"

namespace fs = std::filesystem;
using namespace pgrelay::conf;

namespace {

std::string slurp(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The file's base name is the display name so the goldens do not depend on the checkout path.
load_result load_case(const fs::path& path) {
  return load_string(slurp(path), path.filename().string(), "/etc/pgrelay");
}

std::string render(const diagnostics& errors) {
  std::string out;
  for (const auto& d : errors) out += d.to_string() + "\n";
  return out;
}

const fs::path bad_dir = fs::path{PGRELAY_TEST_DATA} / "conf" / "bad";

}  // namespace

TEST_CASE("every bad config matches its golden diagnostics", "[conf][golden]") {
  std::vector<fs::path> cases;
  for (const auto& entry : fs::directory_iterator{bad_dir}) {
    if (entry.path().extension() == ".yaml") cases.push_back(entry.path());
  }
  std::sort(cases.begin(), cases.end());
  REQUIRE(cases.size() >= 15);
  const bool update = std::getenv("PGRELAY_UPDATE_GOLDEN") != nullptr;
  for (const auto& path : cases) {
    DYNAMIC_SECTION(path.filename().string()) {
      const auto result = load_case(path);
      CHECK_FALSE(result.ok());
      CHECK_FALSE(result.errors.empty());
      auto expected_path = path;
      expected_path.replace_extension(".expected");
      const std::string actual = render(result.errors);
      const bool differs = !fs::exists(expected_path) || actual != slurp(expected_path);
      if (update && differs) {
        // A rewritten golden proves nothing until someone reads the diff: this run fails.
        std::ofstream{expected_path, std::ios::binary} << actual;
        FAIL_CHECK("rewrote " << expected_path.filename().string() << "; review it and run again without "
                                                                      "PGRELAY_UPDATE_GOLDEN");
        continue;
      }
      REQUIRE(fs::exists(expected_path));
      CHECK(actual == slurp(expected_path));
    }
  }
}

TEST_CASE("all errors are gathered, not just the first", "[conf]") {
  const auto result = load_case(bad_dir / "three_errors.yaml");
  REQUIRE_FALSE(result.ok());
  REQUIRE(result.errors.size() == 3);
  CHECK(result.errors[0].key == "pool.mode");
  CHECK(result.errors[0].hint == "did you mean 'session'?");
  CHECK(result.errors[1].key == "pool.min_idle");
  CHECK(result.errors[2].key == "databases.app.server_login");
}

TEST_CASE("a typo gets a did-you-mean hint and an exact position", "[conf]") {
  const auto result = load_case(bad_dir / "typo_key.yaml");
  REQUIRE_FALSE(result.ok());
  const auto it = std::find_if(result.errors.begin(), result.errors.end(),
                               [](const diagnostic& d) { return d.key == "pool.szie"; });
  REQUIRE(it != result.errors.end());
  CHECK(it->line == 6);
  CHECK(it->column == 3);
  CHECK(it->hint == "did you mean 'size'?");
  CHECK(it->to_string() ==
        "typo_key.yaml:6:3: pool.szie: unknown key (hint: did you mean 'size'?)");
}

TEST_CASE("a YAML syntax error is one diagnostic with its position", "[conf]") {
  const auto result = load_case(bad_dir / "syntax_error.yaml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].line == 3);
  CHECK(result.errors[0].key.empty());
  CHECK(result.errors[0].message.find("YAML syntax error") == 0);
}

TEST_CASE("an unreadable file is one diagnostic without a position", "[conf]") {
  const auto result = load_file(std::string{PGRELAY_TEST_DATA} + "/conf/does-not-exist.yaml");
  REQUIRE_FALSE(result.ok());
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].line == 0);
  CHECK(result.errors[0].message.find("cannot read file") == 0);
}
