// The phase split shared by conv_transpose and fold: operators whose input position i at
// kernel tap k lands on output o = i * stride - padding + k * dilation, per spatial dim.
// Read the other way round, output o gathers only the taps k with k * dilation = o + padding
// (mod stride), so the outputs split by phase (o + padding) mod stride into interleaved grids,
// each a dense gather over a sub-kernel of about k / stride taps.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>

#include "tensor_check.h"

namespace hup {
namespace detail {

// One spatial dim of a phase: the outputs o with (o + padding) mod stride == residue. Output
// o = stride * Q + residue - padding reads taps k = first_tap + m * tap_stride (m < taps) at
// input Q + base - m * tap_step. Independent of the input's size.
struct AxisTaps {
    int64_t residue = 0, first_tap = 0, taps = 0, tap_stride = 1, base = 0, tap_step = 1;
};

inline AxisTaps axis_taps(int64_t stride, int64_t dilation, int64_t kernel, int64_t residue) {
    AxisTaps a;
    a.residue = residue;
    // k * dilation = residue (mod stride) has a solution iff gcd(stride, dilation) divides the
    // residue; the solutions then repeat every stride / gcd taps, and each moves the input by
    // dilation / gcd.
    const int64_t g = std::gcd(stride, dilation);
    a.tap_stride = stride / g;
    a.tap_step = dilation / g;
    for (a.first_tap = 0; a.first_tap < std::min(kernel, a.tap_stride); a.first_tap++) {
        if ((residue - a.first_tap * dilation) % stride == 0) break;
    }
    if (a.first_tap >= std::min(kernel, a.tap_stride)) return a;  // no tap lands on this phase
    a.taps = (kernel - 1 - a.first_tap) / a.tap_stride + 1;
    a.base = (residue - a.first_tap * dilation) / stride;  // exact
    return a;
}

// Where a phase's outputs lie for one output size: o = first + stride * q, q < count, with
// input q + in_offset - m * tap_step.
struct AxisGrid {
    int64_t first = 0, count = 0, in_offset = 0;
};

inline AxisGrid axis_grid(int64_t stride, int64_t padding, int64_t out_size, const AxisTaps &a) {
    const int64_t q_lo = floor_div(padding - a.residue + stride - 1, stride);
    const int64_t q_hi = floor_div(out_size - 1 + padding - a.residue, stride);
    return AxisGrid{stride * q_lo + a.residue - padding, std::max<int64_t>(q_hi - q_lo + 1, 0), q_lo + a.base};
}

}  // namespace detail
}  // namespace hup
