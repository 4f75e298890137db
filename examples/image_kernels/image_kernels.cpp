//===- examples/image_kernels/image_kernels.cpp - Convolution as image kernels ===//
//
// fast.ai's first lesson starts with convolutions as image kernels (setosa.io's
// "Image Kernels" page): a 3x3 kernel slides over a grayscale image and each
// output pixel is the weighted sum of the 3x3 pixels around it. Here all nine
// kernels of that page are one kiln `conv` with nine output channels,
// compiled once with kiln::function and run on one image:
//
//   image_kernels IMAGE.pgm [OUT_DIR]          a binary PGM (P5), any size
//   image_kernels --fashion-mnist K [OUT_DIR]  image K of Fashion-MNIST's test set
//   ... --check                                also compare with a hand loop
//
// It writes OUT_DIR/NAME.png (and .pgm) for every kernel, with the input as
// input.png; the outputs are clamped to 0-255 as setosa.io shows them, and
// images smaller than 112 pixels are enlarged (nearest) to be seen.
// Built as build/examples/image-kernels; ctest runs it with --check.
//
//===----------------------------------------------------------------------===//
#include <kiln/kiln.h>

#include "runtime/Data.h"

#include <CLI/CLI.hpp>
#include <png.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

struct Image {
  int64_t width = 0, height = 0;
  std::vector<float> pixels; ///< 0-255, row by row
};

struct NamedKernel {
  const char *name;
  float k[9];
};

/// setosa.io/ev/image-kernels, in its order.
const NamedKernel kKernels[] = {
    {"blur", {0.0625f, 0.125f, 0.0625f, 0.125f, 0.25f, 0.125f, 0.0625f, 0.125f, 0.0625f}},
    {"bottom_sobel", {-1, -2, -1, 0, 0, 0, 1, 2, 1}},
    {"emboss", {-2, -1, 0, -1, 1, 1, 0, 1, 2}},
    {"identity", {0, 0, 0, 0, 1, 0, 0, 0, 0}},
    {"left_sobel", {1, 0, -1, 2, 0, -2, 1, 0, -1}},
    {"outline", {-1, -1, -1, -1, 8, -1, -1, -1, -1}},
    {"right_sobel", {-1, 0, 1, -2, 0, 2, -1, 0, 1}},
    {"sharpen", {0, -1, 0, -1, 5, -1, 0, -1, 0}},
    {"top_sobel", {1, 2, 1, 0, 0, 0, -1, -2, -1}},
};
constexpr int64_t kNumKernels = sizeof(kKernels) / sizeof(kKernels[0]);

bool fail(const std::string &message) {
  std::fprintf(stderr, "image_kernels: %s\n", message.c_str());
  return false;
}

/// A binary PGM (P5, maxval <= 255).
bool readPgm(const std::string &path, Image &img) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return fail(path + ": cannot be opened");
  std::string magic;
  int64_t maxval = 0;
  in >> magic;
  auto skipComments = [&] {
    in >> std::ws;
    while (in.peek() == '#') {
      std::string line;
      std::getline(in, line);
      in >> std::ws;
    }
  };
  skipComments();
  in >> img.width;
  skipComments();
  in >> img.height;
  skipComments();
  in >> maxval;
  in.get();
  if (magic != "P5" || !in || img.width <= 0 || img.height <= 0 || img.width > 8192 || img.height > 8192 ||
      maxval <= 0 || maxval > 255)
    return fail(path + ": not a binary 8-bit PGM (P5) of at most 8192x8192 pixels");
  std::vector<unsigned char> bytes(static_cast<size_t>(img.width * img.height));
  in.read(reinterpret_cast<char *>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!in)
    return fail(path + ": the pixel data is cut short");
  img.pixels.assign(bytes.begin(), bytes.end());
  return true;
}

