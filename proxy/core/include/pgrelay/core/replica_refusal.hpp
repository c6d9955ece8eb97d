// Whether a replica's answer, held back whole, proves that the replica did nothing the primary
// could not do instead: then the request is re-run on the primary and the client never sees it.
// Pure: bytes in, a verdict out.
#pragma once

#include <cstdint>
#include <string_view>

namespace pgrelay::core {

enum class replica_refusal : std::uint8_t {
  none,               // relay the answer as it is
  read_only,          // 25006: the statement tried to write (a function not known as writing)
  recovery_conflict,  // 40001 / 40P01: the standby cancelled it to go on replaying
};

// `answer`: the server bytes from the start of the replica's answer. A refusal needs every frame
// up to the first ReadyForQuery whole, an ErrorResponse among them with one of the codes above,
// and that ReadyForQuery saying idle (no transaction was left open: the request was autocommit).
// The caller sends only autocommit reads to replicas and asks only about a replica's answer.
// Anything else (incomplete, malformed, other errors, FATAL) is none.
replica_refusal classify_replica_answer(std::string_view answer);

}  // namespace pgrelay::core
