#pragma once
// Element-wise ops: each records its dispatches into a Recorder; nothing runs until run().
// Outputs first, then inputs (STYLE.md).
#include "ops/tensor.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

void fill(vk::Recorder& rec, Tensor& out, float value);
void convert(vk::Recorder& rec, Tensor& out, const Tensor& in);  // any dtype to any dtype
// How copy moves bytes: a transfer command (vkCmdCopyBuffer) or the copy2d kernel; automatic
// picks the one measured faster on the device's kind (the kernel on GPUs).
enum class CopyPath { automatic, transfer, kernel };
void copy(vk::Recorder& rec, Tensor& out, const Tensor& in,  // same dtype and size
          CopyPath path = CopyPath::automatic);
// out[r, c] = in[r, c] for a rows x cols block, each with its own row stride (elements).
void copy_block(vk::Recorder& rec, Tensor& out, uint64_t out_first, uint64_t out_ld,
                const Tensor& in, uint64_t in_first, uint64_t in_ld, uint32_t rows,
                uint32_t cols);
void add(vk::Recorder& rec, Tensor& out, const Tensor& a, const Tensor& b);
void mul(vk::Recorder& rec, Tensor& out, const Tensor& a, const Tensor& b);
void scale(vk::Recorder& rec, Tensor& out, const Tensor& a, float s);

}  // namespace vktrain::ops
