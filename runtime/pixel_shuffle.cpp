// pixel_shuffle / pixel_unshuffle: PyTorch's checks and sizes, and the 6-D views on which both
// are one transpose (generators/pixel_shuffle_generator.cpp).
#include "hup_pixel_shuffle_channels_last.h"
#include "hup_pixel_shuffle_planar.h"
#include "hup_pixel_shuffle_planar_stream.h"
#include "hup_pixel_unshuffle_channels_last.h"
#include "hup_pixel_unshuffle_planar.h"
#include "hup_pixel_unshuffle_planar_stream.h"
#include "device.h"
#include "tensor_check.h"

namespace hup {
namespace {

Status invalid(const std::string &message) { return Status(StatusCode::InvalidArgument, message); }

constexpr int kMaxRank = 8;

Status shuffle_sizes(const char *op, const std::vector<int64_t> &input_sizes, int64_t factor, bool shuffle,
                     std::vector<int64_t> *output_sizes) {
    const int rank = (int)input_sizes.size();
    if (rank < 3 || rank > kMaxRank) {
        return invalid(std::string(op) + ": input must have 3 to " + std::to_string(kMaxRank) + " dims (*, C, H, W), got " +
                       std::to_string(rank) + "-D " + detail::shape_string(input_sizes));
    }
    for (int64_t s : input_sizes) {
        if (s < 0) return invalid(std::string(op) + ": input has a negative size: " + detail::shape_string(input_sizes));
    }
    if (factor <= 0) {
        return invalid(std::string(op) + (shuffle ? ": upscale_factor" : ": downscale_factor") + " must be positive, got " +
                       std::to_string(factor));
    }
    int64_t area;
    if (__builtin_mul_overflow(factor, factor, &area)) return invalid(std::string(op) + ": factor squared overflows int64");
    std::vector<int64_t> sizes = input_sizes;
    int64_t &c = sizes[rank - 3], &h = sizes[rank - 2], &w = sizes[rank - 1];
    if (shuffle) {
        if (c % area != 0) {
            return invalid(std::string(op) + ": channels " + std::to_string(c) + " must be divisible by upscale_factor^2 = " +
                           std::to_string(area));
        }
        c /= area;
        if (__builtin_mul_overflow(h, factor, &h) || __builtin_mul_overflow(w, factor, &w)) {
            return invalid(std::string(op) + ": output size overflows int64");
        }
    } else {
        if (h % factor != 0 || w % factor != 0) {
            return invalid(std::string(op) + ": height " + std::to_string(h) + " and width " + std::to_string(w) +
                           " must be divisible by downscale_factor " + std::to_string(factor));
        }
        if (__builtin_mul_overflow(c, area, &c)) return invalid(std::string(op) + ": output size overflows int64");
        h /= factor;
        w /= factor;
    }
    Status s = detail::check_count(sizes, "output");
    if (s.ok()) *output_sizes = sizes;
    return s;
}

// The 6-D Halide view of the image side (*, C, H*r, W*r): (j, w, i, h, c, n).
void image_view(const TensorView &t, const std::vector<int64_t> &strides, int64_t r, int64_t offset, int64_t batch,
                int64_t batch_stride, detail::HalideView *v) {
    const int rank = (int)t.sizes.size();
    v->init(static_cast<const float *>(t.data) + offset, 6);
    v->set(0, r, strides[rank - 1]);
    v->set(1, t.sizes[rank - 1] / r, r * strides[rank - 1]);
    v->set(2, r, strides[rank - 2]);
    v->set(3, t.sizes[rank - 2] / r, r * strides[rank - 2]);
    v->set(4, t.sizes[rank - 3], strides[rank - 3]);
    v->set(5, batch, batch_stride);
}

// The 6-D Halide view of the block side (*, C*r*r, H, W): (w, h, j, i, c, n).
void block_view(const TensorView &t, const std::vector<int64_t> &strides, int64_t r, int64_t offset, int64_t batch,
                int64_t batch_stride, detail::HalideView *v) {
    const int rank = (int)t.sizes.size();
    v->init(static_cast<const float *>(t.data) + offset, 6);
    v->set(0, t.sizes[rank - 1], strides[rank - 1]);
    v->set(1, t.sizes[rank - 2], strides[rank - 2]);
    v->set(2, r, strides[rank - 3]);
    v->set(3, r, r * strides[rank - 3]);
    v->set(4, t.sizes[rank - 3] / (r * r), r * r * strides[rank - 3]);
    v->set(5, batch, batch_stride);
}

Status run_shuffle(const char *op, const TensorView &input, const TensorView &output, int64_t factor, bool shuffle) {
    Status s = detail::check_tensor(input, "input", 3, kMaxRank);
    std::vector<int64_t> sizes;
    if (s.ok()) s = shuffle_sizes(op, input.sizes, factor, shuffle, &sizes);
    Device device = Device::Host;
    if (s.ok()) s = detail::check_call({{&input, "input"}, {&output, "output", &sizes, 3, kMaxRank}}, &device);
    if (!s.ok() || detail::element_count(sizes) == 0) return s;

    const TensorView &image = shuffle ? output : input, &blocks = shuffle ? input : output;
    const std::vector<int64_t> image_strides = detail::strides_of(image), block_strides = detail::strides_of(blocks);
    const int rank = (int)input.sizes.size(), batch_dims = rank - 3;
    // Leading dims: the innermost batch dims that nest in both tensors become one Halide dim;
    // the rest are looped over here.
    int flat = batch_dims;  // first batch dim of the flattened run
    int64_t batch = batch_dims ? input.sizes[batch_dims - 1] : 1;
    while (flat > 1) {
        const int d = flat - 2;
        const bool nests = image_strides[d] == image_strides[d + 1] * input.sizes[d + 1] &&
                           block_strides[d] == block_strides[d + 1] * input.sizes[d + 1];
        if (!nests) break;
        batch *= input.sizes[d];
        flat--;
    }
    if (batch_dims) flat--;  // `flat` is now the flattened run's outermost dim
    const int64_t image_batch_stride = batch_dims ? image_strides[batch_dims - 1] : 0;
    const int64_t block_batch_stride = batch_dims ? block_strides[batch_dims - 1] : 0;

    // The variant vectorises the dense dim of the side that is not the image's x: channels_last
    // when the channels are dense (and more than one), planar otherwise.
    const TensorView &vectorised = shuffle ? output : input;
    const bool channels_last = detail::channels_dense(vectorised, rank - 3);
    using Kernel = int (*)(const void *, halide_buffer_t *, halide_buffer_t *);
    Kernel kernel = shuffle ? (channels_last ? hup_pixel_shuffle_channels_last : hup_pixel_shuffle_planar)
                            : (channels_last ? hup_pixel_unshuffle_channels_last : hup_pixel_unshuffle_planar);
    if (device != Device::Host) {
        s = detail::gpu_kernel(shuffle ? "hup_pixel_shuffle_gpu" : "hup_pixel_unshuffle_gpu", device, &kernel);
        if (!s.ok()) return s;
        // Device memory cannot be offset from here: its batch dims must flatten into one.
        if (flat > 0 && input.device != Device::Host) {
            return Status(StatusCode::Unsupported, std::string(op) + ": device tensors whose batch dims do not nest");
        }
    }

    // Planar outputs that leave the caches are written with non-temporal stores where each
    // call's view is aligned for it (a row: shuffle's (j, w), unshuffle's w).
    const int64_t output_elements = detail::element_count(sizes);
    const Kernel streaming = shuffle ? hup_pixel_shuffle_planar_stream : hup_pixel_unshuffle_planar_stream;

    std::vector<int64_t> outer(std::max(flat, 0), 0);  // index over the looped batch dims
    while (true) {
        int64_t image_offset = 0, block_offset = 0;
        for (int d = 0; d < (int)outer.size(); d++) {
            image_offset += outer[d] * image_strides[d];
            block_offset += outer[d] * block_strides[d];
        }
        detail::HalideView image_buf, block_buf;
        image_view(image, image_strides, factor, image_offset, batch, image_batch_stride, &image_buf);
        block_view(blocks, block_strides, factor, block_offset, batch, block_batch_stride, &block_buf);
        halide_buffer_t *in = shuffle ? &block_buf.buffer : &image_buf.buffer;
        halide_buffer_t *out = shuffle ? &image_buf.buffer : &block_buf.buffer;
        if (device == Device::Host) {
            const bool streamed = !channels_last && detail::stream_into(shuffle ? &image_buf : &block_buf,
                                                                        output_elements, shuffle ? 2 : 1);
            const Kernel host_kernel = streamed ? streaming : kernel;
            s = detail::run_pipeline(op, [&](void *user_context) { return host_kernel(user_context, in, out); });
        } else {
            detail::DeviceCall call(device);
            s = call.bind(input, in, false);
            if (s.ok()) s = call.bind(output, out, true);
            if (s.ok()) s = call.run(op, [&](void *user_context) { return kernel(user_context, in, out); });
        }
        if (!s.ok()) return s;
        int d = (int)outer.size() - 1;
        for (; d >= 0; d--) {
            if (++outer[d] < input.sizes[d]) break;
            outer[d] = 0;
        }
        if (d < 0) break;
    }
    return Status::Ok();
}

}  // namespace

Status pixel_shuffle_output_sizes(const std::vector<int64_t> &input_sizes, int64_t upscale_factor,
                                  std::vector<int64_t> *output_sizes) {
    if (!output_sizes) return invalid("output_sizes is null");
    return shuffle_sizes("pixel_shuffle", input_sizes, upscale_factor, true, output_sizes);
}

Status pixel_unshuffle_output_sizes(const std::vector<int64_t> &input_sizes, int64_t downscale_factor,
                                    std::vector<int64_t> *output_sizes) {
    if (!output_sizes) return invalid("output_sizes is null");
    return shuffle_sizes("pixel_unshuffle", input_sizes, downscale_factor, false, output_sizes);
}

Status pixel_shuffle(const TensorView &input, const TensorView &output, int64_t upscale_factor) {
    return run_shuffle("pixel_shuffle", input, output, upscale_factor, true);
}

Status pixel_unshuffle(const TensorView &input, const TensorView &output, int64_t downscale_factor) {
    return run_shuffle("pixel_unshuffle", input, output, downscale_factor, false);
}

}  // namespace hup
