//===- runtime/Config.cpp - ~/.kilnrc and KILN_FLAGS ----------------------===//
#include "runtime/Config.h"

#include "ir/Limits.h"

#include <ini.h>

#include <cstdlib>
#include <filesystem>
#include <algorithm>

namespace kiln {

namespace {

/// One key of the configuration: its canonical name (an [nn] key as
/// `nn__key`, Theano's spelling of a section), the values allowed (empty:
/// any) and how it sets the Config.
struct Key {
  const char *name;
  std::vector<std::string> allowed;
  const char *defaultValue;
};

const std::vector<Key> &keys() {
  static const std::vector<Key> k = {
      {"device", {"cpu", "cuda", "gpu"}, "cpu"},
      {"floatX", {"float32", "float64"}, "float32"},
      {"optimizer", {"fast_run", "fast_compile", "none"}, "fast_run"},
      {"mode", {"FAST_RUN", "DebugMode", "NanGuardMode"}, "FAST_RUN"},
      {"cache_dir", {}, ""},
      {"dump_dir", {}, ""},
      {"profile", {"True", "False", "true", "false", "1", "0"}, "False"},
      {"max_memory", {}, ""},
      {"nn__image_data_format", {"channels_first", "channels_last"}, "channels_first"},
      {"nn__image_dim_ordering", {"th", "tf"}, "th"},
  };
  return k;
}

std::string expandHome(const std::string &path) {
  if (path.empty() || path[0] != '~')
    return path;
  const char *home = std::getenv("HOME");
  return std::string(home ? home : "") + path.substr(1);
}

/// Sets `key` (canonical) to `value`, checked against what it allows.
Status apply(Config &c, const std::string &key, const std::string &value,
             const std::string &source) {
  const auto &all = keys();
  auto it = std::find_if(all.begin(), all.end(), [&](const Key &k) { return key == k.name; });
  if (it == all.end()) {
    std::vector<std::string> names;
    for (const Key &k : all)
      names.push_back(k.name);
    return makeError("error: {}: unknown config key '{}' (the keys: {})", source, key, fmt::join(names, ", "));
  }
  if (!it->allowed.empty() && std::find(it->allowed.begin(), it->allowed.end(), value) == it->allowed.end())
    return makeError("error: {}: {} = '{}' is not allowed (one of: {})", source, key, value, fmt::join(it->allowed, ", "));
  if (key == "max_memory") {
    auto bytes = ir::parseByteSize(value);
    if (!bytes)
      return makeError("error: {}: max_memory = '{}': {}", source, value, bytes.error().message);
    c.maxMemory = value;
  } else if (key == "device") {
    c.device = value == "cpu" ? passes::Device::Cpu : passes::Device::Cuda;
  } else if (key == "floatX") {
    c.floatX = value == "float64" ? ir::DType::F64 : ir::DType::F32;
  } else if (key == "optimizer") {
    c.optLevel = value == "fast_run" ? 2 : value == "fast_compile" ? 1 : 0;
  } else if (key == "mode") {
    c.mode = value == "FAST_RUN" ? Mode::FastRun : value == "DebugMode" ? Mode::Debug : Mode::NanGuard;
  } else if (key == "cache_dir") {
    c.cacheDir = expandHome(value);
  } else if (key == "dump_dir") {
    c.dumpDir = expandHome(value);
  } else if (key == "profile") {
    c.profile = value == "True" || value == "true" || value == "1";
  } else if (key == "nn__image_data_format") {
    c.channelsLast = value == "channels_last";
  } else if (key == "nn__image_dim_ordering") {
    c.channelsLast = value == "tf";
  }
  size_t i = static_cast<size_t>(it - all.begin());
  c.entries[i].value = value;
  c.entries[i].source = source;
  // The two spellings of the image format are one setting: both show it.
  if (key.rfind("nn__image_", 0) == 0) {
    size_t other = key == "nn__image_data_format" ? i + 1 : i - 1;
    c.entries[other].value = other == i + 1 ? (c.channelsLast ? "tf" : "th")
                                            : (c.channelsLast ? "channels_last" : "channels_first");
    c.entries[other].source = source;
  }
  return {};
}

struct FileEntry {
  std::string section, key, value;
};

int onEntry(void *user, const char *section, const char *name, const char *value) {
  static_cast<std::vector<FileEntry> *>(user)->push_back({section, name, value});
  return 1;
}

/// Reads one INI file's entries; a line inih cannot parse is an error naming it.
Expected<std::vector<FileEntry>> readIni(const std::string &path) {
  std::vector<FileEntry> entries;
  int rc = ini_parse(path.c_str(), onEntry, &entries);
  if (rc > 0)
    return makeError("error: {}:{}: not an INI line (`[section]` or `key = value`)", path, rc);
  if (rc < 0)
    return makeError("error: {}: cannot be read", path);
  return entries;
}

} // namespace

std::string_view floatXName(ir::DType dt) { return dt == ir::DType::F64 ? "float64" : "float32"; }

Expected<Config> loadConfig(const std::string &rcPaths, const std::string &flags) {
  Config c;
  for (const Key &k : keys())
    c.entries.push_back({k.name, k.defaultValue, "default"});
  size_t start = 0;
  while (start <= rcPaths.size() && !rcPaths.empty()) {
    size_t colon = rcPaths.find(':', start);
    std::string path = expandHome(rcPaths.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
    start = colon == std::string::npos ? rcPaths.size() + 1 : colon + 1;
    std::error_code ec;
    if (path.empty() || !std::filesystem::exists(path, ec))
      continue;
    KILN_ASSIGN(auto entries, readIni(path));
    for (const FileEntry &e : entries) {
      std::string section = e.section.empty() ? "global" : e.section;
      if (section != "global" && section != "nn")
        return makeError("error: {}: unknown section [{}] (the sections: [global], [nn])", path, section);
      std::string key = section == "nn" ? "nn__" + e.key : e.key;
      KILN_TRY(apply(c, key, e.value, path));
    }
  }
  // KILN_FLAGS: key=value,key=value (Theano's THEANO_FLAGS).
  start = 0;
  while (start < flags.size()) {
    size_t comma = flags.find(',', start);
    std::string item = flags.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? flags.size() : comma + 1;
    if (item.empty())
      continue;
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      return makeError("error: KILN_FLAGS: '{}' is not key=value", item);
    std::string key = item.substr(0, eq);
    if (key == "image_data_format" || key == "image_dim_ordering")
      key = "nn__" + key;
    KILN_TRY(apply(c, key, item.substr(eq + 1), "KILN_FLAGS"));
  }
  return c;
}

std::string configFiles() {
  if (const char *rc = std::getenv("KILNRC"))
    return rc;
  return "~/.kilnrc";
}

const Expected<Config> &config() {
  static const Expected<Config> loaded = [] {
    const char *flags = std::getenv("KILN_FLAGS");
    auto c = loadConfig(configFiles(), flags ? flags : "");
    if (c && !c->maxMemory.empty())
      ir::setMemoryLimit(*ir::parseByteSize(c->maxMemory));
    return c;
  }();
  return loaded;
}

} // namespace kiln
