// max_unpool's index checks (runtime/pool.cpp), in vectors, which the tests compare with plain
// loops: the lowest and highest of `count` contiguous int64 indices, folded into *lo and *hi
// (AVX-512 or AVX2: call only where the CPU has the instructions); and whether a row of 2x2
// windows (stride 2, no padding) that tile an output of width `width` each hold their own
// index, base + 2x + {0, 1, width, width + 1} for input x of the row.
#pragma once

#include <cstdint>

namespace hup {
namespace detail {

void dense_index_span_avx512(const int64_t *row, int64_t count, int64_t *lo, int64_t *hi);
void dense_index_span_avx2(const int64_t *row, int64_t count, int64_t *lo, int64_t *hi);
bool row_in_windows_avx512(const int64_t *row, int64_t count, int64_t base, int64_t width);
bool row_in_windows(const int64_t *row, int64_t count, int64_t base, int64_t width);

}  // namespace detail
}  // namespace hup
