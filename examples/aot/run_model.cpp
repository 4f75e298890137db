//===- examples/aot/run_model.cpp - Run any `kiln compile`d model ----------===//
//
// A C++ program that runs the inference object of any model compiled with
// `kiln compile MODEL -o model.o --name model`, on .npy inputs, writing one
// .npy per output; it reads the shapes and dtypes from the object itself
// (model_tensor_info), so one program serves every model. It uses nothing
// of kiln: build it as
//
//   c++ -O2 run_model.cpp model.o -fopenmp -lm -o run_model
//   ./run_model OUT_DIR INPUT.npy...        (one .npy per input, in order)
//   ./run_model --benchmark N OUT_DIR INPUT.npy...   (and times N more runs)
//   ./run_model --weights FILE.safetensors OUT_DIR INPUT.npy...
//                       (a model compiled with --weights FILE: its weights)
//
// Supports little-endian .npy files of version 1 or 2, C order.
//
//===----------------------------------------------------------------------===//
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

extern "C" {
struct model_model;
int model_init(model_model **m, const char *weights);
void model_free(model_model *m);
size_t model_workspace_size(int64_t batch);
int model_run(model_model *m, int64_t batch, void *const *inputs, void *const *outputs, void *workspace);
const char *model_error(int status);
int model_tensor_count(int kind);
int model_tensor_info(int kind, int i, const char **name, int *dtype, int *rank, int64_t *dims, int *batched);
}

