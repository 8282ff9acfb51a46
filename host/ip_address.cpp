// IP text to integers with a hand-written parser instead of inet_pton: the event parser calls parse_ip for
// every event, and inet_pton wanted a NUL-terminated copy and was a large share of parse time. The parser
// mirrors glibc's inet_pton4/inet_pton6 rule for rule (tests/unit/ip_address_test.cpp checks it against
// inet_pton on millions of valid and broken strings); formatting still uses inet_ntop.
#include "host/ip_address.h"

#include "host/ip_address_simd.h"

#include <arpa/inet.h>
#include <emmintrin.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

namespace enrichd {
namespace {

// Hex digit values, -1 for every other byte (NUL included), so one load classifies a byte.
constexpr std::array<int8_t, 256> kHexValue = [] {
  std::array<int8_t, 256> t{};
  t.fill(-1);
  for (size_t c = 0; c < 10; ++c) t['0' + c] = static_cast<int8_t>(c);
  for (size_t c = 0; c < 6; ++c) t['a' + c] = t['A' + c] = static_cast<int8_t>(10 + c);
  return t;
}();

// '0'..'9' become 0..9, every other byte something above 9 (unsigned wrap-around), one compare each.
unsigned decimal_digit(char c) {
  return static_cast<unsigned>(static_cast<unsigned char>(c)) - '0';
}

// A dotted quad as glibc's inet_pton4 reads it: exactly four decimal octets 0..255 joined by single dots,
// no leading zeros ("0" is fine, "00" and "01" are not), nothing before or after. This is the common case
// on the event path, so it is one pass over the text with no table, no copy and no terminator. Only the
// 2-vs-3-digit branch is hard to predict; a branch-free version (zero-padded copy, selects) measured about
// 10% faster on uniform addresses and a SWAR one slower, too little to pay for the extra code.
bool parse_ipv4(const char* p, const char* end, uint32_t& out) {
  uint32_t addr = 0;
  for (int octet = 0; octet < 4; ++octet) {
    if (octet != 0) {
      if (p == end || *p != '.') return false;
      ++p;
    }
    if (p == end) return false;
    unsigned v = decimal_digit(*p++);
    if (v > 9) return false;
    // Up to two more digits, only after a non-zero first one; a fourth digit fails the '.' check.
    if (p != end && decimal_digit(*p) <= 9) {
      if (v == 0) return false;
      v = v * 10 + decimal_digit(*p++);
      if (p != end && decimal_digit(*p) <= 9) {
        v = v * 10 + decimal_digit(*p++);
        if (v > 255) return false;
      }
    }
    addr = (addr << 8) | v;
  }
  if (p != end) return false;
  out = addr;
  return true;
}

// RFC 4291 text as glibc's inet_pton6 reads it: groups of 1..4 hex digits (either case) joined by ':',
// at most one "::" standing for one or more zero groups (anywhere, "::" alone included), and optionally a
// dotted quad (inet_pton4 rules) as the last 32 bits. No single leading or trailing ':', no zone id.
bool parse_ipv6(const char* p, const char* end, Ipv6& out) {
  constexpr size_t kNoGap = SIZE_MAX;
  std::array<uint64_t, 8> groups{};  // in text order; the "::" gap is opened at the end
  size_t n = 0;                      // groups read; an embedded IPv4 counts as two
  size_t gap = kNoGap;               // where "::" stands: the number of groups before it
  if (p == end) return false;
  if (*p == ':') {  // a leading ':' must be half of "::"
    if (end - p < 2 || p[1] != ':') return false;
    gap = 0;
    p += 2;
  }
  while (p != end) {
    const char* token = p;
    uint64_t v = 0;
    int digits = 0;
    for (; digits < 4 && p != end && kHexValue[static_cast<unsigned char>(*p)] >= 0; ++digits, ++p) {
      v = (v << 4) | static_cast<uint64_t>(kHexValue[static_cast<unsigned char>(*p)]);
    }
    if (p != end && *p == '.') {
      // The digits so far were the first octet of an IPv4 tail, which must run to the end of the text.
      uint32_t v4 = 0;
      if (n > 6 || !parse_ipv4(token, end, v4)) return false;  // it needs room for two groups
      groups[n++] = v4 >> 16;
      groups[n++] = v4 & 0xffff;
      break;
    }
    if (digits == 0 || n == 8) return false;
    groups[n++] = v;
    if (p == end) break;
    if (*p++ != ':') return false;  // also a fifth hex digit
    if (p == end) return false;     // a single trailing ':' ("1:", "1::2:")
    if (*p == ':') {
      if (gap != kNoGap) return false;  // a second "::"
      gap = n;
      ++p;
    }
  }
  if (gap == kNoGap) {
    if (n != 8) return false;
  } else {
    if (n == 8) return false;  // "::" must stand for at least one group ("1:2:3:4:5:6:7::8" is bad)
    std::copy_backward(groups.begin() + gap, groups.begin() + n, groups.end());
    std::fill(groups.begin() + gap, groups.begin() + gap + (8 - n), 0);
  }
  out.hi = (groups[0] << 48) | (groups[1] << 32) | (groups[2] << 16) | groups[3];
  out.lo = (groups[4] << 48) | (groups[5] << 32) | (groups[6] << 16) | groups[7];
  return true;
}

void store_be64(uint64_t v, unsigned char* p) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<unsigned char>(v & 0xff);
    v >>= 8;
  }
}

