// Asio and Beast are header-only by default; compiling them once here keeps every other
// translation unit small (BOOST_*_SEPARATE_COMPILATION is PUBLIC on kamea_asio).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
