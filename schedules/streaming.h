// Outputs streamed past the caches: what a schedule promises so that its stores can be
// non-temporal.
#pragma once

#include "Halide.h"

namespace hup {

// Halide 14 has no non-temporal stores. A kernel built with hup_add_streaming_kernel
// (cmake/HupKernels.cmake) has the vector stores to its outputs that Halide proves aligned
// made non-temporal in the LLVM IR (cmake/streaming_ir.py), and x86 has only aligned
// ones. This makes every whole vector along the dense dim 64-byte aligned: the host pointer
// 64-byte aligned, the dense dim from 0, every other stride a multiple of 16 floats. The
// runtime calls such a variant only on outputs that satisfy it (detail::make_streamable); a
// vector at a row's end that GuardWithIf masks stays an ordinary store.
// Takes the output Func, all of whose buffers (a Tuple's) it constrains; the mins only on the
// first, as Halide requires (the others share them). `row_dims` dims from dim 0 make up a
// row (pixel_shuffle's output: the sub-position j, of stride 1, and w, of stride r): they start
// at 0, and the strides of the dims above them are multiples of 16 floats.
inline void align_for_streaming(Halide::Func output, int row_dims = 1) {
    bool first = true;
    for (Halide::OutputImageParam out : output.output_buffers()) {
        out.set_host_alignment(64);
        for (int d = 0; first && d < row_dims; d++) out.dim(d).set_min(0);
        out.dim(0).set_stride(1);
        for (int d = row_dims; d < out.dimensions(); d++) out.dim(d).set_stride((out.dim(d).stride() / 16) * 16);
        first = false;
    }
}

}  // namespace hup
