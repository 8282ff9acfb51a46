// The SSSE3 dotted-quad reader (compiled with -mssse3, called only where the CPU has it). After the same
// checks as the SSE2 reader (digits and exactly three dots in the text), the four octets' lengths pick a
// shuffle that lays each octet's digits right-aligned in its own 4 bytes ([hundreds, tens, units, 0]),
// two multiply-adds weigh them, and the smallest value each length allows (10 for two digits, 100 for
// three) rejects leading zeros. No branch depends on an octet's length.
#include <tmmintrin.h>

#include <array>
#include <bit>
#include <cstdint>

#include "host/ip_address_simd.h"

namespace enrichd::ip_simd {
namespace {

struct alignas(16) QuadShape {
  std::array<int8_t, 16> shuffle;  // output byte -> input byte, -1 (0x80 set): zero
  std::array<int32_t, 4> min;      // per octet: 0, 10 or 100
};

// Entry (l0-1)*27 + (l1-1)*9 + (l2-1)*3 + (l3-1) for octet lengths l0..l3 in 1..3.
constexpr std::array<QuadShape, 81> kShapes = [] {
  std::array<QuadShape, 81> shapes{};
  for (int index = 0; index < 81; ++index) {
    const std::array<int, 4> length = {index / 27 + 1, index / 9 % 3 + 1, index / 3 % 3 + 1, index % 3 + 1};
    QuadShape& shape = shapes[static_cast<size_t>(index)];
    shape.shuffle.fill(-1);
    int start = 0;
    for (size_t octet = 0; octet < 4; ++octet) {
      const int l = length[octet];
      const size_t out = 4 * octet;
      if (l == 3) shape.shuffle[out] = static_cast<int8_t>(start);
      if (l >= 2) shape.shuffle[out + 1] = static_cast<int8_t>(start + l - 2);
      shape.shuffle[out + 2] = static_cast<int8_t>(start + l - 1);
      shape.min[octet] = l == 3 ? 100 : l == 2 ? 10 : 0;
      start += l + 1;
    }
  }
  return shapes;
}();

}  // namespace

bool parse_ipv4_ssse3(const char* p, uint32_t n, uint32_t& out) {
  QuadDots q;
  if (!find_quad_dots(p, n, q)) return false;
  const uint32_t d1 = q.d1, d2 = q.d2, d3 = q.d3;
  const __m128i bytes = q.bytes;
  const uint32_t l0 = d1 - 1, l1 = d2 - d1 - 2, l2 = d3 - d2 - 2, l3 = n - d3 - 2;  // lengths - 1
  if (l0 > 2 || l1 > 2 || l2 > 2 || l3 > 2) return false;
  const QuadShape& shape = kShapes[l0 * 27 + l1 * 9 + l2 * 3 + l3];
  const __m128i values = _mm_sub_epi8(bytes, _mm_set1_epi8('0'));
  const __m128i placed =
      _mm_shuffle_epi8(values, _mm_load_si128(reinterpret_cast<const __m128i*>(shape.shuffle.data())));
  // [h, t, u, 0] -> (100h + 10t, u) -> 100h + 10t + u, one 32-bit lane per octet.
  const __m128i pairs = _mm_maddubs_epi16(placed, _mm_set1_epi32(0x00010a64));
  const __m128i octets = _mm_madd_epi16(pairs, _mm_set1_epi16(1));
  const __m128i too_big = _mm_cmpgt_epi32(octets, _mm_set1_epi32(255));
  const __m128i too_small =
      _mm_cmplt_epi32(octets, _mm_load_si128(reinterpret_cast<const __m128i*>(shape.min.data())));
  if (_mm_movemask_epi8(_mm_or_si128(too_big, too_small)) != 0) return false;
  // The low byte of each lane, last octet first: the address in host order.
  const __m128i gathered =
      _mm_shuffle_epi8(octets, _mm_setr_epi8(12, 8, 4, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1));
  out = static_cast<uint32_t>(_mm_cvtsi128_si32(gathered));
  return true;
}

}  // namespace enrichd::ip_simd
