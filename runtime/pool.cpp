// max_pool with indices and max_unpool: PyTorch's argument rules and output sizes, the index
// check that keeps unpool from writing anywhere on bad input, and the views the AOT kernels
// take (generators/pool_generator.cpp).
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <memory>

#include "HalideRuntime.h"
#include "device.h"
#include "hup_max_pool_r2_channels_last_border.h"
#include "hup_max_pool_r2_channels_last_interior.h"
#include "hup_max_pool_r2_planar_border.h"
#include "hup_max_pool_r2_planar_interior.h"
#include "hup_max_pool_r2_planar_window2.h"
#include "hup_max_pool_r2_planar_window2_stream.h"
#include "hup_max_pool_r3_channels_last_border.h"
#include "hup_max_pool_r3_channels_last_interior.h"
#include "hup_max_pool_r3_planar_border.h"
#include "hup_max_pool_r3_planar_interior.h"
#include "hup_max_unpool_r2_channels_last.h"
#include "hup_max_unpool_r2_planar.h"
#include "hup_max_unpool_r3_channels_last.h"
#include "hup_max_unpool_r3_planar.h"
#include "hup_max_unpool_windows_r2.h"
#include "hup_max_unpool_windows_r2_stream.h"
#include "hup_max_unpool_windows_r3.h"
#include "hup_max_unpool_windows_r3_stream.h"
#include "index_span.h"
#include "relayout.h"
#include "tensor_check.h"

