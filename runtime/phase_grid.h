// The phase split shared by conv_transpose and fold: operators whose input position i at
// kernel tap k lands on output o = i * stride - padding + k * dilation, per spatial dim.
// Read the other way round, output o gathers only the taps k with k * dilation = o + padding
// (mod stride), so the outputs split by phase (o + padding) mod stride into interleaved grids,
// each a dense gather over a sub-kernel of about k / stride taps.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

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

// A run of a phase's grid points q0 .. q0 + count - 1 along one dim whose in-range taps are the
// same, m_lo .. m_hi (none when m_lo > m_hi): input q + in_offset - m * tap_step lies in
// [0, in_size) exactly for those. The interior is one run; near the borders a few grid points
// miss some taps (they would read the zero padding).
struct TapRun {
    int64_t q0 = 0, count = 0, m_lo = 0, m_hi = -1;
};

inline std::vector<TapRun> tap_runs(const AxisGrid &grid, const AxisTaps &a, int64_t in_size) {
    std::vector<TapRun> runs;
    for (int64_t q = 0; q < grid.count; q++) {
        const int64_t reach = q + grid.in_offset;  // the input that tap 0 reads
        const int64_t m_lo = std::max<int64_t>(0, floor_div(reach - in_size, a.tap_step) + 1);
        const int64_t m_hi = std::min<int64_t>(a.taps - 1, floor_div(reach, a.tap_step));
        if (!runs.empty() && runs.back().m_lo == m_lo && runs.back().m_hi == m_hi) {
            runs.back().count++;
        } else {
            runs.push_back(TapRun{q, 1, m_lo, m_hi});
        }
    }
    return runs;
}

}  // namespace detail
}  // namespace hup
