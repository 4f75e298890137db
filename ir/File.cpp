//===- ir/File.cpp - Reading whole files ----------------------------------===//
#include "ir/File.h"

#include <fstream>
#include <sstream>

namespace kiln {

Expected<std::string> readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return makeError("{}: cannot open the file", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace kiln