namespace hup {
namespace {

using detail::kMaxSpatial;

Status invalid(const std::string &message) { return Status(StatusCode::InvalidArgument, message); }

// A pooling window per spatial dim (PyTorch order: d = 0 is the outermost spatial dim).
struct Window {
    int spatial = 0;
    std::array<int64_t, kMaxSpatial> kernel{}, stride{}, padding{}, dilation{};
};

// Rank from the input, then kernel_size (required), stride (default kernel_size), padding,
// dilation: the checks both ops share.
Status parse_window(const char *op, const std::vector<int64_t> &input_sizes, const std::vector<int64_t> &kernel_size,
                    const std::vector<int64_t> &stride, const std::vector<int64_t> &padding,
                    const std::vector<int64_t> &dilation, Window *w) {
    const int rank = (int)input_sizes.size();
    if (rank < 3 || rank > 5) {
        return invalid(std::string(op) + ": input must have 3 to 5 dims (N, C, spatial...), got " + std::to_string(rank) +
                       "-D " + detail::shape_string(input_sizes) + "; add a batch dim for unbatched input");
    }
    w->spatial = rank - 2;
    if (kernel_size.empty()) return invalid(std::string(op) + ": kernel_size is required");
    Status s = detail::per_dim(kernel_size, "kernel_size", w->spatial, 0, &w->kernel);
    if (s.ok()) s = detail::per_dim(stride, "stride", w->spatial, 0, &w->stride);
    if (s.ok()) s = detail::per_dim(padding, "padding", w->spatial, 0, &w->padding);
    if (s.ok()) s = detail::per_dim(dilation, "dilation", w->spatial, 1, &w->dilation);
    if (!s.ok()) return s;
    for (int d = 0; d < w->spatial; d++) {
        if (stride.empty()) w->stride[d] = w->kernel[d];
        if (w->kernel[d] <= 0) return invalid(std::string(op) + ": kernel_size must be positive");
        if (w->stride[d] <= 0) return invalid(std::string(op) + ": stride must be positive");
        if (w->dilation[d] <= 0) return invalid(std::string(op) + ": dilation must be positive");
        if (w->padding[d] < 0) return invalid(std::string(op) + ": padding must be non-negative");
    }
    for (int i = 0; i < rank; i++) {
        if (input_sizes[i] < 0 || (i > 0 && input_sizes[i] == 0)) {
            return invalid(std::string(op) + ": input sizes after the batch dim must be positive, got " +
                           detail::shape_string(input_sizes));
        }
    }
    return Status::Ok();
}

// The Halide view of a (N, C, spatial...) tensor with its spatial dims reversed and padded to
// `dims` - 2 with unit dims (1-D pooling runs as 2-D), typed `type`.
void pool_view(const TensorView &t, int dims, halide_type_t type, detail::HalideView *view) {
    const int rank = (int)t.sizes.size(), spatial = rank - 2;
    const std::vector<int64_t> strides = detail::strides_of(t);
    view->init(t.data, dims, type);
    for (int i = 0; i < dims - 2; i++) {
        if (i < spatial) {
            view->set(i, t.sizes[rank - 1 - i], strides[rank - 1 - i]);
        } else {
            view->set(i, 1, 1);
        }
    }
    view->set(dims - 2, t.sizes[1], strides[1]);
    view->set(dims - 1, t.sizes[0], strides[0]);
}

const halide_type_t kFloat32(halide_type_float, 32), kInt64(halide_type_int, 64);

}  // namespace

// ---- max_pool ------------------------------------------------------------------------------

Status max_pool_output_sizes(const std::vector<int64_t> &input_sizes, const MaxPoolOptions &options,
                             std::vector<int64_t> *output_sizes) {
    if (!output_sizes) return invalid("output_sizes is null");
    Window w;
    Status s = parse_window("max_pool", input_sizes, options.kernel_size, options.stride, options.padding,
                            options.dilation, &w);
    if (!s.ok()) return s;
    std::vector<int64_t> sizes = {input_sizes[0], input_sizes[1]};
    for (int d = 0; d < w.spatial; d++) {
        const int64_t in = input_sizes[2 + d], k = w.kernel[d], st = w.stride[d], p = w.padding[d], dil = w.dilation[d];
        const std::string dim = " (spatial dim " + std::to_string(d) + ")";
        if (p > k / 2) {
            return invalid("max_pool: padding " + std::to_string(p) + " must be at most half of kernel_size " +
                           std::to_string(k) + dim);
        }
        // PyTorch: (in + 2p - dil*(k-1) - 1 [+ stride - 1 with ceil_mode]) / stride + 1, and with
        // ceil_mode the last window must start inside the input or the left padding.
        int64_t reach, span, numerator;
        if (!detail::checked_mul_add(dil, k - 1, 1, &reach) || __builtin_add_overflow(in, 2 * p, &span) ||
            __builtin_sub_overflow(span, reach, &numerator) ||
            (options.ceil_mode && __builtin_add_overflow(numerator, st - 1, &numerator))) {
            return invalid("max_pool: output size overflows int64" + dim);
        }
        int64_t out = detail::floor_div(numerator, st) + 1;
        if (options.ceil_mode && (out - 1) * st >= in + p) out--;
        if (out < 1) {
            return invalid("max_pool: input " + detail::shape_string(input_sizes) + " is too small for the window: output size " +
                           std::to_string(out) + dim);
        }
        sizes.push_back(out);
    }
    s = detail::check_count(sizes, "output");
    if (s.ok()) *output_sizes = sizes;
    return s;
}

Status max_pool(const TensorView &input, const TensorView &output, const TensorView &indices,
                const MaxPoolOptions &options) {
    Status s = detail::check_tensor(input, "input", 3, 5);
    std::vector<int64_t> sizes;
    if (s.ok()) s = max_pool_output_sizes(input.sizes, options, &sizes);
    Device device = Device::Host;
    if (s.ok()) {
        s = detail::check_call({{&input, "input"},
                                {&output, "output", &sizes, 3, 5},
                                {&indices, "indices", &sizes, 3, 5, DType::Int64}},
                               &device);
    }
    if (!s.ok() || detail::element_count(sizes) == 0) return s;

    Window w;
    parse_window("max_pool", input.sizes, options.kernel_size, options.stride, options.padding, options.dilation, &w);
    const bool channels_last = detail::channels_dense(input, 1);
    const int dims = w.spatial == 3 ? 5 : 4;
    detail::HalideView in, out, idx;
    pool_view(input, dims, kFloat32, &in);
    pool_view(output, dims, kFloat32, &out);
    pool_view(indices, dims, kInt64, &idx);
    // Per Halide dim (x, y, z): PyTorch's last spatial dim first; absent dims are unit windows.
    int32_t k[3] = {1, 1, 1}, st[3] = {1, 1, 1}, p[3] = {0, 0, 0}, dil[3] = {1, 1, 1};
    for (int i = 0; i < w.spatial; i++) {
        const int d = w.spatial - 1 - i;
        // Windows reaching past 2^31 see only padding there: clamping keeps the arithmetic in
        // int32 without changing which taps are inside.
        k[i] = (int32_t)std::min<int64_t>(w.kernel[d], std::numeric_limits<int32_t>::max() / 4);
        st[i] = (int32_t)std::min<int64_t>(w.stride[d], std::numeric_limits<int32_t>::max() / 4);
        p[i] = (int32_t)w.padding[d];
        dil[i] = (int32_t)std::min<int64_t>(w.dilation[d], std::numeric_limits<int32_t>::max() / 4);
    }
    using Kernel = int (*)(const void *, halide_buffer_t *, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t,
                           int32_t, int32_t, int32_t, int32_t, int32_t, halide_buffer_t *, halide_buffer_t *);
    // [rank 2, 3][planar, channels_last][border, interior]
    static const Kernel kernels[2][2][2] = {
        {{hup_max_pool_r2_planar_border, hup_max_pool_r2_planar_interior},
         {hup_max_pool_r2_channels_last_border, hup_max_pool_r2_channels_last_interior}},
        {{hup_max_pool_r3_planar_border, hup_max_pool_r3_planar_interior},
         {hup_max_pool_r3_channels_last_border, hup_max_pool_r3_channels_last_interior}}};
    const Kernel(&variants)[2] = kernels[dims == 5][channels_last];
    if (device != Device::Host) {  // one variant for every layout, over the whole output
        Kernel kernel;
        s = detail::gpu_kernel(dims == 5 ? "hup_max_pool_r3_gpu" : "hup_max_pool_r2_gpu", device, &kernel);
        detail::DeviceCall call(device);
        if (s.ok()) s = call.bind(input, &in.buffer, false);
        if (s.ok()) s = call.bind(output, &out.buffer, true);
        if (s.ok()) s = call.bind(indices, &idx.buffer, true);
        if (!s.ok()) return s;
        return call.run("max_pool", [&](void *user_context) {
            return kernel(user_context, &in.buffer, k[0], st[0], p[0], dil[0], k[1], st[1], p[1], dil[1], k[2], st[2], p[2],
                          dil[2], &out.buffer, &idx.buffer);
        });
    }

    // The interior of 2x2 windows of stride 2 (planar 2-D) has a variant of its own.
    const bool window2 = dims == 4 && !channels_last && k[0] == 2 && k[1] == 2 && st[0] == 2 && st[1] == 2 &&
                         dil[0] == 1 && dil[1] == 1;
    // The interior: outputs whose windows lie inside the input, per Halide dim [lo, hi).
    const int halide_spatial = dims - 2;
    int64_t extent[3] = {1, 1, 1}, lo[3] = {0, 0, 0}, hi[3] = {1, 1, 1};
    for (int i = 0; i < halide_spatial; i++) {
        extent[i] = out.dims[i].extent;
        const int64_t in_size = in.dims[i].extent, reach = int64_t(k[i] - 1) * dil[i];
        lo[i] = std::min<int64_t>((p[i] + st[i] - 1) / st[i], extent[i]);
        const int64_t last = in_size - 1 - reach + p[i];  // the last window start, + padding
        hi[i] = last < 0 ? lo[i] : std::max<int64_t>(std::min<int64_t>(last / st[i] + 1, extent[i]), lo[i]);
    }
    // The interior kernel computes whole vectors (16 lanes at most, AVX-512) and may not read
    // past the input: planar, its rows are cut to whole vectors (the rest is border);
    // channels_last, it needs whole vectors of channels.
    constexpr int64_t kVectorLanes = 16;
    if (channels_last && in.dims[halide_spatial].extent % kVectorLanes != 0) hi[0] = lo[0];
    if (!channels_last) hi[0] = lo[0] + (hi[0] - lo[0]) / kVectorLanes * kVectorLanes;
    // Border slabs, outermost dim first, each narrowing the rest towards the interior; then
    // the interior itself.
    auto run_boxes = [&](const detail::HalideView &in_v, const detail::HalideView &out_v, const detail::HalideView &idx_v,
                         bool streamed) {
        int64_t box_lo[3] = {0, 0, 0}, box_hi[3] = {extent[0], extent[1], extent[2]};
        auto run_box = [&](const int64_t *from, const int64_t *to, bool interior) {
            for (int i = 0; i < halide_spatial; i++) {
                if (to[i] <= from[i]) return Status::Ok();
            }
            detail::HalideView in_box = in_v, out_box = out_v, idx_box = idx_v;
            for (detail::HalideView *v : {&in_box, &out_box, &idx_box}) v->buffer.dim = v->dims;
            for (int i = 0; i < halide_spatial; i++) {
                out_box.crop(i, from[i], to[i] - from[i]);
                idx_box.crop(i, from[i], to[i] - from[i]);
            }
            Kernel kernel = variants[interior];
            if (interior && window2) {
                kernel = hup_max_pool_r2_planar_window2;
                // Non-temporal stores, where the outputs are aligned for them.
                if (streamed && detail::make_streamable(&out_box) && detail::make_streamable(&idx_box)) {
                    kernel = hup_max_pool_r2_planar_window2_stream;
                }
            }
            return detail::run_pipeline("max_pool", [&](void *user_context) {
                return kernel(user_context, &in_box.buffer, k[0], st[0], p[0], dil[0], k[1], st[1], p[1], dil[1], k[2],
                              st[2], p[2], dil[2], &out_box.buffer, &idx_box.buffer);
            });
        };
        for (int i = halide_spatial - 1; i >= 0; i--) {
            int64_t from[3], to[3];
            std::copy(box_lo, box_lo + 3, from);
            std::copy(box_hi, box_hi + 3, to);
            to[i] = lo[i];
            Status status = run_box(from, to, false);
            if (!status.ok()) return status;
            from[i] = hi[i];
            to[i] = box_hi[i];
            status = run_box(from, to, false);
            if (!status.ok()) return status;
            box_lo[i] = lo[i];
            box_hi[i] = hi[i];
        }
        return run_box(box_lo, box_hi, true);
    };

    // Outputs that leave the caches: the 2x2 windows' interior is written with non-temporal
    // stores (ordinary ones read each output line first), every input line prefetched.
    // 8x64x256x256: 4.75-5.19 ms against 5.45-5.75 (medians, in-process A/B, Zen 5).
    // (Producing large outputs through a cache-resident scratch, as max_unpool did, measured
    // slower: 18 ms against 13-14 on 8x64x256x256; again through detail::run_streamed, whose
    // chunks run the pipelines serially, 9.6 ms against 7.4 in 32K-output chunks and 10.5 in
    // 8K ones.)
    return run_boxes(in, out, idx,
                     window2 && detail::stream_output(detail::element_count(sizes) * int64_t(sizeof(float) + sizeof(int64_t))));
}

// ---- max_unpool ----------------------------------------------------------------------------

Status max_unpool_output_sizes(const std::vector<int64_t> &input_sizes, const MaxUnpoolOptions &options,
                               std::vector<int64_t> *output_sizes) {
    if (!output_sizes) return invalid("output_sizes is null");
    Window w;
    Status s = parse_window("max_unpool", input_sizes, options.kernel_size, options.stride, options.padding, {}, &w);
    if (!s.ok()) return s;
    const int rank = (int)input_sizes.size();
    const size_t given = options.output_size.size();
    if (given != 0 && (int)given != w.spatial && (int)given != rank) {
        return invalid("max_unpool: output_size must have " + std::to_string(w.spatial) + " or " + std::to_string(rank) +
                       " values, got " + std::to_string(given));
    }
    std::vector<int64_t> sizes = {input_sizes[0], input_sizes[1]};
    for (int d = 0; d < w.spatial; d++) {
        const std::string dim = " (spatial dim " + std::to_string(d) + ")";
        // (in - 1) * stride - 2 * padding + kernel_size.
        int64_t spread, padded, size;
        if (w.padding[d] > (int64_t(1) << 61) || !detail::checked_mul_add(input_sizes[2 + d] - 1, w.stride[d], w.kernel[d], &spread) ||
            __builtin_sub_overflow(spread, 2 * w.padding[d], &padded)) {
            return invalid("max_unpool: output size overflows int64" + dim);
        }
        size = padded;
        if (given) {
            const int64_t wanted = options.output_size[given - w.spatial + d];
            if (wanted <= padded - w.stride[d] || wanted >= padded + w.stride[d]) {
                return invalid("max_unpool: output_size " + std::to_string(wanted) + dim + " must lie strictly between " +
                               std::to_string(padded - w.stride[d]) + " and " + std::to_string(padded + w.stride[d]));
            }
            size = wanted;
        }
        if (size <= 0) return invalid("max_unpool: output size " + std::to_string(size) + dim + " is not positive");
        sizes.push_back(size);
    }
    s = detail::check_count(sizes, "output");
    if (s.ok()) *output_sizes = sizes;
    return s;
}

namespace detail {

// Lowest and highest of `count` contiguous indices, folded into *lo and *hi, in vectors: the
// check reads 8 bytes per input element and must keep up with the kernel. (GCC leaves the
// plain loop scalar, with two cmovs per index.) AVX-512 has 64-bit min and max; AVX2 builds
// them from a compare and a blend.
__attribute__((target("avx512f"))) void dense_index_span_avx512(const int64_t *row, int64_t count, int64_t *lo, int64_t *hi) {
    __m512i lowest = _mm512_set1_epi64(*lo), highest = _mm512_set1_epi64(*hi);
    int64_t x = 0;
    for (; x + 8 <= count; x += 8) {
        const __m512i v = _mm512_loadu_si512(row + x);
        lowest = _mm512_min_epi64(lowest, v);
        highest = _mm512_max_epi64(highest, v);
    }
    *lo = _mm512_reduce_min_epi64(lowest);
    *hi = _mm512_reduce_max_epi64(highest);
    for (; x < count; x++) *lo = std::min(*lo, row[x]), *hi = std::max(*hi, row[x]);
}

__attribute__((target("avx2"))) void dense_index_span_avx2(const int64_t *row, int64_t count, int64_t *lo, int64_t *hi) {
    __m256i lowest = _mm256_set1_epi64x(*lo), highest = _mm256_set1_epi64x(*hi);
    int64_t x = 0;
    for (; x + 4 <= count; x += 4) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(row + x));
        lowest = _mm256_blendv_epi8(lowest, v, _mm256_cmpgt_epi64(lowest, v));
        highest = _mm256_blendv_epi8(highest, v, _mm256_cmpgt_epi64(v, highest));
    }
    alignas(32) int64_t l[4], h[4];
    _mm256_store_si256(reinterpret_cast<__m256i *>(l), lowest);
    _mm256_store_si256(reinterpret_cast<__m256i *>(h), highest);
    for (int i = 0; i < 4; i++) *lo = std::min(*lo, l[i]), *hi = std::max(*hi, h[i]);
    for (; x < count; x++) *lo = std::min(*lo, row[x]), *hi = std::max(*hi, row[x]);
}


