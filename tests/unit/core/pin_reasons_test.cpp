// The pin reasons and the YAML's session_state keys are two lists joined by name: every reason
// must find its policy, and every policy must belong to a reason.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "pgrelay/conf/config.hpp"
#include "pgrelay/core/pin_reasons.hpp"

using namespace pgrelay;

TEST_CASE("every pin reason has a session_state policy and every policy a reason") {
  conf::session_state_policies policies;
  policies.temp_tables = conf::pin_policy::reject;
  std::set<std::string> keys_used;
  for (const auto& row : core::pin_reasons) {
    INFO(row.name);
    const auto* policy = policies.find(row.policy_key);
    REQUIRE(policy != nullptr);
    CHECK(*policy == (row.reason == core::pin_reason::temp_table ? conf::pin_policy::reject : conf::pin_policy::pin));
    keys_used.insert(std::string(row.policy_key));
    CHECK_FALSE(row.construct.empty());
  }
  CHECK(keys_used.size() == conf::session_state_keys.size());
  CHECK(policies.find("no_such_key") == nullptr);
}
