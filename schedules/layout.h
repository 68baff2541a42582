// The memory layouts a CPU variant is compiled for (a GeneratorParam of every generator).
#pragma once

#include <map>
#include <string>

namespace hup {

// Planar: the innermost spatial dim (W) is dense. ChannelsLast: the channel dim is dense.
enum class Layout { Planar, ChannelsLast };

inline std::map<std::string, Layout> layout_names() {
    return {{"planar", Layout::Planar}, {"channels_last", Layout::ChannelsLast}};
}

}  // namespace hup
