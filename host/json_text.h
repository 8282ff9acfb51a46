// The scalar readers under the event parser (host/event_parser.cpp, its only user): keys, strings and
// unsigned integers read straight from a message's text where simdjson On-Demand would copy, unescape
// or loop byte by byte, plus the key comparisons of the field lookup. Each reads a bounded number of
// bytes past the text it is given, which RawBatch::kPadding (64 bytes after every message) covers; the
// comments say how many. Values outside the fast forms are left to simdjson, which gives the exact
// value or error.
#pragma once

#include <emmintrin.h>
#include <simdjson.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace enrichd::json_text {

using simdjson::error_code;
namespace od = simdjson::ondemand;

inline uint64_t load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint32_t load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint16_t load16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline bool is_json_space(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

// Whether a string has a backslash, 16 bytes at a time (SSE2, in every x86-64); a call to memchr per
// string cost more than the scan. Reads up to 15 bytes past the end: the message's padding.
[[gnu::always_inline]] inline bool has_backslash(std::string_view text) {
  const __m128i backslash = _mm_set1_epi8('\\');
  for (size_t i = 0; i < text.size(); i += 16) {
    auto hits = static_cast<uint32_t>(_mm_movemask_epi8(
        _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(text.data() + i)), backslash)));
    if (text.size() - i < 16) hits &= (1U << (text.size() - i)) - 1;
    if (hits != 0) return true;
  }
  return false;
}

// How many of the 16 bytes at p are decimal digits before the first that is not.
[[gnu::always_inline]] inline size_t leading_digits(const char* p) {
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i not_digit =
      _mm_or_si128(_mm_cmplt_epi8(bytes, _mm_set1_epi8('0')), _mm_cmpgt_epi8(bytes, _mm_set1_epi8('9')));
  return static_cast<size_t>(
      std::countr_zero(static_cast<uint32_t>(_mm_movemask_epi8(not_digit)) | 0x10000U));
}

// The value of 8 digits (first digit in the lowest byte, '0' already subtracted from each), SWAR.
[[gnu::always_inline]] inline uint64_t eight_digits(uint64_t v) {
  v = v * 10 + (v >> 8);
  return (((v & 0x000000FF000000FF) * (100 + (1000000ULL << 32))) +
          (((v >> 16) & 0x000000FF000000FF) * (1 + (10000ULL << 32)))) >>
         32;
}

// A JSON unsigned integer token of 1..19 digits without a leading zero (every such value fits 64 bits),
// read without a loop: its length by SIMD compares, its value by SWAR. A byte loop mispredicted at the
// end of every number whose length varies (ids). False for any other token (negative, fraction,
// exponent, 20 digits, invalid): the caller asks simdjson, which gives the value or the exact error.
// Reads up to 32 bytes from the token: inside the message and its padding.
[[gnu::always_inline]] inline bool fast_u64(std::string_view token, uint64_t& out) {
  const char* p = token.data();
  size_t n = leading_digits(p);
  if (n == 16) n += leading_digits(p + 16);
  if (n == 0 || n > 19 || (n > 1 && p[0] == '0')) return false;
  for (size_t i = n; i < token.size(); ++i) {  // only spaces may follow the digits in the token
    if (!is_json_space(token[i])) return false;
  }
  constexpr uint64_t kZeros = 0x3030303030303030;
  // The first 1..8 digits: shifted up so that the bytes after them drop out (their borrows only go up).
  const auto head = [&](size_t k) { return eight_digits((load64(p) - kZeros) << (8 * (8 - k))); };
  const auto eight_at = [&](size_t at) { return eight_digits(load64(p + at) - kZeros); };
  if (n <= 8) {
    out = head(n);
  } else if (n <= 16) {
    out = head(n - 8) * 100000000 + eight_at(n - 8);
  } else {
    out = (head(n - 16) * 100000000 + eight_at(n - 16)) * 100000000 + eight_at(n - 8);
  }
  return true;
}

// A string value without escapes is the text between its quotes in the message itself: no copy into the
// parser's string buffer (stage 1 has already checked the UTF-8 and found the closing quote). Strings
// with a backslash, and values that are no string (for the error), go through get_string.
[[gnu::always_inline]] inline error_code read_string(od::value& v, std::string_view& out) {
  const std::string_view token = v.raw_json_token();
  size_t n = token.size();
  while (n > 0 && is_json_space(token[n - 1])) --n;
  if (n < 2 || token[0] != '"' || token[n - 1] != '"') return v.get_string().get(out);
  const std::string_view text(token.data() + 1, n - 2);
  if (has_backslash(text)) return v.get_string().get(out);
  out = text;
  return simdjson::SUCCESS;
}

// A key without escapes, read in place like read_string; a key with a backslash is unescaped. The end is
// found 16 bytes at a time (SSE2, in every x86-64): a byte loop mispredicted on every key length.
[[gnu::always_inline]] inline error_code read_key(od::field& field, std::string_view& out) {
  const char* text = field.key().raw();  // just after the opening quote; stage 1 found the closing one
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  for (size_t n = 0;; n += 16) {
    // In bounds: the closing quote lies ahead and the message is followed by RawBatch::kPadding bytes.
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text + n));
    const auto stops = static_cast<uint32_t>(
        _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(bytes, quote), _mm_cmpeq_epi8(bytes, backslash))));
    if (stops != 0) {
      const size_t end = n + static_cast<size_t>(std::countr_zero(stops));
      if (text[end] == '\\') return field.unescaped_key().get(out);
      out = std::string_view(text, end);
      return simdjson::SUCCESS;
    }
  }
}

// a == b for keys, inline for up to 16 bytes (two overlapping loads, never past either end): JSON keys
// are short, and a call to memcmp per candidate key cost ~5 % of the parse.
[[gnu::always_inline]] inline bool key_equal(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  if (n != b.size()) return false;
  const char* x = a.data();
  const char* y = b.data();
  if (n >= 8) {
    if (n > 16) return std::memcmp(x, y, n) == 0;
    return load64(x) == load64(y) && load64(x + n - 8) == load64(y + n - 8);
  }
  if (n >= 4) return load32(x) == load32(y) && load32(x + n - 4) == load32(y + n - 4);
  if (n >= 2) return load16(x) == load16(y) && load16(x + n - 2) == load16(y + n - 2);
  return n == 0 || x[0] == y[0];
}

// Whether the raw key text at `raw` (just after its opening quote) is `key`: its bytes, then the closing
// quote (which is the closing one: `key` has no backslash). Reads key.size() + 1 bytes, inside the
// message and its padding.
[[gnu::always_inline]] inline bool raw_key_is(const char* raw, std::string_view key) {
  return key_equal(std::string_view(raw, key.size()), key) && raw[key.size()] == '"';
}

}  // namespace enrichd::json_text
