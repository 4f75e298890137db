//===- runtime/Config.h - ~/.kilnrc and KILN_FLAGS -------------*- C++ -*-===//
//
// kiln's configuration as Theano users know it (`.theanorc`,
// `THEANO_FLAGS`), read by the library itself: Function and Trainer take
// their defaults from it, the tools too. Precedence, lowest first:
//
//   built-in defaults < the config file < KILN_FLAGS < options in code
//
// The file is `$KILNRC` if set (a list of files separated by ':', later
// ones winning, as THEANORC), else `~/.kilnrc`; it is INI (read with inih):
//
//   [global]
//   device = cpu            # cpu, cuda or gpu (gpu means cuda)
//   floatX = float32        # float32 or float64: the default float dtype
//   optimizer = fast_run    # fast_run (-O2), fast_compile (-O1), none (-O0)
//   mode = FAST_RUN         # FAST_RUN, DebugMode, NanGuardMode
//   cache_dir = ~/.cache/kiln
//   dump_dir =              # every compile's stages written here
//   profile = False         # print where the time went after training
//   max_memory = 80%        # the memory limit (ir/Limits.h)
//   [nn]
//   image_data_format = channels_first   # or channels_last (Keras 2)
//   # image_dim_ordering = th            # Keras 1's spelling: th or tf
//
// `KILN_FLAGS=device=cuda,floatX=float64` overrides the file (an [nn] key
// as `nn__image_data_format` or plain `image_data_format`). An unknown key
// or a bad value is an error naming the key, where it came from and the
// values allowed.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Error.h"
#include "ir/Type.h"
#include "passes/Target.h"

#include <optional>
#include <string>
#include <vector>

namespace kiln {

/// Theano's modes: FAST_RUN runs; DebugMode also runs every call on the
/// reference interpreter and compares outputs and updates; NanGuardMode
/// checks every output and updated parameter for NaN and Inf.
enum class Mode { FastRun, Debug, NanGuard };

/// One effective setting, for `kiln config`: its value and where it came
/// from (`default`, the file's path, or `KILN_FLAGS`).
struct ConfigEntry {
  std::string key, value, source;
};

struct Config {
  passes::Device device = passes::Device::Cpu;
  ir::DType floatX = ir::DType::F32;
  int optLevel = 2; ///< optimizer: fast_run 2, fast_compile 1, none 0
  Mode mode = Mode::FastRun;
  std::string cacheDir; ///< empty: the default ($KILN_CACHE_DIR, then ~/.cache/kiln)
  std::string dumpDir;  ///< empty: no dumps
  bool profile = false;
  std::string maxMemory; ///< empty: the default limit
  bool channelsLast = false; ///< [nn] image_data_format
  /// Every key with its effective value and source, in the order above.
  std::vector<ConfigEntry> entries;
};

/// Reads the files of `rcPaths` (':'-separated; a missing file is skipped)
/// and then `flags` (KILN_FLAGS's text; empty: none) over the defaults.
Expected<Config> loadConfig(const std::string &rcPaths, const std::string &flags);

/// The process's configuration, read once from $KILNRC (or ~/.kilnrc) and
/// $KILN_FLAGS on first use; the error if either is bad.
const Expected<Config> &config();

/// The config file list the process reads: $KILNRC, else ~/.kilnrc.
std::string configFiles();

/// `float32`/`float64` for a dtype floatX can be.
std::string_view floatXName(ir::DType dt);

} // namespace kiln
