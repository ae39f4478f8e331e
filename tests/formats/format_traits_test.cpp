// Tests of the format traits table: lookups and block layouts against hand-computed sizes.
#include "formats/format_traits.h"

#include <gtest/gtest.h>

#include <set>

namespace quantlm::formats {
namespace {

TEST(FormatTraits, LooksUpByIdAndName) {
  const FormatTraits* q4 = find_format(2U);
  ASSERT_NE(q4, nullptr);
  EXPECT_EQ(q4->name, "Q4_0");
  EXPECT_EQ(find_format("q4_0"), q4);
  EXPECT_EQ(find_format(4U), nullptr) << "id 4 was retired by ggml and must stay unknown";
  EXPECT_EQ(find_format(9999U), nullptr);
  EXPECT_EQ(find_format("Q9_9"), nullptr);
}

TEST(FormatTraits, BitsPerWeightMatchHandComputedLayouts) {
  // Q4_0: fp16 scale + 16 bytes of nibbles per 32 weights = 4.5 bpw.
  EXPECT_DOUBLE_EQ(traits(FormatId::Q4_0).bits_per_weight(), 4.5);
  // Q4_K: 2+2 (d, dmin) + 12 (6-bit scales) + 128 (nibbles) per 256 = 4.5 bpw.
  EXPECT_DOUBLE_EQ(traits(FormatId::Q4_K).bits_per_weight(), 4.5);
  // Q6_K: 128 + 64 + 16 + 2 = 210 bytes per 256 = 6.5625 bpw.
  EXPECT_DOUBLE_EQ(traits(FormatId::Q6_K).bits_per_weight(), 6.5625);
  // TQ1_0: 48 + 4 + 2 = 54 bytes per 256 = 1.6875 bpw.
  EXPECT_DOUBLE_EQ(traits(FormatId::TQ1_0).bits_per_weight(), 1.6875);
  EXPECT_DOUBLE_EQ(traits(FormatId::BF16).bits_per_weight(), 16.0);
}

TEST(FormatTraits, TableIsConsistent) {
  std::set<std::string_view> names;
  for (const FormatTraits& t : all_formats()) {
    EXPECT_TRUE(names.insert(t.name).second) << t.name;
    EXPECT_GT(t.block_elems, 0);
    EXPECT_GT(t.block_bytes, 0);
    EXPECT_EQ(find_format(static_cast<std::uint32_t>(t.id)), &t);
    EXPECT_EQ(t.storage().format_id, static_cast<std::uint32_t>(t.id));
  }
}

}  // namespace
}  // namespace quantlm::formats
