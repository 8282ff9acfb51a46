// Event times as epoch milliseconds (UTC), from the forms events carry them in: epoch numbers in a
// configured unit, or RFC 3339 / ISO 8601 extended date-time strings with an offset.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace enrichd {

enum class EpochUnit { kSeconds, kMilliseconds, kMicroseconds, kNanoseconds };

// "s", "ms", "us" or "ns".
std::optional<EpochUnit> parse_epoch_unit(std::string_view name);
// The name parse_epoch_unit reads.
std::string_view to_string(EpochUnit unit);

// An integer epoch value in `unit` as milliseconds (sub-millisecond parts truncated toward negative
// infinity); nullopt when it does not fit.
std::optional<int64_t> epoch_to_ms(int64_t value, EpochUnit unit);
// A fractional epoch value (e.g. 1700000000.123 seconds) as milliseconds, truncated; nullopt when not
// finite or out of range.
std::optional<int64_t> epoch_to_ms(double value, EpochUnit unit);

// "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)": RFC 3339 (also 't'/'z' and a space for 'T', an
// offset without colon "+0100", and no offset meaning UTC). The fraction may have 1-9 digits and is
// truncated to milliseconds; second 60 (a leap second) counts as the next minute's second 0. Anything
// else (impossible dates, 24:00, missing parts, trailing text) is nullopt.
std::optional<int64_t> parse_datetime_ms(std::string_view text);

}  // namespace enrichd