// Whether a row of indices of windows of 2 that tile the output (stride 2, no padding) each
// lie in their own window: index x of the row holds base + 2x + {0, 1} + {0, width} (2-D), plus
// {0, slice} in 3-D (slice > 0: the output's H * W), where base is the window's first output
// element and width the output's W; corners[x] gets which corner, bit 0 for the far column,
// bit 1 the far row, bit 2 the far slice (meaningful where all are inside).
__attribute__((target("avx512f"))) bool row_window_corners_avx512(const int64_t *row, int64_t count, int64_t base,
                                                                  int64_t width, int64_t slice, uint8_t *corners,
                                                                  bool streaming_stores) {
    const __m512i one = _mm512_set1_epi64(1), two = _mm512_set1_epi64(2), four = _mm512_set1_epi64(4);
    const __m512i w = _mm512_set1_epi64(width), p = _mm512_set1_epi64(slice);
    const __m512i step = _mm512_set1_epi64(16);
    __m512i first = _mm512_add_epi64(_mm512_set1_epi64(base), _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0));
    __mmask8 outside = 0;
    int64_t x = 0;
    for (; x + 8 <= count; x += 8) {
        __m512i local = _mm512_sub_epi64(_mm512_loadu_si512(row + x), first);
        // Peel off the far slice, then the far row (signed: a negative offset keeps both clear
        // and stays outside); what is left must be the column, 0 or 1.
        const __mmask8 far_slice = slice > 0 ? _mm512_cmpge_epi64_mask(local, p) : 0;
        local = _mm512_mask_sub_epi64(local, far_slice, local, p);
        const __mmask8 far_row = _mm512_cmpge_epi64_mask(local, w);
        local = _mm512_mask_sub_epi64(local, far_row, local, w);
        outside |= _mm512_cmpgt_epu64_mask(local, one);
        __m512i corner = _mm512_mask_add_epi64(local, far_row, local, two);
        corner = _mm512_mask_add_epi64(corner, far_slice, corner, four);
        const __m128i corner_bytes = _mm512_cvtepi64_epi8(corner);
        if (streaming_stores) {
            _mm_stream_si64(reinterpret_cast<long long *>(corners + x), _mm_cvtsi128_si64(corner_bytes));
        } else {
            _mm_storel_epi64(reinterpret_cast<__m128i *>(corners + x), corner_bytes);
        }
        first = _mm512_add_epi64(first, step);
    }
    return outside == 0 && row_window_corners(row + x, count - x, base + 2 * x, width, slice, corners + x);
}

