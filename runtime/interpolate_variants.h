// The AOT interpolate variants. Every variant has the same signature, so the wrapper picks one
// from a table that CMake generates from the list of variants it builds.
#pragma once

#include "HalideRuntime.h"
#include "resample_plan.h"

namespace hup {
namespace detail {

using InterpolateKernel = int (*)(const void *user_context, halide_buffer_t *in, halide_buffer_t *tap_start,
                                  halide_buffer_t *tap_count, halide_buffer_t *tap_weight,
                                  float slope_x, float lo_offset_x, float hi_offset_x,
                                  float slope_y, float lo_offset_y, float hi_offset_y,
                                  float slope_z, float lo_offset_z, float hi_offset_z,
                                  int32_t rows_per_tile, int32_t x_step_num, int32_t x_step_den,
                                  int32_t x_offset, int32_t x_taps_in_range, halide_buffer_t *out);

// taps: 1, 2, 4, or 0 for a run-time tap count; y_first: 2-D planar with the H pass first;
// channel_blocks: its W pass on blocks of channels (needs C and W_out >= the block, 8);
// direct: 2-D planar, no intermediate (every pass inlined into the output).
// Returns null when no such variant is built.
InterpolateKernel find_interpolate_kernel(int taps, int spatial_rank, bool channels_last, bool y_first = false,
                                          bool channel_blocks = false, bool direct = false);

// Calls `kernel` on `in` and `out` with `plan`'s tap tables (for `spatial_rank` axes) as
// Halide buffers; returns the pipeline's result code. `gpu`: a GPU variant, which copies the
// tables to the device (and this frees those copies).
int run_interpolate_kernel(InterpolateKernel kernel, const void *user_context, halide_buffer_t *in,
                           const ResamplePlan &plan, int spatial_rank, int32_t rows_per_tile, halide_buffer_t *out,
                           bool gpu = false);

}  // namespace detail
}  // namespace hup
