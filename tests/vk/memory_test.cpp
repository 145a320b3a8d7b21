#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "base/error.hpp"
#include "support/support.hpp"
#include "vk/transfer.hpp"

using namespace vktrain;

TEST(Allocator, SubAllocatesOneBlockAlignedAndReusesFreedSpace) {
  vk::Allocator allocator(test::context().device);
  auto a = allocator.allocate(1000, vk::MemoryKind::device, "a");
  auto b = allocator.allocate(3000, vk::MemoryKind::device, "b");
  ASSERT_EQ(a.spans().size(), 1u);
  ASSERT_EQ(b.spans().size(), 1u);
  EXPECT_EQ(a.spans()[0].block, b.spans()[0].block);
  EXPECT_NE(a.spans()[0].address, b.spans()[0].address);
  EXPECT_EQ(a.spans()[0].address % 256, 0u);
  EXPECT_EQ(b.spans()[0].address % 256, 0u);
  EXPECT_EQ(allocator.stats().in_use, 1024u + 3072u);
  uint64_t reserved = allocator.stats().reserved;
  auto first = a.spans()[0].address;
  a.reset();
  auto c = allocator.allocate(512, vk::MemoryKind::device, "c");
  EXPECT_EQ(c.spans()[0].address, first);  // first fit takes the freed hole
  EXPECT_EQ(allocator.stats().reserved, reserved);
  EXPECT_EQ(allocator.stats().peak_in_use, 1024u + 3072u);
}

TEST(Allocator, SplitsLargeTensorsIntoSpansOfWholeRows) {
  vk::AllocatorOptions options;
  options.max_span = 1 << 20;
  vk::Allocator allocator(test::context().device, options);
  const uint64_t row = 1000, bytes = 3'500'000;
  auto big = allocator.allocate(bytes, vk::MemoryKind::device, "big", row);
  ASSERT_EQ(big.spans().size(), 4u);
  uint64_t total = 0;
  for (size_t i = 0; i < big.spans().size(); ++i) {
    if (i + 1 < big.spans().size()) {
      EXPECT_EQ(big.spans()[i].bytes % row, 0u);
    }
    EXPECT_LE(big.spans()[i].bytes, options.max_span);
    total += big.spans()[i].bytes;
  }
  EXPECT_EQ(total, bytes);
}

TEST(Allocator, OutOfMemoryNamesTheTensorAndLeavesNothingAllocated) {
  vk::Allocator allocator(test::context().device);
  uint64_t before = allocator.stats().in_use;
  try {
    allocator.allocate(uint64_t(1) << 44, vk::MemoryKind::device, "huge weights");
    FAIL() << "16 TiB should not fit";
  } catch (const Error& e) {
    std::string message = e.what();
    EXPECT_NE(message.find("[memory] out of device memory"), std::string::npos) << message;
    EXPECT_NE(message.find("huge weights"), std::string::npos) << message;
  }
  EXPECT_EQ(allocator.stats().in_use, before);
}

class Transfer : public testing::TestWithParam<vk::TransferPath> {};

TEST_P(Transfer, RoundTripsAcrossSpans) {
  vk::ContextOptions options = vk::ContextOptions::from_env();
  options.memory.max_span = 64 << 10;
  vk::Context ctx(options);
  std::vector<uint32_t> data(100'003);
  std::iota(data.begin(), data.end(), 17u);
  auto memory = ctx.allocator.allocate(data.size() * 4, vk::MemoryKind::device, "data", 4);
  ASSERT_GT(memory.spans().size(), 1u);
  vk::upload(ctx, memory, std::as_bytes(std::span(data)), GetParam());
  std::vector<uint32_t> back(data.size());
  vk::download(ctx, memory, std::as_writable_bytes(std::span(back)), GetParam());
  EXPECT_EQ(back, data);
}

INSTANTIATE_TEST_SUITE_P(Paths, Transfer,
                         testing::Values(vk::TransferPath::automatic, vk::TransferPath::staging));