bool row_window_corners(const int64_t *row, int64_t count, int64_t base, int64_t width, int64_t slice, uint8_t *corners) {
    bool inside = true;
    for (int64_t x = 0; x < count; x++) {
        // Wrapping, not overflowing, for indices near INT64_MIN (they stay far outside).
        int64_t local = (int64_t)((uint64_t)row[x] - (uint64_t)(base + 2 * x));
        const bool far_slice = slice > 0 && local >= slice;
        if (far_slice) local -= slice;
        const bool far_row = local >= width;
        if (far_row) local -= width;
        inside &= local == 0 || local == 1;
        corners[x] = (uint8_t)((local & 1) + (far_row ? 2 : 0) + (far_slice ? 4 : 0));
    }
    return inside;
}
}  // namespace detail

namespace {

// The lowest and highest of `count` indices `stride` apart (0 and 0 for none).
void index_span(const int64_t *row, int64_t count, int64_t stride, int64_t *lowest, int64_t *highest) {
    static const int vector_kind = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
    int64_t lo = count > 0 ? row[0] : 0, hi = lo;
    if (stride == 1 && vector_kind == 2) {
        detail::dense_index_span_avx512(row, count, &lo, &hi);
    } else if (stride == 1 && vector_kind == 1) {
        detail::dense_index_span_avx2(row, count, &lo, &hi);
    } else {
        for (int64_t x = 0; x < count; x++) {
            lo = std::min(lo, row[x * stride]);
            hi = std::max(hi, row[x * stride]);
        }
    }
    *lowest = lo;
    *highest = hi;
}

// Slabs of a plane too large for the caches: `group` outermost input slices at a time, into
// the flat range of the output plane that their windows cover along that dim (from the slab's
// first window start to the next slab's; the first slab from 0, the last to the end). When
// every index of every slab lands in its own range, which max_pool's indices do with kernel
// <= stride, the slabs are independent: each is unpooled into a cache-sized scratch and
// streamed out.
struct UnpoolSlabs {
    int64_t group = 0;  // input outer slices per slab; 0: the plane is one piece
    int64_t in_slices = 0, in_slice_size = 0, out_slices = 0, out_slice_size = 0, stride = 1, padding = 0;

