#include "relayout.h"

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

Status relayout(const TensorView &src, const TensorView &dst) {
    using Kernel = int (*)(const void *, halide_buffer_t *, halide_buffer_t *);
    static const Kernel kernels[] = {hup_relayout_r1, hup_relayout_r2, hup_relayout_r3};
    HalideView in, out;
    make_halide_view(src, &in);
    make_halide_view(dst, &out);
    return run_pipeline("relayout", [&](void *user_context) {
        return kernels[src.sizes.size() - 3](user_context, &in.buffer, &out.buffer);
    });
}

}  // namespace detail
}  // namespace hup
