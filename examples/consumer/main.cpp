// Links the installed libhup (no Halide headers needed) and upsamples a 1x1x2x2 image.
#include <hup/hup.h>

#include <cstdio>
#include <vector>

int main() {
    std::vector<float> in = {1, 2, 3, 4}, out(16, 0.f);
    hup::TensorView input{in.data(), hup::DType::Float32, {1, 1, 2, 2}, {}};
    hup::TensorView output{out.data(), hup::DType::Float32, {1, 1, 4, 4}, {}};
    hup::InterpolateOptions options;
    options.mode = hup::InterpolateMode::Nearest;
    options.scale_factor = {2.0};
    hup::set_num_threads(2);
    hup::Status status = hup::interpolate(input, output, options);
    if (!status.ok()) {
        std::fprintf(stderr, "interpolate failed: %s\n", status.message().c_str());
        return 1;
    }
    // Nearest x2 repeats each pixel in a 2x2 block.
    const float expected[16] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
    for (int i = 0; i < 16; i++) {
        if (out[i] != expected[i]) {
            std::fprintf(stderr, "mismatch at %d: %g\n", i, out[i]);
            return 1;
        }
    }
    // Bad input comes back as a Status, never an abort.
    options.align_corners = true;
    if (hup::interpolate(input, output, options).ok()) return 1;
    std::printf("consumer: hup::interpolate OK\n");
    return 0;
}
