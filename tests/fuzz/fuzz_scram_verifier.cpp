// Fuzzes the stored-secret parsers: SCRAM verifiers (pg_authid / users-file form), the users
// file's lighter syntax check, strict base64 and MD5 stored hashes. Invariants: base64 decoding
// is canonical (decode then encode gives the input back); an accepted verifier formats to a text
// that parses to the same value; conf's light check never rejects what protocol/ accepts.
#include <string>

#include "fuzz_check.hpp"
#include "pgrelay/conf/users.hpp"
#include "pgrelay/protocol/base64.hpp"
#include "pgrelay/protocol/md5.hpp"
#include "pgrelay/protocol/scram.hpp"

namespace pr = pgrelay::protocol;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = pgrelay::fuzz::as_view(data, size);

  if (auto raw = pr::base64_decode(text)) FUZZ_CHECK(pr::base64_encode(*raw) == text);
  FUZZ_CHECK(pr::base64_decode(pr::base64_encode(text)) == std::string(text));

  auto v = pr::parse_scram_verifier(text);
  if (v) {
    FUZZ_CHECK(v->iterations >= 1 && !v->salt.empty());
    auto formatted = pr::format_scram_verifier(*v);
    auto again = pr::parse_scram_verifier(formatted);
    FUZZ_CHECK(again && again->iterations == v->iterations && again->salt == v->salt &&
               again->stored_key == v->stored_key && again->server_key == v->server_key);
    FUZZ_CHECK(pgrelay::conf::check_scram_verifier(text).empty());
  }

  auto md5 = pr::md5_password_message_from_hash(text, pr::md5_salt{1, 2, 3, 4});
  if (md5) FUZZ_CHECK(md5->size() == 35 && md5->starts_with("md5"));
  return 0;
}
