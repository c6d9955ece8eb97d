// A worker's live sessions, linked through the sessions themselves: a client costs no node of
// its own in the worker's bookkeeping (a std::set's took 48 bytes per client).
#pragma once

#include <boost/intrusive/list.hpp>

namespace pgrelay::proxy {

class client_session;

using session_hook = boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::normal_link>>;
using session_list = boost::intrusive::list<client_session, boost::intrusive::base_hook<session_hook>,
                                            boost::intrusive::constant_time_size<false>>;

}  // namespace pgrelay::proxy
