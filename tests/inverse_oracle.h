// Helpers shared by the differential tests of max_pool / max_unpool, pixel_shuffle and
// fold / unfold (issue 4): tensors of any rank and dtype in each layout, output buffers that
// reveal writes outside their view, bit-exact comparison and a case tally.
#pragma once

#include <algorithm>
#include <cstring>
#include <iostream>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "torch_oracle.h"

namespace hup_test {

// libtorch's OpenMP workers spin for a while after each parallel region and then compete with
// Halide's thread pool for the cores (see test_conv_transpose.cpp): the oracle runs on one
// thread, and libtorch's setting is put back afterwards for the other suites.
class SingleThreadedOracle {
public:
    SingleThreadedOracle() : threads_(at::get_num_threads()) { at::set_num_threads(1); }
    ~SingleThreadedOracle() { at::set_num_threads(threads_); }
    SingleThreadedOracle(const SingleThreadedOracle &) = delete;
    SingleThreadedOracle &operator=(const SingleThreadedOracle &) = delete;

private:
    int threads_;
};

const std::vector<Layout> kAllLayouts = {Layout::Contiguous, Layout::ChannelsLast, Layout::Strided};

// An uninitialised tensor of `sizes` and `type` in `layout`:
// - Contiguous: row-major;
// - ChannelsLast: dim `channel_dim` has unit stride, the others keep their order (for 4-D and
//   5-D tensors with channel_dim 1 this is exactly at::MemoryFormat::ChannelsLast(3d); for 3-D
//   tensors it is (N, W, C) memory seen as (N, C, W));
// - Strided: as make_tensor, a view of a larger tensor with dims 0 and 1 swapped that steps by
//   2 along the last dim, so that no dim has unit stride.
inline at::Tensor alloc(const std::vector<int64_t> &sizes, Layout layout, at::ScalarType type, int64_t channel_dim = 1) {
    const int64_t rank = (int64_t)sizes.size();
    const at::TensorOptions options = at::TensorOptions().dtype(type);
    switch (layout) {
        case Layout::Contiguous: return at::empty(sizes, options);
        case Layout::ChannelsLast: {
            if (rank < 2) return at::empty(sizes, options);
            std::vector<int64_t> order;
            for (int64_t d = 0; d < rank; d++) {
                if (d != channel_dim) order.push_back(d);
            }
            order.push_back(channel_dim);
            std::vector<int64_t> memory_sizes(rank), inverse(rank);
            for (int64_t i = 0; i < rank; i++) {
                memory_sizes[i] = sizes[order[i]];
                inverse[order[i]] = i;
            }
            return at::empty(memory_sizes, options).permute(inverse);
        }
        case Layout::Strided: {
            std::vector<int64_t> big = sizes;
            big.back() *= 2;  // before the swap: in 2-D the last dim is one of the swapped ones
            if (rank >= 2) std::swap(big[0], big[1]);
            at::Tensor base = at::empty(big, options);
            if (rank >= 2) base = base.transpose(0, 1);
            return base.slice(-1, 0, c10::nullopt, 2);  // (the last dim of the transposed view)
        }
    }
    return {};
}

// `values` (any layout) copied into a new tensor of `layout`.
inline at::Tensor in_layout(const at::Tensor &values, Layout layout, int64_t channel_dim = 1) {
    at::Tensor t = alloc(values.sizes().vec(), layout, values.scalar_type(), channel_dim);
    t.copy_(values);
    return t;
}

// All the memory under a (possibly strided) view, flat, in the view's dtype.
inline at::Tensor storage_of(const at::Tensor &t) {
    const int64_t count = (int64_t)(t.storage().nbytes() / t.element_size());
    return at::from_blob(t.storage().data(), {count}, at::TensorOptions().dtype(t.scalar_type()));
}

// Output sentinels: values no operator here produces (data lie in [-2, 2], indices are >= 0).
constexpr float kFloatSentinel = -12345.f;
constexpr int64_t kIndexSentinel = -777;

inline at::Scalar sentinel_for(at::ScalarType type) {
    return type == at::kLong ? at::Scalar(kIndexSentinel) : at::Scalar(kFloatSentinel);
}

// An output buffer of `layout` whose whole memory (view and surroundings) holds the sentinel.
inline at::Tensor make_output(const std::vector<int64_t> &sizes, Layout layout, at::ScalarType type, int64_t channel_dim = 1) {
    at::Tensor t = alloc(sizes, layout, type, channel_dim);
    if (t.storage().nbytes() > 0) storage_of(t).fill_(sentinel_for(t.scalar_type()));
    return t;
}

// Whether every element of the memory under `out` outside the view still holds the sentinel.
// Overwrites the view (call it after the comparisons).
inline bool outside_untouched(const at::Tensor &out) {
    if (out.storage().nbytes() == 0) return true;
    const at::Tensor storage = storage_of(out);
    out.fill_(sentinel_for(out.scalar_type()));
    return (storage == sentinel_for(out.scalar_type())).all().item<bool>();
}

// Whether the whole view still holds the sentinel (nothing written).
inline bool all_sentinel(const at::Tensor &out) {
    if (out.numel() == 0) return true;
    return (out == sentinel_for(out.scalar_type())).all().item<bool>();
}

// Bit-exact equality, NaN payloads and signed zeros included (float32 compared as int32 bits).
inline bool bits_equal(const at::Tensor &a, const at::Tensor &b) {
    if (a.sizes() != b.sizes() || a.scalar_type() != b.scalar_type()) return false;
    if (a.numel() == 0) return true;
    if (a.scalar_type() == at::kFloat) return torch::equal(a.contiguous().view(at::kInt), b.contiguous().view(at::kInt));
    return torch::equal(a.contiguous(), b.contiguous());
}

// Where two tensors of equal sizes first differ (for messages): "at [i, j, ...]: a vs b".
inline std::string first_difference(const at::Tensor &actual, const at::Tensor &expected) {
    if (actual.sizes() != expected.sizes()) {
        return "sizes " + c10::str(actual.sizes()) + " vs expected " + c10::str(expected.sizes());
    }
    const at::Tensor a = actual.contiguous(), e = expected.contiguous();
    at::Tensor differ;
    if (a.scalar_type() == at::kFloat) {
        differ = a.view(at::kInt) != e.view(at::kInt);
    } else {
        differ = a != e;
    }
    const at::Tensor where = differ.nonzero().contiguous();  // nonzero() returns a transposed view
    if (where.size(0) == 0) return "no difference";
    std::vector<int64_t> index(where[0].data_ptr<int64_t>(), where[0].data_ptr<int64_t>() + where.size(1));
    std::ostringstream s;
    s << where.size(0) << " elements differ, first at " << c10::IntArrayRef(index) << ": got ";
    at::Tensor av = a, ev = e;
    for (int64_t i : index) {
        av = av[i];
        ev = ev[i];
    }
    if (a.scalar_type() == at::kFloat) {
        s << av.item<float>() << " expected " << ev.item<float>() << " (bits 0x" << std::hex << av.view(at::kInt).item<int32_t>()
          << " vs 0x" << ev.view(at::kInt).item<int32_t>() << std::dec << ")";
    } else {
        s << av.item<int64_t>() << " expected " << ev.item<int64_t>();
    }
    return s.str();
}


// One option as the options vector: empty when every dim has PyTorch's default, one value when
// all dims agree (unless `per_dim`), else one per dim.
inline std::vector<int64_t> option_values(const std::vector<int64_t> &dims, int64_t fallback, bool per_dim) {
    const bool uniform = std::all_of(dims.begin(), dims.end(), [&](int64_t v) { return v == dims[0]; });
    if (per_dim || !uniform) return dims;
    if (dims[0] == fallback) return {};
    return {dims[0]};
}

inline std::string option_string(const char *name, const std::vector<int64_t> &v) {
    return v.empty() ? std::string() : std::string(" ") + name + "=" + c10::str(c10::IntArrayRef(v));
}

}  // namespace hup_test
