// The SIMD dotted-quad readers behind parse_ip_padded (ip_address.cpp picks one at run time), declared here
// so that the tests can hold each to parse_ip. Both read 16 bytes from p and take n = 7..15; both answer
// true only for text inet_pton4 accepts, with its value.
#pragma once

#include <emmintrin.h>

#include <bit>
#include <cstddef>
#include <cstdint>

namespace enrichd::ip_simd {

// Where the three dots of a dotted quad stand, and the 16 bytes at its start.
struct QuadDots {
  __m128i bytes;
  uint32_t d1, d2, d3;  // ascending
};

// The first step of both readers: n = 7..15, every byte of the text a digit or a dot, exactly three dots
// (std::popcount is a long software sequence without -mpopcnt, which the baseline x86-64 build lacks: the
// lowest, the next and the highest dot, and no other). False otherwise. `static`, not inline: each
// reader's file compiles its own copy under its own target flags, which the linker must not merge.
[[maybe_unused]] static bool find_quad_dots(const char* p, uint32_t n, QuadDots& q) {
  if (n < 7 || n > 15) return false;
  q.bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const uint32_t in_text = (1U << n) - 1;
  const auto dots =
      static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(q.bytes, _mm_set1_epi8('.')))) & in_text;
  // Signed compares are right here: bytes >= 0x80 are negative, below '0'.
  const __m128i not_digit =
      _mm_or_si128(_mm_cmplt_epi8(q.bytes, _mm_set1_epi8('0')), _mm_cmpgt_epi8(q.bytes, _mm_set1_epi8('9')));
  const uint32_t digits = ~static_cast<uint32_t>(_mm_movemask_epi8(not_digit)) & in_text;
  if ((dots | digits) != in_text || dots == 0) return false;
  q.d1 = static_cast<uint32_t>(std::countr_zero(dots));
  q.d2 = static_cast<uint32_t>(std::countr_zero(dots & (dots - 1)));
  q.d3 = static_cast<uint32_t>(31 - std::countl_zero(dots));
  return q.d2 < q.d3 && dots == ((1U << q.d1) | (1U << q.d2) | (1U << q.d3));
}

// SSE2 (every x86-64): dots by compare, each octet from a 4-byte window.
bool parse_ipv4_sse2(const char* p, uint32_t n, uint32_t& out);

// SSSE3 (ip_address_ssse3.cpp, compiled with -mssse3): the digits shuffled into place by a table keyed on
// the octets' lengths, and weighted with multiply-adds, all four octets at once.
bool parse_ipv4_ssse3(const char* p, uint32_t n, uint32_t& out);

// Whether this CPU runs parse_ipv4_ssse3.
bool has_ssse3();

}  // namespace enrichd::ip_simd