// IPv4-mapped addresses (::ffff:a.b.c.d, in any text form) are IPv4.
IpAddress from_ipv6(const Ipv6& v6) {
  IpAddress ip;
  if (v6.hi == 0 && (v6.lo >> 32) == 0xffff) {
    ip.v4 = static_cast<uint32_t>(v6.lo);
  } else {
    ip.is_v6 = true;
    ip.v6 = v6;
  }
  return ip;
}

}  // namespace

std::optional<IpAddress> parse_ip(std::string_view text) {
  // Text with ':' can only be IPv6 and text without it only IPv4 (inet_pton6 needs a colon to reach 16
  // bytes), so trying IPv4 first gives what dispatching on ':' would, without a scan for the common case.
  // A NUL is just another byte that is no digit, dot or colon, so "1.2.3.4\0junk" is rejected as a whole.
  const char* p = text.data();
  const char* end = p + text.size();
  IpAddress ip;
  if (parse_ipv4(p, end, ip.v4)) return ip;
  Ipv6 v6;
  if (!parse_ipv6(p, end, v6)) return std::nullopt;
  return from_ipv6(v6);
}

namespace {

// One octet of k = 1..3 digits at p: the digits shifted into bytes 3-k..2 of a word (leading zeros
// below), then weighted. Bytes after the octet hold garbage (a '.' minus '0' borrows upwards only) and
// are shifted out or masked off. Sets ok to false when k is not 1..3, the octet has a leading zero or
// its value is over 255. No branches: the four octets are computed side by side.
[[gnu::always_inline]] inline uint32_t octet_value(const char* p, uint32_t k, bool& ok) {
  uint32_t w = 0;
  std::memcpy(&w, p, sizeof w);
  w = (w - 0x30303030U) << (((3 - k) & 3) * 8);
  const uint32_t v = (w & 0xff) * 100 + ((w >> 8) & 0xff) * 10 + ((w >> 16) & 0xff);
  ok &= (k - 1 < 3) & ((k == 1) | (p[0] != '0')) & (v <= 255);
  return v;
}

}  // namespace

// A dotted quad of 7..15 bytes in the form inet_pton4 accepts, found with one 16-byte load: four runs of
// 1..3 digits split by three dots, no leading zero, each at most 255. False for anything else (the
// caller then asks parse_ip, which also knows IPv6 and rejects the rest).
bool ip_simd::parse_ipv4_sse2(const char* p, uint32_t n, uint32_t& out) {
  QuadDots q;
  if (!find_quad_dots(p, n, q)) return false;
  const uint32_t d1 = q.d1, d2 = q.d2, d3 = q.d3;
  bool ok = true;
  const uint32_t a = octet_value(p, d1, ok);
  const uint32_t b = octet_value(p + d1 + 1, d2 - d1 - 1, ok);
  const uint32_t c = octet_value(p + d2 + 1, d3 - d2 - 1, ok);
  const uint32_t d = octet_value(p + d3 + 1, n - d3 - 1, ok);
  const uint32_t addr = (a << 24) | (b << 16) | (c << 8) | d;
  if (!ok) return false;
  out = addr;
  return true;
}

