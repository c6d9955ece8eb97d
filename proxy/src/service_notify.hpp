// systemd's notify protocol (Type=notify) through libsystemd: READY=1 once listening,
// RELOADING=1 / READY=1 around a reload, STOPPING=1 on shutdown, WATCHDOG=1 keep-alives from the
// event loop. All no-ops when NOTIFY_SOCKET is unset (not run by systemd).
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace pgrelay::proxy::service {

void ready();
void reloading();
void stopping();
void status(std::string_view text);
void watchdog_alive();
// Half the watchdog timeout systemd asked for (WATCHDOG_USEC), or nullopt when there is none.
std::optional<std::chrono::milliseconds> watchdog_interval();

}  // namespace pgrelay::proxy::service
