// max_unpool's index checks (runtime/pool.cpp), in vectors, which the tests compare with plain
// loops: the lowest and highest of `count` contiguous int64 indices, folded into *lo and *hi
// (AVX-512 or AVX2: call only where the CPU has the instructions); and whether a row of
// windows of 2 (stride 2, no padding) that tile an output of (even) width `width`, and in 3-D
// of slices of `slice` = H * W elements (2-D: 0), each hold their own index,
// base + 2x + {0, 1} + {0, width} (+ {0, slice}) for input x of the row, writing each index's
// corner of its window to corners[x] (where all are inside): bit 0 for the far column, bit 1
// the far row, bit 2 the far slice. With `streaming_stores` the AVX-512 form writes the corners
// with non-temporal stores (the caller then fences before they are read on another thread).
#pragma once

#include <cstdint>

namespace hup {
namespace detail {

void dense_index_span_avx512(const int64_t *row, int64_t count, int64_t *lo, int64_t *hi);
void dense_index_span_avx2(const int64_t *row, int64_t count, int64_t *lo, int64_t *hi);
bool row_window_corners_avx512(const int64_t *row, int64_t count, int64_t base, int64_t width, int64_t slice,
                               uint8_t *corners, bool streaming_stores = false);
bool row_window_corners(const int64_t *row, int64_t count, int64_t base, int64_t width, int64_t slice, uint8_t *corners);

}  // namespace detail
}  // namespace hup
