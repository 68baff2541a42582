// LLVM options that a schedule chooses per variant.
//
// Halide hands HL_LLVM_ARGS to LLVM when it first starts LLVM, which in a generator's process
// is after generate(); and each process compiles one variant (for each of its targets). So a
// schedule sets them from generate(), for its variant alone. A flag already in HL_LLVM_ARGS
// (from whoever runs the generator) wins.
#pragma once

#include <cstdlib>
#include <string>

namespace hup {

// The `llvm_slp` knob: whether LLVM's SLP vectorizer runs after Halide has vectorised what the
// schedule asks for. It packs scalar code into vectors, which pays in interpolate's gathers (tap
// arithmetic: off, bilinear x1.5 ran 17% more instructions) and costs in conv_transpose's
// register tiles, whose 8 position addresses it computed in vector registers and moved back
// out one by one (6 uops per 8 FMAs, where a general register per position costs none).
// On (true) is LLVM's default and sets nothing.
inline void use_slp_vectorizer(bool on) {
    const char *given = std::getenv("HL_LLVM_ARGS");
    const std::string flags = given ? given : "";
    if (on || flags.find("-vectorize-slp") != std::string::npos) return;
    setenv("HL_LLVM_ARGS", (flags + (flags.empty() ? "" : " ") + "-vectorize-slp=false").c_str(), 1);
}

}  // namespace hup
