// relayout: copies a tensor between memory layouts (planar <-> channels_last), for operators
// whose fast kernels want the other layout (conv_transpose runs planar tensors through its
// channels_last kernel). The algorithm is the identity; the schedule is the transpose.
#include "Halide.h"
#include "spatial_vars.h"

#include "relayout_schedule.h"

namespace hup {

using namespace Halide;

class Relayout : public Generator<Relayout> {
public:
    GeneratorParam<int> spatial_rank{"spatial_rank", 2, 1, 3};
    // Halide dims: (spatial..., c, n), any strides.
    Input<Buffer<float>> in{"in"};
    Output<Buffer<float>> out{"out"};

    void generate() {
        std::vector<Var> dims = spatial_vars(spatial_rank);
        dims.emplace_back("c");
        dims.emplace_back("n");
        out(dims) = in(dims);
        schedule_relayout_cpu(get_target(), dims, in, out);
    }
};

}  // namespace hup

HALIDE_REGISTER_GENERATOR(hup::Relayout, relayout)
