// The CSV reader used for reference data: quoting rules, line handling and strict number parsing.
#include "host/csv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.h"

namespace enrichd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> split(std::string_view line) {
  std::vector<std::string> f = {"stale"};
  EXPECT_TRUE(split_csv_line(line, f)) << line;
  return f;
}

TEST(SplitCsvLineTest, PlainFields) {
  EXPECT_THAT(split("a,b,c"), ElementsAre("a", "b", "c"));
  EXPECT_THAT(split(""), ElementsAre(""));
  EXPECT_THAT(split(","), ElementsAre("", ""));
  EXPECT_THAT(split(",,"), ElementsAre("", "", ""));
  EXPECT_THAT(split("a,"), ElementsAre("a", ""));
  EXPECT_THAT(split(",a"), ElementsAre("", "a"));
  EXPECT_THAT(split(" a , b "), ElementsAre(" a ", " b "));  // spaces are kept
  EXPECT_THAT(split("a\tb,c"), ElementsAre("a\tb", "c"));
}

TEST(SplitCsvLineTest, QuotedFields) {
  EXPECT_THAT(split("\"a,b\",c"), ElementsAre("a,b", "c"));
  EXPECT_THAT(split("\"\""), ElementsAre(""));
  EXPECT_THAT(split("\"\",\"\""), ElementsAre("", ""));
  EXPECT_THAT(split("\"say \"\"hi\"\"\""), ElementsAre("say \"hi\""));
  EXPECT_THAT(split("\"\"\"\""), ElementsAre("\""));
  EXPECT_THAT(split("\"a\"\"\",b"), ElementsAre("a\"", "b"));
  EXPECT_THAT(split("x,\"1,2,3\",y"), ElementsAre("x", "1,2,3", "y"));
  EXPECT_THAT(split("\"München\",Zürich"), ElementsAre("München", "Zürich"));
  // Quotes in the middle of a field open and close quoting without being kept.
  EXPECT_THAT(split("ab\"c,d\"e,f"), ElementsAre("abc,de", "f"));
}

TEST(SplitCsvLineTest, UnterminatedQuoteIsAnError) {
  std::vector<std::string> f;
  EXPECT_FALSE(split_csv_line("\"abc", f));
  EXPECT_FALSE(split_csv_line("a,\"b,c", f));
  EXPECT_FALSE(split_csv_line("\"", f));
  EXPECT_FALSE(split_csv_line("\"a\"\"", f));  // the escaped quote leaves the field open
}

TEST(SplitCsvLineTest, ClearsPreviousFields) {
  std::vector<std::string> f = {"x", "y", "z"};
  ASSERT_TRUE(split_csv_line("1,2", f));
  EXPECT_THAT(f, ElementsAre("1", "2"));
}

TEST(ParseNumberTest, U64) {
  uint64_t v = 7;
  EXPECT_TRUE(parse_u64("0", v));
  EXPECT_EQ(v, 0U);
  EXPECT_TRUE(parse_u64("18446744073709551615", v));
  EXPECT_EQ(v, UINT64_MAX);
  EXPECT_TRUE(parse_u64("00042", v));
  EXPECT_EQ(v, 42U);
  for (const char* bad : {"", " 1", "1 ", "+1", "-1", "-0", "1a", "0x10", "1.0", "1e3",
                          "18446744073709551616", "99999999999999999999999", " ", "\t1", "1,2"}) {
    uint64_t out = 123;
    EXPECT_FALSE(parse_u64(bad, out)) << "'" << bad << "'";
  }
  EXPECT_FALSE(parse_u64(std::string_view("1\0", 2), v));
}

TEST(ParseNumberTest, U32) {
  uint32_t v = 7;
  EXPECT_TRUE(parse_u32("4294967295", v));
  EXPECT_EQ(v, UINT32_MAX);
  EXPECT_TRUE(parse_u32("0", v));
  EXPECT_EQ(v, 0U);
  for (const char* bad : {"", "4294967296", "18446744073709551615", "-1", "+1", " 1", "1 ", "1.5", "x"}) {
    uint32_t out = 123;
    EXPECT_FALSE(parse_u32(bad, out)) << "'" << bad << "'";
  }
}

