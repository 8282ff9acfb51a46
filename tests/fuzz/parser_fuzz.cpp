// Fuzz target for the event parser (and the row encoder after it): the input is split into messages at
// 0x1E (record separator) bytes, parsed as one batch, and checked for what must hold on ANY input:
//   - every message ends up exactly once, as an event or as a dead letter with its exact bytes;
//   - events come out in input order and have valid fields (ts in range, IP re-formats and re-parses);
//   - the encoder writes one line per event with every field, escaping whatever the strings hold;
//   - parsed again with the ip, ts and action keys read as [[schema.extra]] columns of type ip, timestamp and
//     enum, the same accounting holds, and present values are valid (address re-formats and re-parses,
//     time in range, code in the dictionary or the unknown code with the text).
// Built as a libFuzzer target with -DENRICHD_FUZZ=ON (clang); the suite replays the seed corpus and
// seeded mutations of it through the same function (fuzz_smoke.cpp).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "host/category_table.h"
#include "host/event_parser.h"
#include "host/geo_table.h"
#include "host/row_encoder.h"

namespace {

[[noreturn]] void fail(const char* what, size_t i) {
  std::fprintf(stderr, "parser_fuzz: invariant broken: %s (message %zu)\n", what, i);
  std::abort();
}

// The engagement keys ip, ts and action read by extra columns of those names (the fixed ones dropped), so
// that the seeds and their mutations reach the extra columns' readers and the dropped-column path.
enrichd::EventSchema extra_types_schema() {
  using namespace enrichd;
  EventSchema s = default_event_schema();
  for (const SchemaColumn c : {SchemaColumn::kIp, SchemaColumn::kTs, SchemaColumn::kAction}) s[c].drop = true;
  const auto extra = [](const char* name, ExtraType type) {
    ExtraField e;
    e.name = e.path = name;
    e.type = type;
    return e;
  };
  s.extra = {extra("ip", ExtraType::kIp), extra("ts", ExtraType::kTimestamp),
             extra("action", ExtraType::kEnum)};
  s.extra[2].values = {"view", "click", "save", "hide"};
  return s;
}

}  // namespace

// Totals over every call, so that the smoke test can show it reached both outcomes.
size_t g_fuzz_events = 0;
size_t g_fuzz_dead_letters = 0;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace enrichd;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> messages;
  size_t start = 0;
  for (size_t i = 0; i <= input.size(); ++i) {
    if (i == input.size() || input[i] == '\x1e') {
      messages.push_back(input.substr(start, i - start));
      start = i + 1;
    }
  }
  RawBatch raw;
  for (size_t i = 0; i < messages.size(); ++i) raw.add(messages[i], {0, static_cast<int64_t>(i)});

  static EventParser parser(ParserOptions{.max_message_bytes = 4096});
  EventBatch batch;
  std::vector<DeadLetter> dead;
  parser.parse(raw, batch, dead);
  g_fuzz_events += batch.size();
  g_fuzz_dead_letters += dead.size();

  if (batch.size() + dead.size() != messages.size()) fail("events + dead letters != messages", 0);
  std::vector<int> seen(messages.size(), 0);
  int64_t last_offset = -1;
  for (size_t row = 0; row < batch.size(); ++row) {
    const auto offset = static_cast<size_t>(batch.position[row].offset);
    if (batch.position[row].offset <= last_offset) fail("events out of order", offset);
    last_offset = batch.position[row].offset;
    ++seen[offset];
    if (batch.ts_ms[row] < 0 || batch.ts_ms[row] > kMaxTimestampMs) fail("ts out of range", offset);
    const auto again = parse_ip(format_ip(batch.ip[row]));
    if (!again || !(*again == batch.ip[row])) fail("IP does not survive format + parse", offset);
  }
  for (const DeadLetter& d : dead) {
    const auto offset = static_cast<size_t>(d.position.offset);
    if (offset >= messages.size()) fail("dead letter names no message", offset);
    ++seen[offset];
    if (d.payload != messages[offset]) fail("dead letter lost bytes of its payload", offset);
  }
  for (size_t i = 0; i < seen.size(); ++i) {
    if (seen[i] != 1) fail("message not accounted for exactly once", i);
  }

  static const GeoTable geo;
  static const CategoryTable categories;
  std::string out;
  encode_rows(batch, geo, categories, out);
  size_t lines = 0, tabs = 0;
  for (char c : out) {
    lines += c == '\n' ? 1 : 0;
    tabs += c == '\t' ? 1 : 0;
  }
  if (lines != batch.size()) fail("encoder line count", 0);
  if (tabs != batch.size() * (kOutputColumns.size() - 1)) fail("encoder field count", 0);

  static const EventSchema extra_schema = extra_types_schema();
  if (!check_event_schema(extra_schema)) fail("extra schema refused by check_event_schema", 0);
  static EventParser extra_parser(ParserOptions{.max_message_bytes = 4096, .schema = extra_schema});
  EventBatch extra_batch;
  dead.clear();
  extra_parser.parse(raw, extra_batch, dead);
  if (extra_batch.size() + dead.size() != messages.size()) fail("extra schema: events + dead letters", 0);
  if (extra_batch.extra.size() != 3) fail("extra schema: columns", 0);
  const ExtraColumn& ip = extra_batch.extra[0];
  const ExtraColumn& ts = extra_batch.extra[1];
  const ExtraColumn& action = extra_batch.extra[2];
  for (size_t row = 0; row < extra_batch.size(); ++row) {
    if (ip.ip.size() != extra_batch.size()) fail("extra ip: one address a row", row);
    if (ip.present[row]) {
      const auto again = parse_ip(format_ip(ip.ip[row]));
      if (!again || !(*again == ip.ip[row])) fail("extra ip does not survive format + parse", row);
    }
    const auto ms = static_cast<int64_t>(ts.bits[row]);
    if (ts.present[row] && (ms < 0 || ms > kMaxTimestampMs)) fail("extra timestamp out of range", row);
    if (action.present[row] && action.bits[row] != kUnknownEnumCode &&
        (action.bits[row] >= 4 || extra_schema.extra[2].values[action.bits[row]] != action.str[row])) {
      fail("extra enum code is not the value's index", row);
    }
  }
  // The rows leave the three dropped columns out and add the three extras: as many fields as the default.
  out.clear();
  encode_rows(extra_batch, geo, categories, out, {},
              RowLayout{.dropped_columns = extra_schema.dropped_columns()});
  lines = 0;
  tabs = 0;
  for (char c : out) {
    lines += c == '\n' ? 1 : 0;
    tabs += c == '\t' ? 1 : 0;
  }
  if (lines != extra_batch.size()) fail("extra schema: encoder line count", 0);
  if (tabs != extra_batch.size() * (kOutputColumns.size() - 1)) fail("extra schema: encoder field count", 0);
  return 0;
}
