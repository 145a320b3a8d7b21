#include <gtest/gtest.h>

#include "data/examples.hpp"
#include "support/support.hpp"

using namespace vktrain;
using data::Example;

namespace examples_test {
namespace {
const std::string kData = std::string(VKTRAIN_FIXTURES) + "/data/";
}

TEST(Examples, DetectsTheFormatPerLine) {
  auto examples = data::read_examples(kData + "mixed.jsonl");
  ASSERT_EQ(examples.size(), 3u);
  EXPECT_EQ(examples[0].kind, Example::Kind::text);
  EXPECT_EQ(examples[0].text, "Plain text for pre-training.");
  EXPECT_EQ(examples[1].kind, Example::Kind::prompt_completion);
  EXPECT_EQ(examples[1].line, 3u);  // the blank line 2 is skipped, the numbering is not
  EXPECT_EQ(examples[1].completion, "4");
  EXPECT_EQ(examples[2].kind, Example::Kind::chat);
  ASSERT_EQ(examples[2].messages.size(), 3u);
  EXPECT_EQ(examples[2].messages[2].role, "assistant");
  EXPECT_EQ(data::read_examples(kData + "mixed.jsonl", 2).size(), 2u);
}

TEST(Examples, ErrorsNameTheFileAndLine) {
  auto error = [](const std::string& line) {
    return test::error_message([&] { data::parse_example(line, "train.jsonl", 7); });
  };
  EXPECT_NE(test::error_message([] { data::read_examples(kData + "malformed.jsonl"); })
                .find("malformed.jsonl:2: not valid JSON"),
            std::string::npos);
  EXPECT_EQ(error("[1, 2]"), "[data] train.jsonl:7: each line must be a JSON object");
  // Was a stack overflow (issue 14).
  EXPECT_NE(error(std::string(100000, '[') + std::string(100000, ']'))
                .find("[data] train.jsonl:7: JSON nested deeper than 256"),
            std::string::npos);
  EXPECT_EQ(error(R"({"prompt": "a"})"), "[data] train.jsonl:7: the example lacks \"completion\"");
  EXPECT_EQ(error(R"({"text": 5})"), "[data] train.jsonl:7: the example \"text\" is not a string");
  EXPECT_EQ(error(R"({"messages": []})"), "[data] train.jsonl:7: \"messages\" must be a non-empty list");
  EXPECT_EQ(error(R"({"messages": [{"role": "robot", "content": "x"}]})"),
            "[data] train.jsonl:7: message 1 has role \"robot\"; use system, user, assistant or tool");
  EXPECT_EQ(error(R"({"messages": [{"role": "user"}]})"),
            "[data] train.jsonl:7: message 1 lacks \"content\"");
  EXPECT_EQ(error(R"({"input": "x"})"),
            "[data] train.jsonl:7: expected \"text\", \"prompt\"/\"completion\", \"messages\" or \"conversations\"");
  EXPECT_NE(test::error_message([] { data::read_examples("/nonexistent.jsonl"); }).find("cannot open"),
            std::string::npos);
}

}  // namespace examples_test
