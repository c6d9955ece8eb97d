"""bench/cost_origin.py splits callgrind's per-function rows by where the code comes from: the
split that tells pgrelay's own instructions from Asio's and glibc's (README, issue 19)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import cost_origin  # noqa: E402

# The shape of `callgrind_annotate --inclusive=no` (trimmed): main's inclusive rows at 100 %,
# then one row per function, then the per-line annotation, which must not be counted.
ANNOTATE = """\
--------------------------------------------------------------------------------
Ir                   file:function
--------------------------------------------------------------------------------
1,000 (100.0%)  ./csu/../csu/libc-start.c:__libc_start_main@@GLIBC_2.34 [/usr/lib/x86_64-linux-gnu/libc.so.6]
1,000 (100.0%)  /home/dev/pgrelay/proxy/src/main.cpp:main [/tmp/b/pgrelay]
  300 (30.00%)  /home/dev/pgrelay/proxy/src/relay.cpp:pgrelay::proxy::client_session::relay_pass(x&) [/tmp/b/pgrelay]
  200 (20.00%)  /usr/include/boost/asio/detail/impl/epoll_reactor.ipp:boost::asio::detail::epoll_reactor::start_op(int) [/tmp/b/pgrelay]
  100 (10.00%)  ./socket/../sysdeps/unix/sysv/linux/recv.c:recv [/usr/lib/x86_64-linux-gnu/libc.so.6]
   90 ( 9.00%)  ./nptl/./nptl/cancellation.c:__pthread_enable_asynccancel [/usr/lib/x86_64-linux-gnu/libc.so.6]
   80 ( 8.00%)  ./string/../sysdeps/x86_64/multiarch/memchr-avx2.S:__memchr_avx2 [/usr/lib/x86_64-linux-gnu/libc.so.6]
   70 ( 7.00%)  proxy/core/include/pgrelay/core/response_queue.hpp:scan_server(x&) [clone .constprop.0]
   60 ( 6.00%)  /usr/include/c++/12/bits/vector.tcc:std::vector<int>::emplace_back(int&&) [/tmp/b/pgrelay]
   50 ( 5.00%)  ???:event_base_loop [/usr/lib/x86_64-linux-gnu/libevent-2.1.so.7.0.1]
   40 ( 4.00%)  ???:sbuf_process_pending [/usr/sbin/pgbouncer]
   30 ( 3.00%)  ./ctype/./ctype/ctype.c:isspace [/usr/lib/x86_64-linux-gnu/libc.so.6]
   20 ( 2.00%)  ???:SHA256_Update [/usr/lib/x86_64-linux-gnu/libcrypto.so.3]
   10 ( 1.00%)  ./stdio-common/./stdio-common/vfprintf-internal.c:__vfprintf_internal [/usr/lib/x86_64-linux-gnu/libc.so.6]

--------------------------------------------------------------------------------
-- Auto-annotated source: /home/dev/pgrelay/proxy/src/relay.cpp
--------------------------------------------------------------------------------
  999 (99.90%)  /home/dev/pgrelay/proxy/src/relay.cpp:pgrelay::proxy::client_session::relay_pass(x&) [/tmp/b/pgrelay]
"""


def test_rows_are_split_by_origin():
    assert cost_origin.split_rows(ANNOTATE) == {
        cost_origin.OWN: 300 + 70 + 60 + 40,
        cost_origin.EVENT: 200 + 50,
        cost_origin.LIBC_CALLS: 100 + 90,
        cost_origin.LIBC_STRING: 80 + 30,
        cost_origin.LIBC_OTHER: 10,
        "other: libcrypto.so.3": 20,
    }


def test_output_without_a_function_table_counts_nothing():
    assert cost_origin.split_rows("callgrind_annotate: no such file\n") == {}
