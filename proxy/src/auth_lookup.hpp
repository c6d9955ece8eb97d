// Where a client's SCRAM verifier comes from: the users file first, then auth.query (a bound
// query over a dedicated connection to Postgres, as auth.user), cached for auth.cache_ttl.
// Whatever the outcome, the client is told nothing before its proof is checked; the detail is
// for pgrelay's log, and never contains the verifier.
#pragma once

#include <memory>
#include <string>

#include "net.hpp"
#include "pgrelay/conf/config.hpp"
#include "pgrelay/protocol/scram.hpp"

namespace pgrelay::proxy {

class worker;

struct user_secret {
  enum class kind {
    found,     // `verifier` is a SCRAM-SHA-256 verifier
    unknown,   // in neither place
    refused,   // Postgres has the role but it may not log in (NOLOGIN, VALID UNTIL in the past)
    unusable,  // no password, or an MD5 hash: nothing SCRAM can check
    failed,    // auth.query itself failed (cannot log in, no function, no privilege …)
  };
  kind what = kind::unknown;
  std::string verifier;
  std::string source;  // "users file" or "auth.query"
  std::string detail;  // why, in words for the log: what is wrong and what to change
};

awaitable<user_secret> find_user_secret(worker& w, const conf::config& cfg, const std::string& database,
                                        const std::string& user);

// The secret to run the client's SCRAM exchange against: the secret's verifier (prepared once per
// worker), or, when there is none (or it does not parse; `secret.detail` then says so), a mock one
// derived from the user name, so that unknown users get the same exchange as known ones and
// probing cannot tell them apart. `known` says whether it is real.
std::shared_ptr<protocol::scram_login_secret> login_secret_or_mock(worker& w, user_secret& secret,
                                                                         const std::string& user, bool& known);

// After a failed proof against a verifier auth.query gave: the next login fetches it again, so a
// password changed in Postgres works from the next attempt.
void forget_user_secret(worker& w, const std::string& database, const std::string& user);

}  // namespace pgrelay::proxy