bool ip_simd::has_ssse3() {
  static const bool has = __builtin_cpu_supports("ssse3");
  return has;
}

namespace {

// Which of the 48 bytes at p are ':' and which hex digits (either case), one bit each.
void classify_48(const char* p, uint64_t& colons, uint64_t& hex) {
  colons = 0;
  hex = 0;
  for (int i = 0; i < 3; ++i) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i));
    const __m128i lower = _mm_or_si128(b, _mm_set1_epi8(0x20));
    const __m128i digit = _mm_andnot_si128(
        _mm_or_si128(_mm_cmplt_epi8(b, _mm_set1_epi8('0')), _mm_cmpgt_epi8(b, _mm_set1_epi8('9'))),
        _mm_set1_epi8(-1));
    const __m128i letter = _mm_andnot_si128(
        _mm_or_si128(_mm_cmplt_epi8(lower, _mm_set1_epi8('a')), _mm_cmpgt_epi8(lower, _mm_set1_epi8('f'))),
        _mm_set1_epi8(-1));
    const auto shift = static_cast<unsigned>(16 * i);
    colons |= uint64_t{static_cast<uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(b, _mm_set1_epi8(':'))))}
              << shift;
    hex |= uint64_t{static_cast<uint16_t>(_mm_movemask_epi8(_mm_or_si128(digit, letter)))} << shift;
  }
}

// One group of k = 1..4 hex digits at p (already known to be hex digits): each byte's nibble (its low 4
// bits, plus 9 for a letter), shifted so that the digits end at byte 3, then the four nibbles packed.
// Sets ok to false when k is not 1..4.
[[gnu::always_inline]] inline uint64_t group_value(const char* p, size_t k, bool& ok) {
  uint32_t w = 0;
  std::memcpy(&w, p, sizeof w);
  w = ((w & 0x0F0F0F0FU) + ((w >> 6) & 0x01010101U) * 9) << (((4 - k) & 3) * 8);
  w = ((w << 4) | (w >> 8)) & 0x00FF00FFU;  // byte 0: digits 0 and 1, byte 2: digits 2 and 3
  ok &= k - 1 < 4;
  return ((w & 0xff) << 8) | (w >> 16);
}

// IPv6 text of 16..39 bytes made only of hex digits and colons (no embedded IPv4), in the forms
// inet_pton6 accepts: 8 groups of 1..4 digits, or fewer around one "::". The colons are found by SIMD
// compares and each group is read from a 4-byte window, so the branches follow the address's shape
// (mostly the same from one address to the next) rather than each group's length. False for anything
// else: parse_ip decides those. Reads 48 bytes from p (n >= 16 and 32 readable bytes after the text).
bool parse_ipv6_padded(std::string_view text, Ipv6& out) {
  const size_t n = text.size();
  if (n < 16 || n > 39) return false;
  const char* p = text.data();
  uint64_t colons = 0, hex = 0;
  classify_48(p, colons, hex);
  const uint64_t in_text = (uint64_t{1} << n) - 1;
  if (((colons | hex) & in_text) != in_text) return false;
  colons &= in_text;
  std::array<uint64_t, 8> groups{};
  size_t count = 0;
  size_t gap = SIZE_MAX;  // groups before the "::"
  size_t start = 0;
  if (colons & 1) {  // a leading ':' must be half of "::"
    if (!(colons & 2)) return false;
    gap = 0;
    start = 2;
    colons &= ~uint64_t{3};
  }
  bool ok = true;
  for (;;) {
    const size_t end = colons ? static_cast<size_t>(std::countr_zero(colons)) : n;
    if (count == 8) return false;
    groups[count++] = group_value(p + start, end - start, ok);
    if (end == n) break;
    colons &= colons - 1;
    start = end + 1;
    if (colons & (uint64_t{1} << start)) {  // "::"
      if (gap != SIZE_MAX) return false;
      gap = count;
      colons &= colons - 1;
      ++start;
      if (start == n) break;  // trailing "::"
    }
  }
  if (!ok) return false;
  if (gap == SIZE_MAX) {
    if (count != 8) return false;
  } else {
    if (count == 8) return false;  // "::" stands for at least one group
    std::copy_backward(groups.begin() + static_cast<std::ptrdiff_t>(gap),
                       groups.begin() + static_cast<std::ptrdiff_t>(count), groups.end());
    std::fill(groups.begin() + static_cast<std::ptrdiff_t>(gap),
              groups.begin() + static_cast<std::ptrdiff_t>(gap + 8 - count), 0);
  }
  out.hi = (groups[0] << 48) | (groups[1] << 32) | (groups[2] << 16) | groups[3];
  out.lo = (groups[4] << 48) | (groups[5] << 32) | (groups[6] << 16) | groups[7];
  return true;
}

}  // namespace