    int64_t count() const { return (in_slices + group - 1) / group; }
    int64_t begin(int64_t j) const {  // the first output element of slab j (j = count(): the end)
        if (j <= 0) return 0;
        if (j >= count()) return out_slices * out_slice_size;
        return std::clamp(j * group * stride - padding, int64_t(0), out_slices) * out_slice_size;
    }
};

// Finds an index outside [0, plane) (in any (n, c) plane), a plane per task on Halide's pool.
struct IndexScan {
    const int64_t *data;
    std::vector<int64_t> sizes, strides;
    int64_t plane;
    bool flat;  // a plane's indices are one strided run
    std::atomic<bool> bad{false};
    std::atomic<int64_t> bad_value{0};
    UnpoolSlabs slabs;                // with flat runs: also find which planes split into slabs
    std::vector<char> plane_in_slabs;  // per plane (n * C + c): every slab's indices in its range

    static int task(void *, int task_index, uint8_t *closure) {
        IndexScan &scan = *reinterpret_cast<IndexScan *>(closure);
        const int rank = (int)scan.sizes.size();
        // Last plane first: the kernel then starts on the planes whose indices the scan left in
        // the cache.
        const int64_t plane_index = scan.sizes[0] * scan.sizes[1] - 1 - task_index;
        const int64_t n = plane_index / scan.sizes[1], c = plane_index % scan.sizes[1];
        const int64_t *base = scan.data + n * scan.strides[0] + c * scan.strides[1];
        // Spatial dims padded to three, outermost first; one flat run when they nest.
        int64_t size[3] = {1, 1, 1}, stride[3] = {0, 0, 0};
        for (int d = 2; d < rank; d++) {
            size[3 - rank + d] = scan.sizes[d];
            stride[3 - rank + d] = scan.strides[d];
        }
        if (scan.flat && scan.slabs.group > 0) {
            const UnpoolSlabs &slabs = scan.slabs;
            bool in_slabs = true;
            for (int64_t j = 0; j < slabs.count(); j++) {
                const int64_t first = j * slabs.group * slabs.in_slice_size;
                const int64_t count = std::min(slabs.group, slabs.in_slices - j * slabs.group) * slabs.in_slice_size;
                int64_t lo, hi;
                index_span(base + first * stride[2], count, stride[2], &lo, &hi);
                if (lo < 0 || hi >= scan.plane) {
                    scan.plane_in_slabs[plane_index] = 0;
                    return report_bad(scan, base + first * stride[2], count, stride[2]);
                }
                in_slabs = in_slabs && lo >= slabs.begin(j) && hi < slabs.begin(j + 1);
            }
            scan.plane_in_slabs[plane_index] = in_slabs;
            return 0;
        }
        if (scan.flat) {
            size[2] *= size[0] * size[1];
            size[0] = size[1] = 1;
        }
        for (int64_t z = 0; z < size[0]; z++) {
            for (int64_t y = 0; y < size[1]; y++) {
                const int64_t *row = base + z * stride[0] + y * stride[1];
                int64_t lo, hi;
                index_span(row, size[2], stride[2], &lo, &hi);
                if (lo < 0 || hi >= scan.plane) return report_bad(scan, row, size[2], stride[2]);
            }
        }
        return 0;
    }

