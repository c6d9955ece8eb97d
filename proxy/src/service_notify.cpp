#include "service_notify.hpp"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <string>

namespace pgrelay::proxy::service {

namespace {

void send(const std::string& state) { (void)sd_notify(0, state.c_str()); }

}  // namespace

void ready() { send("READY=1\nSTATUS=serving"); }

void reloading() {
  // MONOTONIC_USEC lets Type=notify-reload (systemd 253+) match the reload to its request.
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  auto usec = static_cast<unsigned long long>(ts.tv_sec) * 1000000ull + static_cast<unsigned long long>(ts.tv_nsec) / 1000ull;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=reloading the configuration");
}

void stopping() { send("STOPPING=1\nSTATUS=draining clients"); }

void status(std::string_view text) { send("STATUS=" + std::string(text)); }

void watchdog_alive() { send("WATCHDOG=1"); }

std::optional<std::chrono::milliseconds> watchdog_interval() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::milliseconds(std::max<std::uint64_t>(usec / 2000, 1));
}

}  // namespace pgrelay::proxy::service