TEST(ParseNumberTest, Double) {
  double v = 0;
  EXPECT_TRUE(parse_double("-27.5", v));
  EXPECT_DOUBLE_EQ(v, -27.5);
  EXPECT_TRUE(parse_double("153", v));
  EXPECT_DOUBLE_EQ(v, 153.0);
  EXPECT_TRUE(parse_double("1e-3", v));
  EXPECT_DOUBLE_EQ(v, 0.001);
  EXPECT_TRUE(parse_double("0.1", v));
  EXPECT_EQ(v, 0.1);  // correctly rounded
  EXPECT_TRUE(parse_double("-0", v));
  EXPECT_EQ(v, 0.0);
  // Only finite numbers: a latitude of "nan" or "inf" would reach a DOUBLE column as text it rejects.
  for (const char* bad :
       {"",    " 1.0",  "1.0 ", "1.0x", "+1.0", "1,5", "abc",  ".",        "-",     "1e",
        "--1", "0x1p3", "nan",  "NaN",  "-nan", "inf", "-inf", "infinity", "1e999", "-1e999"}) {
    double out = 9;
    EXPECT_FALSE(parse_double(bad, out)) << "'" << bad << "'";
  }
}

TEST(CsvReaderTest, SkipsCommentsAndBlankLinesAndCountsLines) {
  const std::string path =
      testing_util::write_temp_file("r.csv", "a,b\r\n# comment\n\n\r\nc,\"d,e\"\n  # not a comment\nlast");
  CsvReader r(path);
  ASSERT_TRUE(r.status().is_ok()) << r.status().message();
  std::vector<std::string> f;
  ASSERT_TRUE(r.next(f));
  EXPECT_THAT(f, ElementsAre("a", "b"));
  EXPECT_EQ(r.line(), 1U);
  ASSERT_TRUE(r.next(f));
  EXPECT_THAT(f, ElementsAre("c", "d,e"));
  EXPECT_EQ(r.line(), 5U);
  ASSERT_TRUE(r.next(f));
  EXPECT_THAT(f, ElementsAre("  # not a comment"));
  EXPECT_EQ(r.line(), 6U);
  ASSERT_TRUE(r.next(f));  // the last line has no newline
  EXPECT_THAT(f, ElementsAre("last"));
  EXPECT_EQ(r.line(), 7U);
  EXPECT_FALSE(r.next(f));
  EXPECT_TRUE(r.status().is_ok());
}

TEST(CsvReaderTest, UnterminatedQuoteNamesTheLine) {
  const std::string path = testing_util::write_temp_file("r.csv", "a,b\n\n\"open,c\n");
  CsvReader r(path);
  std::vector<std::string> f;
  ASSERT_TRUE(r.next(f));
  EXPECT_FALSE(r.next(f));
  ASSERT_FALSE(r.status().is_ok());
  EXPECT_THAT(r.status().message(), HasSubstr(path + ":3:"));
  EXPECT_FALSE(r.next(f));  // stays failed
}

TEST(CsvReaderTest, MissingFile) {
  CsvReader r(::testing::TempDir() + "/enrichd_no_such_dir/x.csv");
  ASSERT_FALSE(r.status().is_ok());
  EXPECT_THAT(r.status().message(), HasSubstr("cannot open"));
  std::vector<std::string> f;
  EXPECT_FALSE(r.next(f));
}

TEST(StatusTest, OkErrorAndContext) {
  const Status ok = Status::ok();
  EXPECT_TRUE(ok.is_ok());
  EXPECT_EQ(ok.message(), "ok");
  EXPECT_TRUE(ok.with_context("ctx").is_ok());
  const Status e = Status::errorf("bad {} on line {}", "thing", 3);
  EXPECT_FALSE(e.is_ok());
  EXPECT_EQ(e.message(), "bad thing on line 3");
  EXPECT_EQ(e.with_context("file.csv").message(), "file.csv: bad thing on line 3");
  Result<std::string> r = std::string("five");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(*r, "five");
  EXPECT_EQ(r->size(), 4U);
  EXPECT_TRUE(r.status().is_ok());
  Result<std::string> f = Status::error("nope");
  ASSERT_FALSE(f.is_ok());
  EXPECT_EQ(f.status().message(), "nope");
}

}  // namespace
}  // namespace enrichd