    // Records the first index of the run outside the plane.
    static int report_bad(IndexScan &scan, const int64_t *row, int64_t count, int64_t stride) {
        for (int64_t x = 0; x < count; x++) {
            if (row[x * stride] < 0 || row[x * stride] >= scan.plane) {
                if (!scan.bad.exchange(true)) scan.bad_value = row[x * stride];
                break;
            }
        }
        return 0;
    }
};

Status bad_index(int64_t value, int64_t plane) {
    return invalid("max_unpool: index " + std::to_string(value) + " is outside the output plane of " +
                   std::to_string(plane) + " elements; nothing was written");
}

// A host output whose planes cannot be addressed flat: unpool into a dense tensor (`run`),
// then copy.
template <typename Run>
Status unpool_through_dense(const TensorView &output, Run &&run) {
    std::unique_ptr<float[]> storage(new float[detail::element_count(output.sizes)]);
    TensorView dense = output;
    dense.data = storage.get();
    dense.strides.clear();
    Status s = run(dense);
    if (s.ok()) detail::strided_copy(dense, output);
    return s;
}

// The kernels' views: input and indices (spatial..., c, n), the output flat per plane.
void unpool_views(const TensorView &input, const TensorView &indices, const TensorView &output, int64_t plane,
                  detail::HalideView *in, detail::HalideView *idx, detail::HalideView *out) {
    const int rank = (int)input.sizes.size(), dims = rank == 5 ? 5 : 4;
    pool_view(input, dims, kFloat32, in);
    pool_view(indices, dims, kInt64, idx);
    const std::vector<int64_t> out_strides = detail::strides_of(output);
    out->init(output.data, 3);
    out->set(0, plane, out_strides[rank - 1]);
    out->set(1, output.sizes[1], out_strides[1]);
    out->set(2, output.sizes[0], out_strides[0]);
}

// A dense scratch standing for positions [first, first + extent) of planes c0 .. c0 + count - 1
// of image n: the same coordinates as the output view, so the kernel runs on it unchanged.
void scratch_view(float *scratch, int64_t first, int64_t extent, int64_t n, int64_t c0, int64_t count,
                  detail::HalideView *v) {
    v->init(scratch, 3);
    v->set(0, extent, 1);
    v->set(1, count, extent);
    v->set(2, 1, 1);
    v->dims[0].min = (int32_t)first;
    v->dims[1].min = (int32_t)c0;
    v->dims[2].min = (int32_t)n;
}

// On a GPU: the index range of every plane first (a kernel; only the ranges come back to the
// host), then, when they all lie inside the plane, the zero fill and scatter.
Status max_unpool_on_gpu(Device device, const TensorView &input, const TensorView &indices, const TensorView &output,
                         const std::vector<int64_t> &sizes, int64_t plane) {
    if (!detail::spatial_dims_nest(output)) {
        if (output.device != Device::Host) {
            return Status(StatusCode::Unsupported, "max_unpool: a device output whose spatial dims do not nest");
        }
        return unpool_through_dense(output, [&](const TensorView &dense) {
            return max_unpool_on_gpu(device, input, indices, dense, sizes, plane);
        });
    }
    const int rank = (int)input.sizes.size();
    using RangeKernel = int (*)(void *, halide_buffer_t *, halide_buffer_t *, halide_buffer_t *);
    using Kernel = int (*)(void *, halide_buffer_t *, halide_buffer_t *, int32_t, halide_buffer_t *);
    RangeKernel range_kernel;
    Kernel kernel;
    Status s = detail::gpu_kernel(rank == 5 ? "hup_max_unpool_index_range_r3_gpu" : "hup_max_unpool_index_range_r2_gpu",
                                  device, &range_kernel);
    if (s.ok()) s = detail::gpu_kernel(rank == 5 ? "hup_max_unpool_r3_gpu" : "hup_max_unpool_r2_gpu", device, &kernel);
    if (!s.ok()) return s;

    detail::HalideView in, idx, out, lowest, highest;
    unpool_views(input, indices, output, plane, &in, &idx, &out);
    std::vector<int64_t> ranges(2 * sizes[0] * sizes[1]);
    lowest.init(ranges.data(), 2, kInt64);
    lowest.set(0, sizes[1], 1);
    lowest.set(1, sizes[0], sizes[1]);
    highest = lowest;
    highest.buffer.dim = highest.dims;
    highest.buffer.host = reinterpret_cast<uint8_t *>(ranges.data() + sizes[0] * sizes[1]);
    detail::DeviceCall call(device);  // one call: the indices go to the device once
    s = call.bind(indices, &idx.buffer, false);
    call.bind_result(&lowest.buffer);
    call.bind_result(&highest.buffer);
    if (s.ok()) {
        s = call.run("max_unpool", [&](void *user_context) {
            return range_kernel(user_context, &idx.buffer, &lowest.buffer, &highest.buffer);
        });
    }
    if (!s.ok()) return s;
    const int64_t planes = sizes[0] * sizes[1];
    for (int64_t i = 0; i < planes; i++) {
        if (ranges[i] < 0) return bad_index(ranges[i], plane);
        if (ranges[planes + i] >= plane) return bad_index(ranges[planes + i], plane);
    }
    s = call.bind(input, &in.buffer, false);
    if (s.ok()) s = call.bind(output, &out.buffer, true);
    if (!s.ok()) return s;
    return call.run("max_unpool", [&](void *user_context) {
        return kernel(user_context, &in.buffer, &idx.buffer, (int32_t)plane, &out.buffer);
    });
}

// Checks every index against the plane; with `slabs` (group > 0) and flat index planes, also
// says per plane whether it splits into those slabs (`in_slabs`, else left empty).
Status check_indices(const TensorView &indices, int64_t plane, const UnpoolSlabs &slabs, std::vector<char> *in_slabs) {
    IndexScan scan;
    scan.data = static_cast<const int64_t *>(indices.data);
    scan.sizes = indices.sizes;
    scan.strides = detail::strides_of(indices);
    scan.plane = plane;
    scan.flat = detail::spatial_dims_nest(indices);
    const int64_t planes = indices.sizes[0] * indices.sizes[1];
    if (planes > std::numeric_limits<int>::max()) return Status(StatusCode::Unsupported, "max_unpool: too many planes");
    if (scan.flat && slabs.group > 0) {
        scan.slabs = slabs;
        scan.plane_in_slabs.assign(planes, 0);
    }
    halide_do_par_for(nullptr, IndexScan::task, 0, (int)planes, reinterpret_cast<uint8_t *>(&scan));
    if (scan.bad) return bad_index(scan.bad_value.load(), plane);
    *in_slabs = std::move(scan.plane_in_slabs);
    return Status::Ok();
}

// Slabs for the planar streaming path: planes larger than the chunk the cache holds, 2-D or
// 3-D, about 128 KB of output per slab.
UnpoolSlabs unpool_slabs(const TensorView &input, const std::vector<int64_t> &out_sizes, const Window &w,
                         int64_t chunk_elements) {
    UnpoolSlabs slabs;
    const int rank = (int)input.sizes.size();
    int64_t plane = 1;
    for (int d = 2; d < rank; d++) plane *= out_sizes[d];
    if (rank < 4 || plane <= chunk_elements) return slabs;
    slabs.in_slices = input.sizes[2];
    slabs.out_slices = out_sizes[2];
    slabs.in_slice_size = detail::element_count(input.sizes) / (input.sizes[0] * input.sizes[1] * input.sizes[2]);
    slabs.out_slice_size = plane / out_sizes[2];
    slabs.stride = w.stride[0];
    slabs.padding = w.padding[0];
    slabs.group = std::max<int64_t>(1, (int64_t(32) << 10) / std::max<int64_t>(1, slabs.stride * slabs.out_slice_size));
    return slabs;
}

// Floats of output that an unpooling task keeps in the cache at a time.
constexpr int64_t kUnpoolChunkFloats = int64_t(64) << 10;

// Planes [c0, c0 + count) of image n produced by `fill` into a pooled scratch (count planes of
// `plane` floats, back to back), then copied into the output (planes `plane_stride` apart from
// `dst`) with non-temporal stores, so that the output's lines are not read before being
// overwritten. Nothing is copied when `fill` fails.
template <typename Fill>
Status through_scratch(float *dst, int64_t plane_stride, int64_t plane, int64_t count, Fill &&fill) {
    const detail::ScratchBuffer scratch(plane * count);
    const Status s = fill(scratch.data());
    for (int64_t c = 0; s.ok() && c < count; c++) detail::stream_copy(dst + c * plane_stride, scratch.data() + c * plane, plane);
    return s;
}

// max_unpool as a gather (generators/pool_generator.cpp, MaxUnpoolWindows): planar 2-D or 3-D
// planes of dense rows, pooled with kernel 2, stride 2 and no padding, whose windows tile an
// output of twice the input's size (the default). Returns false, having written nothing, where
// that does not apply or where some index lies outside its own window (which also covers every
// index outside the plane): the caller then checks the indices and scatters as for any other
// input.
struct WindowScan {
    const int64_t *data = nullptr;
    std::vector<int64_t> sizes, strides;  // the indices' (N, C, [D,] H, W)
    int64_t width = 0, slice = 0;         // the output's W, and in 3-D its H * W (2-D: 0)
    uint8_t *corners = nullptr;           // per input element, dense (x, y, [z,] c, n): its index's corner
    bool streaming_stores = false;        // corners written past the caches (AVX-512), fenced per task
    std::atomic<bool> outside{false};