namespace {

// kiln's dtypes, by number, as NumPy spells them.
const char *const kDescr[] = {"<f4", "<f8", "<f2", "<V2", "<i8", "<i4", "|i1", "|u1", "|b1"};
const int kWidth[] = {4, 8, 2, 2, 8, 4, 1, 1, 1};

struct Npy {
  std::string descr;
  std::vector<int64_t> shape;
  std::string data;
};

bool readNpy(const std::string &path, Npy &out) {
  std::ifstream f(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
    return false;
  size_t hlen = bytes[6] == 1 ? static_cast<uint8_t>(bytes[8]) | static_cast<uint8_t>(bytes[9]) << 8
                              : static_cast<uint32_t>(static_cast<uint8_t>(bytes[8]) | static_cast<uint8_t>(bytes[9]) << 8 |
                                                      static_cast<uint8_t>(bytes[10]) << 16);
  size_t start = bytes[6] == 1 ? 10 : 12;
  std::string header = bytes.substr(start, hlen);
  size_t d = header.find("'descr': '");
  size_t s = header.find("'shape': (");
  if (d == std::string::npos || s == std::string::npos || header.find("'fortran_order': True") != std::string::npos)
    return false;
  out.descr = header.substr(d + 10, 3);
  std::istringstream dims(header.substr(s + 10, header.find(')', s) - s - 10));
  std::string item;
  while (std::getline(dims, item, ','))
    if (item.find_first_not_of(' ') != std::string::npos)
      out.shape.push_back(std::stoll(item));
  out.data = bytes.substr(start + hlen);
  return true;
}

bool writeNpy(const std::string &path, int dtype, const std::vector<int64_t> &shape, const void *data, size_t bytes) {
  std::string dims;
  for (int64_t d : shape)
    dims += std::to_string(d) + ",";
  if (shape.size() > 1)
    dims.pop_back();
  std::string header = std::string("{'descr': '") + kDescr[dtype] + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  header.append(63 - (10 + header.size()) % 64, ' ');
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  f.write("\x93NUMPY\x01\x00", 8);
  char len[2] = {static_cast<char>(header.size() & 0xff), static_cast<char>(header.size() >> 8)};
  f.write(len, 2);
  f << header;
  f.write(static_cast<const char *>(data), static_cast<std::streamsize>(bytes));
  return static_cast<bool>(f);
}

} // namespace

int main(int argc, char **argv) {
  int runs = 0;
  const char *weights = nullptr;
  while (argc > 2 && (std::string(argv[1]) == "--benchmark" || std::string(argv[1]) == "--weights")) {
    if (std::string(argv[1]) == "--benchmark")
      runs = std::atoi(argv[2]);
    else
      weights = argv[2];
    argc -= 2;
    argv += 2;
  }
  int inputs = model_tensor_count(0), outputs = model_tensor_count(1);
  if (argc != 2 + inputs) {
    std::cerr << "usage: " << argv[0] << " OUT_DIR INPUT.npy... (the model takes " << inputs << " inputs)\n";
    return 1;
  }
  std::vector<Npy> in(static_cast<size_t>(inputs));
  std::vector<void *> inPtrs;
  int64_t batch = 1;
  for (int i = 0; i < inputs; ++i) {
    const char *name;
    int dtype, rank, batched;
    int64_t dims[8];
    model_tensor_info(0, i, &name, &dtype, &rank, dims, &batched);
    Npy &t = in[static_cast<size_t>(i)];
    if (!readNpy(argv[2 + i], t) || t.descr != kDescr[dtype] || static_cast<int>(t.shape.size()) != rank) {
      std::cerr << argv[2 + i] << ": not a .npy of " << kDescr[dtype] << " with rank " << rank << " for input '" << name
                << "'\n";
      return 1;
    }
    for (int d = batched ? 1 : 0; d < rank; ++d)
      if (t.shape[static_cast<size_t>(d)] != dims[d]) {
        std::cerr << argv[2 + i] << ": dim " << d << " is " << t.shape[static_cast<size_t>(d)] << ", input '" << name
                  << "' has " << dims[d] << "\n";
        return 1;
      }
    if (batched)
      batch = t.shape[0];
    inPtrs.push_back(t.data.data());
  }
  std::vector<std::string> out(static_cast<size_t>(outputs));
  std::vector<void *> outPtrs;
  std::vector<std::vector<int64_t>> outShapes;
  std::vector<int> outTypes;
  std::vector<std::string> outNames;
  for (int i = 0; i < outputs; ++i) {
    const char *name;
    int dtype, rank, batched;
    int64_t dims[8];
    model_tensor_info(1, i, &name, &dtype, &rank, dims, &batched);
    std::vector<int64_t> shape(dims, dims + rank);
    if (batched)
      shape[0] = batch;
    int64_t elements = 1;
    for (int64_t d : shape)
      elements *= d;
    out[static_cast<size_t>(i)].assign(static_cast<size_t>(elements * kWidth[dtype]), '\0');
    outPtrs.push_back(out[static_cast<size_t>(i)].data());
    outShapes.push_back(shape);
    outTypes.push_back(dtype);
    outNames.push_back(name);
  }
  model_model *m = nullptr;
  int st = model_init(&m, weights);
  std::vector<char> workspace(model_workspace_size(batch));
  if (!st)
    st = model_run(m, batch, inPtrs.data(), outPtrs.data(), workspace.data());
  // As kiln run --benchmark: after that warm-up, `runs` timed runs.
  std::vector<double> ms;
  for (int r = 0; r < runs && !st; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    st = model_run(m, batch, inPtrs.data(), outPtrs.data(), workspace.data());
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  if (!ms.empty()) {
    std::sort(ms.begin(), ms.end());
    double median = ms.size() % 2 ? ms[ms.size() / 2] : (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]) / 2;
    std::printf("latency median %.3f ms, min %.3f ms over %d runs, %.1f images/s\n", median, ms.front(), runs,
                1000.0 * static_cast<double>(batch) / median);
  }
  model_free(m);
  if (st) {
    std::cerr << "run_model: " << model_error(st) << "\n";
    return 1;
  }
  for (int i = 0; i < outputs; ++i) {
    std::string file = outNames[static_cast<size_t>(i)];
    for (char &c : file)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-')
        c = '_';
    if (!writeNpy(std::string(argv[1]) + "/" + file + ".npy", outTypes[static_cast<size_t>(i)],
                  outShapes[static_cast<size_t>(i)], out[static_cast<size_t>(i)].data(), out[static_cast<size_t>(i)].size()))
      return 1;
  }
  return 0;
}
