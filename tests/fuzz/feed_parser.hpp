#pragma once
// Gives a Beast HTTP parser the fuzzer's bytes the way a socket read loop would: as much as it
// takes per call, until it is done, stops taking, or fails.

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstdint>

template <class Parser>
void feed_parser(Parser& p, const std::uint8_t* data, std::size_t size) {
    boost::system::error_code ec;
    std::size_t at = 0;
    while (at < size && !p.is_done()) {
        auto n = p.put(boost::asio::buffer(data + at, size - at), ec);
        if (ec || n == 0) {
            return;
        }
        at += n;
    }
}