    static int task(void *, int plane_index, uint8_t *closure) {
        WindowScan &scan = *reinterpret_cast<WindowScan *>(closure);
        static const bool avx512 = __builtin_cpu_supports("avx512f");
        const int rank = (int)scan.sizes.size();
        const int64_t in_width = scan.sizes[rank - 1], in_height = scan.sizes[rank - 2];
        const int64_t rows = rank == 5 ? scan.sizes[2] * in_height : in_height;  // of the plane
        // Last plane first, as IndexScan: the gather starts on the planes still in the cache.
        const int64_t plane_number = scan.sizes[0] * scan.sizes[1] - 1 - plane_index;
        const int64_t n = plane_number / scan.sizes[1], c = plane_number % scan.sizes[1];
        const int64_t *plane = scan.data + n * scan.strides[0] + c * scan.strides[1];
        uint8_t *plane_corners = scan.corners + plane_number * rows * in_width;
        for (int64_t r = 0; r < rows && !scan.outside.load(std::memory_order_relaxed); r++) {
            const int64_t y = r % in_height, z = r / in_height;  // z = 0 in 2-D
            const int64_t *row = plane + y * scan.strides[rank - 2] + (rank == 5 ? z * scan.strides[2] : 0);
            const int64_t base = 2 * y * scan.width + 2 * z * scan.slice;
            uint8_t *row_corners = plane_corners + r * in_width;
            const bool inside = avx512 ? detail::row_window_corners_avx512(row, in_width, base, scan.width, scan.slice,
                                                                           row_corners, scan.streaming_stores)
                                       : detail::row_window_corners(row, in_width, base, scan.width, scan.slice, row_corners);
            if (!inside) scan.outside = true;
        }
        // Non-temporal stores are weakly ordered: visible before the pool learns the task is done.
        if (scan.streaming_stores) _mm_sfence();
        return 0;
    }
};

bool unpool_by_windows(const TensorView &input, const TensorView &indices, const TensorView &output,
                       const MaxUnpoolOptions &options, const std::vector<int64_t> &sizes, Status *status) {
    const int rank = (int)input.sizes.size(), spatial = rank - 2;
    if (rank < 4 || detail::element_count(input.sizes) == 0) return false;
    Window w;
    if (!parse_window("max_unpool", input.sizes, options.kernel_size, options.stride, options.padding, {}, &w).ok()) {
        return false;
    }
    for (int d = 0; d < spatial; d++) {
        if (w.kernel[d] != 2 || w.stride[d] != 2 || w.padding[d] != 0 || sizes[2 + d] != 2 * input.sizes[2 + d]) return false;
    }
    for (const TensorView *t : {&input, &indices, &output}) {
        if (!detail::unit_stride(*t, rank - 1) || detail::channels_dense(*t, 1)) return false;
    }
    const int64_t planes = sizes[0] * sizes[1];
    if (planes > std::numeric_limits<int>::max()) return false;
    detail::HalideView in, idx, out;
    pool_view(input, rank, kFloat32, &in);
    pool_view(output, rank, kFloat32, &out);
    // Outputs that do not fit in the caches are written with non-temporal stores, where they
    // are aligned for it: ordinary stores read each output line before overwriting it.
    // 1x32x64x128x128 with the index scan: 2.5-3.0 ms against 4.2-4.4 (2 threads, Zen 5).
    const bool streamed = detail::stream_into(&out, detail::element_count(sizes));

    // The scan reduces each index to its corner of its window, a byte: the gather then reads
    // an eighth of the index bytes. Where the output streams, so do the corners: the scan's
    // index reads push them out of the caches before the gather comes back to them anyway, and
    // ordinary stores would read each line first (8x64x128x128's scan: 1.9-2.1 ms -> 1.7-2.0,
    // both threads in halves, Zen 5).
    const int64_t elements = detail::element_count(input.sizes);
    const detail::ScratchBuffer corners((elements + 3) / 4);
    WindowScan scan;
    scan.data = static_cast<const int64_t *>(indices.data);
    scan.sizes = indices.sizes;
    scan.strides = detail::strides_of(indices);
    scan.width = sizes[rank - 1];
    scan.slice = rank == 5 ? sizes[3] * sizes[4] : 0;
    scan.corners = reinterpret_cast<uint8_t *>(corners.data());
    scan.streaming_stores = streamed;
    halide_do_par_for(nullptr, WindowScan::task, 0, (int)planes, reinterpret_cast<uint8_t *>(&scan));
    if (scan.outside) return false;

    TensorView corner_view;  // dense, the input's shape
    corner_view.data = scan.corners;
    corner_view.sizes = input.sizes;
    pool_view(corner_view, rank, halide_type_t(halide_type_uint, 8), &idx);
    using Kernel = int (*)(const void *, halide_buffer_t *, halide_buffer_t *, halide_buffer_t *);
    auto run = [&](Kernel kernel) {
        return detail::run_pipeline("max_unpool", [&](void *user_context) {
            return kernel(user_context, &in.buffer, &idx.buffer, &out.buffer);
        });
    };
    const Kernel in_place = rank == 5 ? hup_max_unpool_windows_r3 : hup_max_unpool_windows_r2;
    const Kernel streaming = rank == 5 ? hup_max_unpool_windows_r3_stream : hup_max_unpool_windows_r2_stream;
    *status = run(streamed ? streaming : in_place);
    return true;
}

}  // namespace

