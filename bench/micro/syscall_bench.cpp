// What a relay's system calls cost on this machine, over a loopback TCP connection (ns/op):
//
//   syscall/recv_nothing/glibc   a read that finds nothing, through glibc's recv (a cancellation
//                                point: asynchronous cancellation is switched on and off around it)
//   syscall/recv_nothing/direct  the same read as a direct system call
//   syscall/epoll_mod            re-arming a registered socket (EPOLL_CTL_MOD), Asio's only other
//                                way to wait for a read without trying it first
//   syscall/send_recv_64         a 64-byte message written on one end and read on the other
//
// Asio's reactor tries each new read at once, so a request/response relay pays one read that
// finds nothing per wait (README, "Per-transaction cost against PgBouncer"); these figures put
// that read next to the user-space instructions the relay spends per transaction.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <stdexcept>

namespace pgrelay::bench {
namespace {

// A connected loopback TCP pair, `near` non-blocking.
class tcp_pair {
 public:
  tcp_pair() {
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof at;
    if (::bind(listener, reinterpret_cast<sockaddr*>(&at), len) != 0 || ::listen(listener, 1) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&at), &len) != 0) {
      throw std::runtime_error("loopback listener");
    }
    near_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(near_, reinterpret_cast<sockaddr*>(&at), len) != 0) throw std::runtime_error("connect");
    far_ = ::accept(listener, nullptr, nullptr);
    ::close(listener);
    ::fcntl(near_, F_SETFL, O_NONBLOCK);
  }
  ~tcp_pair() {
    ::close(near_);
    ::close(far_);
  }
  tcp_pair(const tcp_pair&) = delete;
  tcp_pair& operator=(const tcp_pair&) = delete;
  int near_end() const { return near_; }
  int far_end() const { return far_; }

 private:
  int near_ = -1;
  int far_ = -1;
};

void recv_nothing_glibc(benchmark::State& state) {
  tcp_pair pair;
  std::array<char, 512> buf{};
  for (auto _ : state) benchmark::DoNotOptimize(::recv(pair.near_end(), buf.data(), buf.size(), 0));
}
BENCHMARK(recv_nothing_glibc)->Name("syscall/recv_nothing/glibc");

void recv_nothing_direct(benchmark::State& state) {
  tcp_pair pair;
  std::array<char, 512> buf{};
  for (auto _ : state) {
    benchmark::DoNotOptimize(::syscall(SYS_recvfrom, pair.near_end(), buf.data(), buf.size(), 0, nullptr, nullptr));
  }
}
BENCHMARK(recv_nothing_direct)->Name("syscall/recv_nothing/direct");

void epoll_mod(benchmark::State& state) {
  tcp_pair pair;
  const int set = ::epoll_create1(EPOLL_CLOEXEC);
  // The events Asio registers a socket with.
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLPRI | EPOLLET;
  ::epoll_ctl(set, EPOLL_CTL_ADD, pair.near_end(), &ev);
  for (auto _ : state) benchmark::DoNotOptimize(::epoll_ctl(set, EPOLL_CTL_MOD, pair.near_end(), &ev));
  ::close(set);
}
BENCHMARK(epoll_mod)->Name("syscall/epoll_mod");

void send_recv_64(benchmark::State& state) {
  tcp_pair pair;
  std::array<char, 64> message{};
  std::array<char, 512> buf{};
  for (auto _ : state) {
    benchmark::DoNotOptimize(::send(pair.far_end(), message.data(), message.size(), MSG_NOSIGNAL));
    benchmark::DoNotOptimize(::recv(pair.near_end(), buf.data(), buf.size(), 0));
  }
}
BENCHMARK(send_recv_64)->Name("syscall/send_recv_64");

}  // namespace
}  // namespace pgrelay::bench
