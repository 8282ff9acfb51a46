// The SIMD dotted-quad readers behind parse_ip_padded (ip_address.cpp picks one at run time), declared here
// so that the tests can hold each to parse_ip. Both read 16 bytes from p and take n = 7..15; both answer
// true only for text inet_pton4 accepts, with its value.
#pragma once

#include <cstddef>
#include <cstdint>

namespace enrichd::ip_simd {

// SSE2 (every x86-64): dots by compare, each octet from a 4-byte window.
bool parse_ipv4_sse2(const char* p, uint32_t n, uint32_t& out);

// SSSE3 (ip_address_ssse3.cpp, compiled with -mssse3): the digits shuffled into place by a table keyed on
// the octets' lengths, and weighted with multiply-adds, all four octets at once.
bool parse_ipv4_ssse3(const char* p, uint32_t n, uint32_t& out);

// Whether this CPU runs parse_ipv4_ssse3.
bool has_ssse3();

}  // namespace enrichd::ip_simd