Status max_unpool(const TensorView &input, const TensorView &indices, const TensorView &output,
                  const MaxUnpoolOptions &options) {
    Status s = detail::check_tensor(input, "input", 3, 5);
    std::vector<int64_t> sizes;
    if (s.ok()) s = max_unpool_output_sizes(input.sizes, options, &sizes);
    Device device = Device::Host;
    if (s.ok()) {
        s = detail::check_call({{&input, "input"},
                                {&indices, "indices", &input.sizes, 3, 5, DType::Int64},
                                {&output, "output", &sizes, 3, 5}},
                               &device);
    }
    if (!s.ok() || detail::element_count(sizes) == 0) return s;
    const int rank = (int)input.sizes.size();
    int64_t plane = 1;
    for (int d = 2; d < rank; d++) plane *= sizes[d];
    if (device != Device::Host) return max_unpool_on_gpu(device, input, indices, output, sizes, plane);
    if (unpool_by_windows(input, indices, output, options, sizes, &s)) return s;
    const std::vector<int64_t> out_strides = detail::strides_of(output);
    const bool planar_flat = !detail::channels_dense(output, 1) && out_strides[rank - 1] == 1 && detail::spatial_dims_nest(output);
    auto unpool = [&](bool stream) -> Status {
        UnpoolSlabs slabs;
        if (stream && planar_flat && input.sizes[2] > 0) {
            Window w;
            parse_window("max_unpool", input.sizes, options.kernel_size, options.stride, options.padding, {}, &w);
            slabs = unpool_slabs(input, sizes, w, kUnpoolChunkFloats);
        }
        std::vector<char> in_slabs;
        s = check_indices(indices, plane, slabs, &in_slabs);
        if (!s.ok()) return s;

        if (!detail::spatial_dims_nest(output)) {
            return unpool_through_dense(output, [&](const TensorView &dense) { return max_unpool(input, indices, dense, options); });
        }
        const bool channels_last = detail::channels_dense(output, 1);
        const int dims = rank == 5 ? 5 : 4;
        detail::HalideView in, idx, out;
        unpool_views(input, indices, output, plane, &in, &idx, &out);
        using Kernel = int (*)(const void *, halide_buffer_t *, halide_buffer_t *, int32_t, halide_buffer_t *);
        const Kernel kernel = dims == 4 ? (channels_last ? hup_max_unpool_r2_channels_last : hup_max_unpool_r2_planar)
                                        : (channels_last ? hup_max_unpool_r3_channels_last : hup_max_unpool_r3_planar);
        auto run = [&](detail::HalideView &in_v, detail::HalideView &idx_v, detail::HalideView &out_v) {
            return detail::run_pipeline("max_unpool", [&](void *user_context) {
                return kernel(user_context, &in_v.buffer, &idx_v.buffer, (int32_t)plane, &out_v.buffer);
            });
        };
        if (channels_last || out_strides[rank - 1] != 1) return run(in, idx, out);
        // Planar, contiguous planes: each task unpools a few planes while they stay in the cache
        // (the zero fill, then the scatter into it). Streamed, through a scratch buffer copied
        // out with non-temporal stores, so that the output's lines are not read before being
        // overwritten; otherwise in place.
        return detail::for_channel_chunks(sizes[0], sizes[1], kUnpoolChunkFloats / plane, [&](int64_t n, int64_t c0, int64_t count) {
            detail::HalideView in_chunk = in, idx_chunk = idx, out_chunk = out;
            in_chunk.crop_planes(n, c0, count);
            idx_chunk.crop_planes(n, c0, count);
            if (!stream) {
                out_chunk.crop_planes(n, c0, count);
                return run(in_chunk, idx_chunk, out_chunk);
            }
            float *dst = static_cast<float *>(output.data) + n * out_strides[0] + c0 * out_strides[1];
            // Scratch per task (from the pool), not per thread: a thread waiting inside the
            // pipeline's parallel loop may run another chunk meanwhile. Uninitialised: the kernel
            // fills it.
            if (!in_slabs.empty() && in_slabs[n * sizes[1] + c0]) {  // a large plane (count is 1), in slabs
                int64_t largest = 0;
                for (int64_t j = 0; j < slabs.count(); j++) largest = std::max(largest, slabs.begin(j + 1) - slabs.begin(j));
                const detail::ScratchBuffer scratch(largest);
                const int outer = dims - 3;  // the outermost spatial dim of the input views
                for (int64_t j = 0; j < slabs.count(); j++) {
                    const int64_t begin = slabs.begin(j), end = slabs.begin(j + 1);
                    if (end == begin) continue;  // an empty range: the scan found no index for it
                    detail::HalideView in_slab = in_chunk, idx_slab = idx_chunk, out_slab;
                    const int64_t first = j * slabs.group, slices = std::min(slabs.group, slabs.in_slices - first);
                    for (detail::HalideView *v : {&in_slab, &idx_slab}) {
                        v->buffer.dim = v->dims;
                        v->crop(outer, first, slices);
                    }
                    scratch_view(scratch.data(), begin, end - begin, n, c0, 1, &out_slab);
                    const Status s = run(in_slab, idx_slab, out_slab);
                    if (!s.ok()) return s;
                    detail::stream_copy(dst + begin, scratch.data(), end - begin);
                }
                return Status::Ok();
            }
            return through_scratch(dst, out_strides[1], plane, count, [&](float *scratch) {
                scratch_view(scratch, 0, plane, n, c0, count, &out_chunk);
                return run(in_chunk, idx_chunk, out_chunk);
            });
        });
    };
    // Planar planes larger than the caches may go through a scratch copied out with
    // non-temporal stores, where that measures faster (detail::StreamingChoice; the index
    // check differs with the way, slabs, so it is part of what is timed). Other layouts write
    // in place either way: they stay out of the choice, whose trials would time one path twice.
    if (!planar_flat) return unpool(false);
    static detail::StreamingChoice choice;
    return choice.run(detail::element_count(sizes) * (int64_t)sizeof(float), unpool);
}

}  // namespace hup
