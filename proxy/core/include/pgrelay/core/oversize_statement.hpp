// Statements pgrelay inspects or renames (Query, Parse, Bind, Describe, Close) are read whole
// so the router and the rewriter see their text. Up to `statement_buffer_limit` that is what
// happens; past it, holding the frame would make a client's memory as large as its message
// (Postgres accepts 1 GiB), so each kind takes the one way through that needs no whole frame.
#pragma once

#include <cstddef>
#include <string_view>

namespace pgrelay::core {

// 16 MiB: far above any statement an app sends by hand or through an ORM, far below what a
// crowd of clients could pin in memory with 1 GiB frames.
inline constexpr std::size_t statement_buffer_limit = std::size_t{16} << 20;
// How much of a Bind pgrelay waits for to find its portal and statement names.
inline constexpr std::size_t bind_head_limit = std::size_t{64} << 10;

inline bool is_statement_tag(char tag) {
  return tag == 'Q' || tag == 'P' || tag == 'B' || tag == 'D' || tag == 'C';
}

enum class oversize_action {
  need_more,  // the names that decide are not all here yet
  // Sent in pieces as it arrives. Its text is never seen: a Query or unnamed Parse goes to the
  // primary and the session is examined afterwards, as after any opaque statement.
  stream,
  // The portal and statement names (the head) are rewritten; the parameters stream unchanged.
  rewrite_bind_head,
  // A named Parse (its text would have to be kept to prepare it on other servers), or a Describe
  // or Close whose name alone exceeds the limit: refused with 54000, the connection closed.
  refuse,
};

struct oversize_verdict {
  oversize_action action = oversize_action::need_more;
  std::string_view portal;       // rewrite_bind_head
  std::string_view statement;    // rewrite_bind_head
  std::size_t head_size = 0;     // rewrite_bind_head: body bytes the two names take
};

// `body_prefix`: the bytes of the frame's body that have arrived (the 5-byte header excluded).
oversize_verdict judge_oversize_statement(char tag, std::string_view body_prefix);

}  // namespace pgrelay::core