/// Image `index` of Fashion-MNIST's test set (Debian's dataset-fashion-mnist).
bool readFashion(int64_t index, Image &img) {
  auto images = kiln::data::readIdx(std::string(kiln::data::kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz");
  if (!images)
    return fail(images.error().message);
  if (index < 0 || index >= images->sizes()[0])
    return fail("--fashion-mnist " + std::to_string(index) + ": the test set has " +
                std::to_string(images->sizes()[0]) + " images");
  img.height = images->sizes()[1];
  img.width = images->sizes()[2];
  for (int64_t i = 0; i < img.width * img.height; ++i)
    img.pixels.push_back(static_cast<float>(images->get(index * img.width * img.height + i)));
  return true;
}

/// Clamped to 0-255 and enlarged `scale` times, as 8-bit gray.
std::vector<unsigned char> toBytes(const float *pixels, int64_t w, int64_t h, int64_t scale) {
  std::vector<unsigned char> out(static_cast<size_t>(w * h * scale * scale));
  for (int64_t y = 0; y < h * scale; ++y)
    for (int64_t x = 0; x < w * scale; ++x)
      out[static_cast<size_t>(y * w * scale + x)] =
          static_cast<unsigned char>(std::clamp(std::lround(pixels[(y / scale) * w + x / scale]), 0L, 255L));
  return out;
}

bool writePng(const std::string &path, const std::vector<unsigned char> &gray, int64_t w, int64_t h) {
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    return fail(path + ": cannot be written");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    std::fclose(f);
    return fail(path + ": libpng could not write it");
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, static_cast<png_uint_32>(w), static_cast<png_uint_32>(h), 8, PNG_COLOR_TYPE_GRAY,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int64_t y = 0; y < h; ++y)
    png_write_row(png, gray.data() + y * w);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return std::fclose(f) == 0 || fail(path + ": cannot be written");
}

bool writeImages(const std::string &dir, const std::string &name, const float *pixels, int64_t w, int64_t h) {
  int64_t scale = std::max<int64_t>(1, 112 / std::max(w, h));
  std::vector<unsigned char> big = toBytes(pixels, w, h, scale), plain = toBytes(pixels, w, h, 1);
  std::ofstream pgm(dir + "/" + name + ".pgm", std::ios::binary);
  pgm << "P5\n" << w << " " << h << "\n255\n";
  pgm.write(reinterpret_cast<const char *>(plain.data()), static_cast<std::streamsize>(plain.size()));
  return pgm.good() && writePng(dir + "/" + name + ".png", big, w * scale, h * scale);
}

/// The hand loop: kernel `k` over `img` with zero padding ("same").
float handConv(const Image &img, const float *k, int64_t y, int64_t x) {
  float sum = 0;
  for (int64_t dy = -1; dy <= 1; ++dy)
    for (int64_t dx = -1; dx <= 1; ++dx) {
      int64_t yy = y + dy, xx = x + dx;
      if (yy >= 0 && yy < img.height && xx >= 0 && xx < img.width)
        sum += k[(dy + 1) * 3 + dx + 1] * img.pixels[static_cast<size_t>(yy * img.width + xx)];
    }
  return sum;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"Convolution as image kernels: the nine 3x3 kernels of setosa.io, as one kiln conv"};
  std::string input, outDir;
  int64_t fashion = -1;
  bool check = false;
  app.add_option("image", input, "A binary 8-bit PGM (P5)");
  app.add_option("out_dir", outDir, "Where the PNGs go (default: next to the image, or .)");
  app.add_option("--fashion-mnist", fashion, "Use image INDEX of Fashion-MNIST's test set instead")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--check", check, "Compare every result with a hand loop");
  CLI11_PARSE(app, argc, argv);
  if (fashion >= 0 && !input.empty() && outDir.empty()) // `--fashion-mnist K OUT_DIR`
    std::swap(input, outDir);
  Image img;
  if (fashion >= 0 ? !readFashion(fashion, img) : input.empty() ? !fail("give IMAGE.pgm or --fashion-mnist INDEX")
                                                                 : !readPgm(input, img))
    return 1;
  if (outDir.empty())
    outDir = fashion >= 0 ? "." : std::filesystem::path(input).parent_path().string();
  if (outDir.empty())
    outDir = ".";
  std::error_code ec;
  std::filesystem::create_directories(outDir, ec);

  // The graph: the image as x[1, 1, H, W] (this image's size), the nine
  // kernels as w[9, 1, 3, 3] (a constant), one convolution padded by 1 so
  // that the size stays.
  kiln::Graph g("image_kernels");
  auto x = g.input("image", kiln::f32, {1, 1, kiln::Dim::of(img.height), kiln::Dim::of(img.width)});
  kiln::HostTensor weights(kiln::f32, {kNumKernels, 1, 3, 3});
  for (int64_t k = 0; k < kNumKernels; ++k)
    for (int64_t i = 0; i < 9; ++i)
      weights.set(k * 9 + i, kKernels[k].k[i]);
  auto w = g.constant(weights, "kernels");
  auto y = kiln::conv(x, w, {.pad = {1, 1, 1, 1}}).named("filtered");
  auto apply = kiln::function({x}, {y});
  if (!apply)
    return fail(apply.error().message), 1;

  kiln::HostTensor image(kiln::f32, {1, 1, img.height, img.width});
  for (int64_t i = 0; i < img.width * img.height; ++i)
    image.set(i, img.pixels[static_cast<size_t>(i)]);
  auto out = (*apply)({image});
  if (!out)
    return fail(out.error().message), 1;
  const auto *filtered = reinterpret_cast<const float *>((*out)[0].data());

  if (!writeImages(outDir, "input", img.pixels.data(), img.width, img.height))
    return 1;
  double worst = 0;
  for (int64_t k = 0; k < kNumKernels; ++k) {
    const float *plane = filtered + k * img.width * img.height;
    if (!writeImages(outDir, kKernels[k].name, plane, img.width, img.height))
      return 1;
    if (!check)
      continue;
    for (int64_t py = 0; py < img.height; ++py)
      for (int64_t px = 0; px < img.width; ++px)
        worst = std::max(worst, std::abs(double(plane[py * img.width + px]) - handConv(img, kKernels[k].k, py, px)));
  }
  std::printf("wrote input.png and %lld kernels' results (%lldx%lld) to %s\n", static_cast<long long>(kNumKernels),
              static_cast<long long>(img.width), static_cast<long long>(img.height), outDir.c_str());
  if (check) {
    std::printf("largest difference from the hand loop: %g\n", worst);
    if (worst > 1e-3)
      return fail("kiln's conv and the hand loop disagree"), 1;
  }
  return 0;
}
