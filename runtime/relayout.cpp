#include "relayout.h"

#include <cstdint>

#include "hup_relayout_r1.h"
#include "hup_relayout_r2.h"
#include "hup_relayout_r3.h"
#include "tensor_check.h"

namespace hup {
namespace detail {

std::vector<int64_t> channels_last_strides(const std::vector<int64_t> &sizes) {
    std::vector<int64_t> strides(sizes.size(), 1);
    int64_t stride = sizes[1];
    for (size_t d = sizes.size() - 1; d >= 2; d--) {
        strides[d] = stride;
        stride *= sizes[d];
    }
    strides[0] = stride;
    return strides;
}

bool dense_channels_last(const TensorView &t) {
    const std::vector<int64_t> strides = strides_of(t), dense = channels_last_strides(t.sizes);
    for (size_t d = 0; d < t.sizes.size(); d++) {
        if (t.sizes[d] > 1 && strides[d] != dense[d]) return false;
    }
    return true;
}

TensorView channels_last_tensor(const std::vector<int64_t> &sizes, std::unique_ptr<float[]> *storage) {
    TensorView t;
    t.sizes = sizes;
    t.strides = channels_last_strides(sizes);
    t.data = aligned_floats(element_count(sizes), storage);
    return t;
}

namespace {
// `t` with its spatial dims merged into one of their product and innermost stride.
TensorView merged_spatial(const TensorView &t) {
    const std::vector<int64_t> strides = strides_of(t);
    TensorView merged = t;
    merged.sizes = {t.sizes[0], t.sizes[1], element_count(t.sizes) / (t.sizes[0] * t.sizes[1])};
    merged.strides = {strides[0], strides[1], strides.back()};
    return merged;
}
}  // namespace

Status relayout(const TensorView &src, const TensorView &dst) {
    using Kernel = int (*)(const void *, halide_buffer_t *, halide_buffer_t *);
    static const Kernel kernels[] = {hup_relayout_r1, hup_relayout_r2, hup_relayout_r3};
    // Whole planes in both tensors are one dim of positions: the transpose's blocks then run
    // along whole planes instead of rows, which at 8 or 4 positions a row are narrower than
    // a vector (and take the kernel's slow, bounded-block path), and rows of 128 or more
    // leave more lines open at once (1x64x128x128 back to planar: 0.23 against 0.09 ms).
    const bool merge = src.sizes.size() > 3 && element_count(src.sizes) > 0 &&
                       element_count(src.sizes) / (src.sizes[0] * src.sizes[1]) <= INT32_MAX &&  // a Halide extent
                       spatial_dims_nest(src) && spatial_dims_nest(dst);
    const TensorView from = merge ? merged_spatial(src) : src, to = merge ? merged_spatial(dst) : dst;
    HalideView in, out;
    make_halide_view(from, &in);
    make_halide_view(to, &out);
    return run_pipeline("relayout", [&](void *user_context) {
        return kernels[from.sizes.size() - 3](user_context, &in.buffer, &out.buffer);
    });
}

}  // namespace detail
}  // namespace hup
