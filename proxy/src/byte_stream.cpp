#include "byte_stream.hpp"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace pgrelay::proxy {

// Not through glibc's sendmsg: in a threaded process each of its calls is a cancellation point,
// which switches asynchronous cancellation on and off around the system call, and pgrelay
// cancels no thread. With Asio's checks around write_some gone too, a write costs about 55 fewer
// instructions (callgrind, session 17). MSG_DONTWAIT keeps the call from blocking whatever the
// descriptor's own mode; MSG_NOSIGNAL makes a closed peer an EPIPE, not a SIGPIPE, as in Asio's
// writes.
std::size_t byte_stream::send_now(const iovec* ranges, std::size_t count, error_code& ec) {
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(ranges);
  msg.msg_iovlen = count;
  for (;;) {
    const long sent = ::syscall(SYS_sendmsg, socket_->native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent >= 0) return static_cast<std::size_t>(sent);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) ec = error_code(errno, asio::error::get_system_category());
    return 0;
  }
}

}  // namespace pgrelay::proxy
