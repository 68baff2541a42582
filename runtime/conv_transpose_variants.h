// The AOT conv_transpose variants (one output phase each; see generators/). Every variant has
// the same signature, so the wrapper picks one from a table that CMake generates.
#pragma once

#include "HalideRuntime.h"

namespace hup {
namespace detail {

using ConvTransposeKernel = int (*)(const void *user_context, halide_buffer_t *in, halide_buffer_t *weight,
                                    halide_buffer_t *bias, int32_t in_offset_x, int32_t tap_step_x,
                                    int32_t in_offset_y, int32_t tap_step_y, int32_t in_offset_z,
                                    int32_t tap_step_z, halide_buffer_t *out);

// What a variant's register tiles hold (see schedules/conv_transpose_schedule.h), with AVX2's
// 8-float vectors: 16 output channels (2 vectors) x 6 positions (Channels); for rows of 4 or 8,
// 24 channels x 4 positions (Short) or 16 x 4 (Short16, where 24-channel tiles would mostly
// compute padding). With AVX-512's 16-float vectors: 16 x 8, and 16 x 4 x 2 rows for both
// short tilings (they differ in their tasks' rows). Otherwise: position vectors x 3 output
// channels (Positions; with AVX-512, 2 vectors x 4 rows in 2-D and 3-D); input-channel vectors, 4 positions x 3 output
// channels of them (InputChannels, weights packed input-channel innermost); or one channel per
// group (Depthwise).
enum class ConvTransposeTiles { Channels, Short, Short16, Positions, InputChannels, Depthwise };

// Returns null when no such variant is built.
ConvTransposeKernel find_conv_transpose_kernel(int spatial_rank, bool channels_last, ConvTransposeTiles tiles);

}  // namespace detail
}  // namespace hup
