// max_unpool's index check (runtime/pool.cpp): the lowest and highest of `count` contiguous
// int64 indices, folded into *lo and *hi, in AVX-512 or AVX2 vectors. Call only where the CPU
// has the instructions; the tests compare each with a plain loop.
#pragma once

#include <cstdint>

namespace hup {
namespace detail {

void dense_index_span_avx512(const int64_t *row, int64_t count, int64_t *lo, int64_t *hi);
void dense_index_span_avx2(const int64_t *row, int64_t count, int64_t *lo, int64_t *hi);

}  // namespace detail
}  // namespace hup
