#include <gtest/gtest.h>

#include "kernels/registry.hpp"
#include "ops/dispatch.hpp"
#include "support/support.hpp"

using namespace vktrain;

// The bf16 cooperative-matrix probe (src/kernels/probes/coopmat_bf16.comp) run as a kernel:
// C = A B for 16 x 16 bfloat16_t A and B and f32 C, against the host product of the same bf16
// values. Products of bf16 values are exact in f32, so only the f32 summation order differs.
TEST(CoopmatBf16, SixteenCubedProductMatchesHost) {
  auto& ctx = test::context();
  const auto& caps = ctx.caps();
  if (!caps.coopmat_bf16 || !caps.has_coopmat_khr(VK_COMPONENT_TYPE_BFLOAT16_KHR,
                                                  VK_COMPONENT_TYPE_FLOAT32_KHR, 16, 16, 16))
    GTEST_SKIP() << "'" << caps.name
                 << "' lists no 16x16x16 bf16 x bf16 -> f32 subgroup cooperative matrix "
                    "(VK_KHR_shader_bfloat16 shaderBFloat16CooperativeMatrix)";
  if (!kernels::find("coopmat_bf16_check"))
    GTEST_SKIP() << "this build's glslc cannot build bf16 cooperative matrices "
                    "(VKTRAIN_HAVE_COOPMAT_BF16 is off): run scripts/setup and reconfigure";

  constexpr int n = 16;
  auto a_values = test::random_values(n * n, 1, DType::bf16);
  auto b_values = test::random_values(n * n, 2, DType::bf16);
  Tensor a = test::tensor_with({n, n}, DType::bf16, a_values, "a");
  Tensor b = test::tensor_with({n, n}, DType::bf16, b_values, "b");
  Tensor c = make_tensor(ctx, DType::f32, {n, n}, "c");

  // One subgroup is the whole workgroup: the subgroup size is the local size (spec constant 0).
  uint32_t subgroup = caps.subgroup_size;
  VkPipeline p = ops::pipeline(ctx, "coopmat_bf16_check", {subgroup},
                               caps.subgroup_size_control ? subgroup : 0);
  struct {
    uint64_t a, b, c;
  } push{locate(a, 0).address(), locate(b, 0).address(), locate(c, 0).address()};
  vk::Recorder rec(ctx);
  rec.dispatch("coopmat_bf16_check", p, &push, sizeof push, 1, 1, 1,
               {ops::piece_range(a, locate(a, 0), n * n), ops::piece_range(b, locate(b, 0), n * n)},
               {ops::piece_range(c, locate(c, 0), n * n)});
  rec.run();

  std::vector<double> want(n * n, 0.0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      for (int k = 0; k < n; ++k)
        want[i * n + j] += double(a_values[i * n + k]) * b_values[k * n + j];
  EXPECT_LT(test::relative_error(read_floats(ctx, c), want), 1e-6);
}