bool parse_ip_padded(std::string_view text, IpAddress& out) {
  uint32_t v4 = 0;
  const auto n = static_cast<uint32_t>(std::min<size_t>(text.size(), UINT32_MAX));
  static const auto parse_ipv4 = ip_simd::has_ssse3() ? ip_simd::parse_ipv4_ssse3 : ip_simd::parse_ipv4_sse2;
  if (parse_ipv4(text.data(), n, v4)) {
    out = IpAddress{.is_v6 = false, .v4 = v4, .v6 = {}};
    return true;
  }
  Ipv6 v6;
  if (parse_ipv6_padded(text, v6)) {
    out = from_ipv6(v6);
    return true;
  }
  const auto ip = parse_ip(text);
  if (ip) out = *ip;
  return ip.has_value();
}

std::string format_ipv4(uint32_t v4) {
  in_addr a{};
  a.s_addr = htonl(v4);
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

std::string format_ipv6(const Ipv6& v6) {
  in6_addr a{};
  store_be64(v6.hi, a.s6_addr);
  store_be64(v6.lo, a.s6_addr + 8);
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, &a, buf, sizeof buf);
  return buf;
}

size_t format_ip_to(const IpAddress& ip, char* out) {
  if (ip.is_v6) {
    in6_addr a{};
    store_be64(ip.v6.hi, a.s6_addr);
    store_be64(ip.v6.lo, a.s6_addr + 8);
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &a, buf, sizeof buf);
    const size_t n = std::strlen(buf);
    std::memcpy(out, buf, n);
    return n;
  }
  // Dotted quad by hand: the encoder writes one per row.
  char* p = out;
  for (int shift = 24; shift >= 0; shift -= 8) {
    const unsigned octet = (ip.v4 >> shift) & 0xff;
    if (octet >= 100) *p++ = static_cast<char>('0' + octet / 100);
    if (octet >= 10) *p++ = static_cast<char>('0' + octet / 10 % 10);
    *p++ = static_cast<char>('0' + octet % 10);
    if (shift != 0) *p++ = '.';
  }
  return static_cast<size_t>(p - out);
}

std::string format_ip(const IpAddress& ip) {
  return ip.is_v6 ? format_ipv6(ip.v6) : format_ipv4(ip.v4);
}

std::optional<std::string_view> without_zone_id(std::string_view text) {
  const size_t percent = text.find('%');
  if (percent == std::string_view::npos) return text;
  const std::string_view address = text.substr(0, percent);
  const std::string_view zone = text.substr(percent + 1);
  if (address.find(':') == std::string_view::npos || zone.empty() || zone.size() > 64) return std::nullopt;
  for (const char c : zone) {
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                            c == '-' || c == '.' || c == '_' || c == '~';
    if (!unreserved) return std::nullopt;
  }
  return address;
}

}  // namespace enrichd
